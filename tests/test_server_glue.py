"""The server glue (answer server_glue): Go files rendered into server-glue/ that drop in
over tokmesh-go's own internal/infra/shutdown (same API: NewHandler, OnShutdown, Wait,
Done), adding the Windows Service Control Manager, so the server's main.go needs no
change. The glue is laid over the stand-in (a module laid out, and named, like
tokmesh-go, with its own shutdown package and a main.go that calls it as tokmesh-go's
does) as `make glue` lays it over src/; then the module must build and vet for Linux and
Windows (against the real golang.org/x/sys, from the module cache) and the glue's own
Go tests pass under the race detector, offline."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import SCENARIOS, require, scenario_answers
from runtime.fixtures_cache import STANDIN_SRC, generate, go_env, standin_module
from tokmesh_answers import validate_answers

pytestmark = pytest.mark.integration

GLUE_SCENARIOS = [name for name in SCENARIOS if scenario_answers(name).get("server_glue")]
SHUTDOWN = "internal/infra/shutdown"
SERVICECONTROL = "internal/infra/servicecontrol"
SERVICELOG = "internal/infra/servicelog"
WINDOWS_ADAPTER = f"{SHUTDOWN}/service_windows.go"
# The SCM adapter's import; tokmesh-go's go.mod (and so the stand-in's) requires it.
X_SYS = "golang.org/x/sys"
# tokmesh-go's shutdown API, which main.go calls: the glue must declare exactly this.
REAL_API = {
    "func NewHandler(timeout time.Duration) *Handler",
    "func (h *Handler) OnShutdown(hook func(context.Context) error)",
    "func (h *Handler) Wait() error",
    "func (h *Handler) Done() <-chan struct{}",
}


def go(module: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["go", *args], cwd=module, env=go_env(**env), capture_output=True, text=True,
                          check=False)


def glue_over_standin(tree: Path, dest: Path) -> Path:
    """The stand-in with the rendered glue copied over it, as `make glue` does, and its
    protobuf code generated, as `make build` does first."""
    require(shutil.which("go") is not None and shutil.which("protoc") is not None, "Go and protoc are needed")
    module = standin_module(tree, dest)
    generate(module)
    return module


@pytest.fixture(params=GLUE_SCENARIOS)
def glue(request, render_scenario, tmp_path: Path) -> tuple[Path, object, Path]:
    """(tree, answers, module): the scenario's tree and the stand-in with its glue."""
    tree = render_scenario(request.param)
    return tree, validate_answers(scenario_answers(request.param)), glue_over_standin(tree, tmp_path / "src")


def glue_files(tree: Path) -> set[str]:
    root = tree / "server-glue"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_scenarios_with_the_glue_cover_two_services() -> None:
    assert {validate_answers(scenario_answers(n)).service_name for n in GLUE_SCENARIOS} == {
        "tokmesh-server", "cache-edge"}


def test_glue_is_rendered_only_on_request(render_scenario) -> None:
    assert not (render_scenario("defaults") / "server-glue").exists()


def test_glue_touches_only_the_shutdown_package_its_state_machine_and_log(render_scenario) -> None:
    """main.go (cmd/) is left alone: nothing of the glue goes there."""
    files = glue_files(render_scenario(GLUE_SCENARIOS[0]))
    assert {str(Path(f).parent) for f in files} == {SHUTDOWN, SERVICECONTROL, SERVICELOG}
    assert f"{SHUTDOWN}/shutdown.go" in files and WINDOWS_ADAPTER in files


def test_glue_declares_tokmesh_go_s_shutdown_api(render_scenario) -> None:
    source = (render_scenario(GLUE_SCENARIOS[0]) / "server-glue" / SHUTDOWN / "shutdown.go").read_text()
    exported = set(re.findall(r"^func (?:\(\w+ \*?[A-Z]\w*\) )?[A-Z].*?(?= \{$)", source, re.M))
    assert exported == REAL_API
    assert set(re.findall(r"^type ([A-Z]\w*)", source, re.M)) == {"Handler"}
    # The fields tokmesh-go's own tests of the package reach into keep their names.
    assert re.search(r"type Handler struct \{\n\ttimeout time.Duration\s.*\n\thooks \s*\[\]func\(context.Context\) error"
                     r"\s.*\n\tmu \s*sync.Mutex\s.*\n\tdone \s*chan struct\{\}", source)


def test_glue_agrees_with_the_answers(glue) -> None:
    tree, answers, _ = glue
    adapter = (tree / "server-glue" / WINDOWS_ADAPTER).read_text()
    assert f'serviceName = "{answers.service_name}"' in adapter
    assert f"startWaitHint = {answers.startup_budget_seconds} * time.Second" in adapter
    assert f"stopMargin = {answers.stop_grace_margin_seconds} * time.Second" in adapter
    assert f"restartDelay = {answers.restart_delay_seconds} * time.Second" in adapter
    # The log lands where install-windows.ps1 grants the service Modify and its messages point.
    assert re.search(rf"logFile += `{re.escape(answers.windows_log_file)}`", adapter)
    assert answers.windows_log_file.startswith(answers.windows_log_dir + "\\")
    if answers.windows:
        install = (tree / "scripts/install-windows.ps1").read_text()
        assert f"$LogDir = '{answers.windows_log_dir}'" in install
        assert "Invoke-Native icacls.exe @($LogDir, '/grant:r', \"${ServiceSid}:(OI)(CI)M\")" in install
    assert f"logMaxBytes    = {answers.windows_log_max_bytes}" in adapter
    assert f"logGenerations = {answers.windows_log_generations}" in adapter
    imports = set(re.findall(r'"([\w./-]+/internal/infra/\w+)"', adapter))
    assert imports == {f"{answers.go_module}/{SERVICECONTROL}", f"{answers.go_module}/{SERVICELOG}"}
    assert f'"{X_SYS}/windows/svc"' in adapter


def test_glue_replaces_the_stand_in_s_shutdown_package(glue) -> None:
    tree, _, module = glue
    for name in glue_files(tree):
        assert (module / name).read_bytes() == (tree / "server-glue" / name).read_bytes(), name
    assert (module / "cmd/tokmesh-server/main.go").read_bytes() == (
        STANDIN_SRC / "cmd/tokmesh-server/main.go").read_bytes()


def test_gofmt_has_nothing_to_change(glue) -> None:
    _, _, module = glue
    listed = subprocess.run(["gofmt", "-e", "-l", SHUTDOWN, SERVICECONTROL, SERVICELOG], cwd=module, capture_output=True,
                            text=True, check=False)
    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "", "")


@pytest.mark.parametrize(("goos", "goarch"), [("linux", "amd64"), ("windows", "amd64"), ("windows", "arm64")])
def test_the_module_vets_and_the_server_builds(glue, goos: str, goarch: str, tmp_path: Path) -> None:
    _, _, module = glue
    vet = go(module, "vet", "./...", GOOS=goos, GOARCH=goarch, CGO_ENABLED="0")
    assert vet.returncode == 0, vet.stderr
    build = go(module, "build", "-o", str(tmp_path / "server"), "./cmd/tokmesh-server", GOOS=goos,
               GOARCH=goarch, CGO_ENABLED="0")
    assert build.returncode == 0, build.stderr
    symbols = go(module, "tool", "nm", str(tmp_path / "server"))
    adapter_linked = "windows/svc.Run" in symbols.stdout
    assert adapter_linked == (goos == "windows"), "the SCM adapter is linked on Windows only"
    handles_linked = "windows.SetStdHandle" in symbols.stdout
    assert handles_linked == (goos == "windows"), "the log takes the standard handles on Windows only"


def test_go_tests_pass_under_the_race_detector(glue, figure) -> None:
    _, answers, module = glue
    result = go(module, "test", "-race", "-count=1", "-v", f"./{SHUTDOWN}/", f"./{SERVICECONTROL}/", f"./{SERVICELOG}/")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    passed = re.findall(r"^\s*--- PASS: (\S+)", result.stdout, re.M)
    figure(f"server glue go test -race [{answers.service_name}]", f"{len(passed)} passed")
    assert not re.search(r"^\s*--- (FAIL|SKIP)", result.stdout, re.M)
    for covered in ("TestGlueManagerStopRunsTheHooksInReverseOrder", "TestGlueHooksShareOneDeadlineTimeoutAfterTheStop",
                    "TestGlueASecondSignalWhileTheHooksRunIsIgnored", "TestGlueDoneClosesAfterTheHooksAndTheManagerWasTold",
                    "TestStopShutdownAndPreShutdownStopARunningService/system_preshutdown",
                    "TestInterrogateRepeatsTheCurrentStatusInEveryState", "TestAStopTheManagerDidNotAskForExitsNonZero",
                    "TestServiceStopAskedByTheSCM/system_preshutdown", "TestServiceStoppedByASignalExitsNonZero",
                    "TestExitCodesAsTheSCMReadsThem",
                    "TestALogAtTheLimitIsRotatedKeepingGenerations", "TestABelowTheLimitLogIsAppendedTo",
                    "TestRedirectSendsStdoutStderrAndTheLoggerToTheFile"):
        assert covered in passed


# A broken glue that its Go tests must catch: (file, what, into what, a test that fails).
MUTANTS = {
    "hooks in registration order": (f"{SHUTDOWN}/shutdown.go", "for i := len(hooks) - 1; i >= 0; i--",
                                    "for i := 0; i < len(hooks); i++", "TestGlueManagerStopRunsTheHooksInReverseOrder"),
    "a signal's stop reported clean": (f"{SERVICECONTROL}/servicecontrol.go", "code := ExitFailed",
                                       "code := ExitClean", "TestAStopTheManagerDidNotAskForExitsNonZero"),
    "preshutdown not taken": (f"{SERVICECONTROL}/servicecontrol.go", "case Stop, Shutdown, PreShutdown:",
                              "case Stop, Shutdown:", "TestStopShutdownAndPreShutdownStopARunningService"),
    "preshutdown not accepted": (f"{SERVICECONTROL}/servicecontrol.go",
                                 "const AcceptStopping = AcceptStop | AcceptShutdown | AcceptPreShutdown",
                                 "const AcceptStopping = AcceptStop | AcceptShutdown",
                                 "TestStartedReportsRunningAcceptingEveryStop"),
    # The rule: a stop the SCM asked for ends with 0, so recovery leaves it stopped.
    "an asked stop reported as a failure": (f"{SERVICECONTROL}/servicecontrol.go", "\tif m.asked {\n\t\tcode = ExitClean",
                                            "\tif false {\n\t\tcode = ExitClean", "TestServiceStopAskedByTheSCM"),
    "a clean exit code the SCM reads as a failure": (f"{SERVICECONTROL}/servicecontrol.go", "ExitClean  uint32 = 0",
                                                     "ExitClean  uint32 = 2", "TestExitCodesAsTheSCMReadsThem"),
    "log never rotated": (f"{SERVICELOG}/servicelog.go", "if info.Size() < maxBytes {", "if info.Size() >= 0 {",
                          "TestALogAtTheLimitIsRotatedKeepingGenerations"),
    "log generations not shifted": (f"{SERVICELOG}/servicelog.go", "for n := generations - 1; n >= 1; n-- {",
                                    "for n := generations - 1; n > generations; n-- {",
                                    "TestALogAtTheLimitIsRotatedKeepingGenerations"),
    "log truncated at start": (f"{SERVICELOG}/servicelog.go", "os.O_WRONLY|os.O_CREATE|os.O_APPEND",
                               "os.O_WRONLY|os.O_CREATE|os.O_TRUNC", "TestABelowTheLimitLogIsAppendedTo"),
    "stderr not redirected": (f"{SERVICELOG}/servicelog.go", "\tos.Stderr = f\n", "\n",
                              "TestRedirectSendsStdoutStderrAndTheLoggerToTheFile"),
}


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_go_tests_catch_a_broken_glue(mutant: str, render_scenario, tmp_path: Path) -> None:
    path, old, new, catcher = MUTANTS[mutant]
    module = glue_over_standin(render_scenario(GLUE_SCENARIOS[0]), tmp_path / "src")
    source = module / path
    assert old in source.read_text()
    source.write_text(source.read_text().replace(old, new))
    result = go(module, "test", "-count=1", f"./{Path(path).parent}/")
    assert result.returncode != 0
    assert f"--- FAIL: {catcher}" in result.stdout
