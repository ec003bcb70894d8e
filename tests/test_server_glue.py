"""The server glue (answer server_glue): Go files rendered into server-glue/ at the spec's
paths (inside tokmesh-go), agreeing with the answers, formatted, vetted and tested with Debian's Go,
offline, in a module named like tokmesh-go's with the stand-in's main.go (which
calls the glue as the tree's README tells tokmesh-go's main.go to)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import SCENARIOS, require, scenario_answers
from runtime.fixtures_cache import go_env, standin_module
from tokmesh_answers import validate_answers

pytestmark = pytest.mark.integration

SVC_STAND_IN = Path(__file__).parent / "go_stubs" / "x-sys"
WINDOWS_ADAPTER = "cmd/tokmesh-server/service_windows.go"
GLUE_SCENARIOS = [name for name in SCENARIOS if scenario_answers(name).get("server_glue")]


def go(module: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["go", *args], cwd=module, env=go_env(**env), capture_output=True, text=True,
                          check=False)


@pytest.fixture(params=GLUE_SCENARIOS)
def glue(request, render_scenario, tmp_path: Path) -> tuple[Path, object, Path]:
    """(tree, answers, module): the scenario's tree and the Go module built from it."""
    require(shutil.which("go") is not None, "Go is not installed (Debian's golang-go)")
    tree = render_scenario(request.param)
    return tree, validate_answers(scenario_answers(request.param)), standin_module(tree, tmp_path / "src")


def test_scenarios_with_the_glue_cover_two_services() -> None:
    assert {validate_answers(scenario_answers(n)).service_name for n in GLUE_SCENARIOS} == {
        "tokmesh-server", "cache-edge"}


def test_glue_is_rendered_only_on_request(render_scenario) -> None:
    assert not (render_scenario("defaults") / "server-glue").exists()


def test_glue_agrees_with_the_answers(glue) -> None:
    tree, answers, _ = glue
    adapter = (tree / "server-glue" / WINDOWS_ADAPTER).read_text()
    shutdown = (tree / "server-glue/internal/infra/shutdown/shutdown.go").read_text()
    assert f'serviceName = "{answers.service_name}"' in adapter
    assert f"stopWaitHint = {answers.stop_grace_seconds} * time.Second" in adapter
    assert f"restartDelay = {answers.restart_delay_seconds} * time.Second" in adapter
    assert f"const DefaultTimeout = {answers.shutdown_timeout_seconds} * time.Second" in shutdown
    imports = set(re.findall(r'"([\w./-]+/internal/infra/\w+)"', adapter))
    assert imports == {f"{answers.go_module}/internal/infra/{p}" for p in ("servicecontrol", "shutdown")}


def test_gofmt_has_nothing_to_change(glue) -> None:
    _, _, module = glue
    listed = subprocess.run(["gofmt", "-l", "."], cwd=module, capture_output=True, text=True, check=False)
    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "", "")
    # The Windows adapter is also parsed on its own: its build tag keeps Linux tools away.
    parsed = subprocess.run(["gofmt", "-e", "-l", WINDOWS_ADAPTER], cwd=module, capture_output=True, text=True,
                            check=False)
    assert (parsed.returncode, parsed.stdout, parsed.stderr) == (0, "", "")


def test_go_vet_passes_and_the_stand_in_builds(glue, tmp_path: Path) -> None:
    _, _, module = glue
    vet = go(module, "vet", "./...")
    assert vet.returncode == 0, vet.stderr
    build = go(module, "build", "-o", str(tmp_path / "server"), "./cmd/tokmesh-server", CGO_ENABLED="0")
    assert build.returncode == 0, build.stderr


def test_windows_adapter_type_checks_against_the_svc_stand_in(glue) -> None:
    """golang.org/x/sys/windows cannot be had here: the adapter is vetted for GOOS=windows
    against a stand-in that declares the svc API it uses (tests/go_stubs)."""
    _, _, module = glue
    with (module / "go.mod").open("a") as go_mod:
        go_mod.write(f"\nrequire golang.org/x/sys v0.0.0\n\nreplace golang.org/x/sys => {SVC_STAND_IN}\n")
    vet = go(module, "vet", "./...", GOOS="windows", CGO_ENABLED="0")
    assert vet.returncode == 0, vet.stderr


def test_go_tests_pass_under_the_race_detector(glue, figure) -> None:
    _, answers, module = glue
    result = go(module, "test", "-race", "-count=1", "-v", "./internal/...")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    passed = re.findall(r"^\s*--- PASS: (\S+)", result.stdout, re.M)
    figure(f"server glue go test -race [{answers.service_name}]", f"{len(passed)} passed")
    assert not re.search(r"^\s*--- (FAIL|SKIP)", result.stdout, re.M)
    assert len(passed) >= 15


def test_go_tests_catch_a_shutdown_that_hides_a_cut_off_hook(render_scenario, tmp_path: Path) -> None:
    require(shutil.which("go") is not None, "Go is not installed (Debian's golang-go)")
    module = standin_module(render_scenario(GLUE_SCENARIOS[0]), tmp_path / "src")
    source = module / "internal/infra/shutdown/shutdown.go"
    text = source.read_text()
    assert "CutOff: true}" in text
    source.write_text(text.replace("CutOff: true}", "CutOff: false}"))
    result = go(module, "test", "-count=1", "./internal/infra/shutdown/")
    assert result.returncode != 0
    assert "TestHookPastTheDeadlineIsCutOffAndNamed" in result.stdout
