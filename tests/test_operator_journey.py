"""The operator's journey: the tree's README followed as an operator follows it, from
`copier copy` to `make template-update`, with tokmesh-go (the stand-in, its module in the
repository's src/ as tokmesh-go's is) cloned into the tree; and every command the README names either run here or
found in the tree (a Make target, a script) or mapped to the test that runs it."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT, SCENARIOS, require, scenario_answers
from runtime.fixtures_cache import go_env, standin_module
from template_versions import commit_all, conflicts, copier_copy, git
from tokmesh_answers import validate_answers

pytestmark = pytest.mark.integration

SOURCES_TAG = "v3.1.4"
RELEASED, NEXT_RELEASE = "v0.2.0", "v0.2.1"
JOURNEYS = {"defaults": {}, "linux-only": {"platforms": ["linux"]}}
# What v0.2.1 (made by the template_repo fixture) adds to the tree's README.
README_CHANGE_OF_V0_2_1 = "See the CHANGELOG of tokmesh-deploy for what changed."

# Commands the README names that are not this tree's own (Make targets and scripts are
# checked against the tree): where each is run, or why it cannot run here.
OUTSIDE_COMMANDS = {
    "git": "run here (init, add, commit, clone, status, diff --check; describe by make build)",
    "copier": "run here (make template-check/template-update; update --data in the default journey)",
    "systemctl": "reload and show run under systemd in tests/test_runtime_linux.py; status and edit are "
                 "systemd's own, not run",
    "journalctl": "run in tests/test_runtime_linux.py (the shutdown hooks' log lines)",
    "kubectl": "run against a real API server in tests/test_kubernetes_cluster.py (apply, canary, promote, "
               "undo, expand, delete, drain, delete namespace), the exact calls against a fake kubectl in "
               "tests/test_k8s_ops.py; create secret is the operator's own, not run",
    "docker": "`docker login` is the registry's, not run; make docker and make push run here with DOCKER=echo",
    "icacls": "Windows only, not run: the grants are read on the installer's syntax tree (tests/test_powershell_rules.py)",
    "sc.exe": "Windows only, not run: the SID it prints is derived as Windows does (tests/test_answers_model.py)",
    "Get-Service": "Windows only, not run (no PowerShell here)",
    "Get-Help": "Windows only, not run (no PowerShell here)",
    "go": "`go get golang.org/x/sys` needs the module proxy, not run; the glue's Windows build is vetted against a stand-in",
    "pip": "not run; its pins are checked against requirements.lock here",
}


def is_command(text: str) -> bool:
    first = text.removeprefix("sudo ").split(maxsplit=1)[0] if text.strip() else ""
    return first == "make" or first.startswith(("scripts/", "scripts\\")) or first in OUTSIDE_COMMANDS


def run(cwd: Path, command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                          check=False, stdin=subprocess.DEVNULL)


def succeed(cwd: Path, command: str, env: dict[str, str]) -> str:
    result = run(cwd, command, env)
    assert result.returncode == 0, f"`{command}` in {cwd} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def operator_env() -> dict[str, str]:
    """An operator's shell: Copier (installed as the README says) and the checkers on PATH,
    Go offline."""
    tools = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return go_env(PATH=tools, GIT_AUTHOR_NAME="operator", GIT_COMMITTER_NAME="operator",
                  GIT_AUTHOR_EMAIL="ops@example.com", GIT_COMMITTER_EMAIL="ops@example.com")


def shell_block(readme: str, heading: str) -> list[str]:
    """The command lines of the sh block under ``heading``, comments dropped."""
    section = readme.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, f"no sh block under '## {heading}'"
    return [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines() if line.strip()]


def readme_commands(readme: str) -> list[str]:
    """Every command the README names: lines of its sh blocks and code spans that start
    with a command."""
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
    lines = [line.split("  #", 1)[0].strip() for block in blocks for line in block.splitlines()]
    spans = re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", readme, flags=re.S))
    return [c for c in lines + spans if is_command(c)]


@pytest.fixture(scope="module")
def tokmesh_go(tmp_path_factory, render: Callable[..., Path]) -> Path:
    """tokmesh-go as the operator clones it: a git repository tagged v3.1.4 with the
    stand-in as its Go module in src/, as tokmesh-go's own layout is."""
    require(subprocess.run(["which", "go"], capture_output=True).returncode == 0, "go is not installed")
    require(subprocess.run(["which", "protoc"], capture_output=True).returncode == 0, "protoc is not installed")
    repo = tmp_path_factory.mktemp("tokmesh-go") / "tokmesh-go"
    standin_module(render({"platforms": ["linux"]}), repo / "src")
    env = operator_env()
    succeed(repo, f"git init -q && git add -A && git commit -q -m tokmesh-go && git tag {SOURCES_TAG}", env)
    return repo


@pytest.mark.parametrize("journey", JOURNEYS)
def test_the_readme_followed_from_copy_to_template_update(journey, template_repo, tokmesh_go, tmp_path,
                                                          figure) -> None:
    env = operator_env()
    tree = copier_copy(template_repo, tmp_path / "my-deploy", RELEASED, JOURNEYS[journey])
    answers = validate_answers(yaml.safe_load((tree / ".copier-answers.yml").read_text()))
    readme = (tree / "README.md").read_text()

    # Getting started, line by line, with the stand-in's repository as <tokmesh-go>.
    getting_started = shell_block(readme, "Getting started")
    assert any(line.startswith(f"git clone <tokmesh-go> {answers.source_checkout}") for line in getting_started)
    for line in getting_started:
        succeed(tree, line.replace("<tokmesh-go>", shlex.quote(str(tokmesh_go))), env)
    assert git(tree, "status", "--porcelain") == "", "building left the tree unclean"

    # The binaries carry the clone's version, not this tree's.
    assert f"-X main.version={SOURCES_TAG} " in succeed(tree, "make -n build", env)
    assert SOURCES_TAG.encode() in (tree / "bin" / answers.service_name).read_bytes()
    if answers.image_build:
        pushed = succeed(tree, "make docker push DOCKER=echo", env)
        assert f"--build-arg VERSION={SOURCES_TAG}" in pushed
        assert f"push {answers.image_repository}:{SOURCES_TAG}" in pushed
        # Only the tag asked for: the one the manifests pull (image_tag) stays where it was.
        assert f"{answers.image_repository}:{answers.image_tag}" not in pushed

    # The operator's own edits, committed, then the next release of the template.
    config = tree / "configs/server/config.yaml"
    config.write_text(config.read_text() + "# operator: tuned for the edge cluster\n")
    (tree / "ops").mkdir()
    (tree / "ops/runbook.md").write_text("Page the on-call.\n")
    succeed(tree, "git add -A && git commit -q -m 'operator edits'", env)

    assert "New template version available" in succeed(tree, "make template-check", env)
    succeed(tree, "make template-update", env)
    assert conflicts(tree) == []
    succeed(tree, "git diff --check", env)
    assert yaml.safe_load((tree / ".copier-answers.yml").read_text())["_commit"] == NEXT_RELEASE
    assert README_CHANGE_OF_V0_2_1 in (tree / "README.md").read_text()
    assert config.read_text().endswith("# operator: tuned for the edge cluster\n")
    assert (tree / "ops/runbook.md").read_text() == "Page the on-call.\n"
    changed = sorted(line[3:] for line in git(tree, "status", "--porcelain").splitlines())
    assert changed == [".copier-answers.yml", "README.md"]
    commit_all(tree, f"tokmesh-deploy {NEXT_RELEASE}")

    if answers.kubernetes:  # recording a rolled-out tag, as the Kubernetes section says
        record = next(c for c in readme_commands(readme) if "image_tag=x.y.z" in c)
        succeed(tree, record.replace("x.y.z", "3.1.4"), env)
        assert f"image: {answers.image_repository}:3.1.4" in (
            tree / "deployments/kubernetes/statefulset.yaml").read_text()

    # Without a repository of its own, the clone is stamped with the image tag, not this tree's commit.
    succeed(tree, f"rm -rf {answers.source_checkout}/.git", env)
    dry_build = succeed(tree, "make -n build", env)
    image_tag = yaml.safe_load((tree / ".copier-answers.yml").read_text()).get("image_tag", answers.image_tag)
    assert f"-X main.version={image_tag} " in dry_build
    figure(f"operator journey ({journey})", f"{len(getting_started)} getting-started steps run, "
                                            f"built {SOURCES_TAG}, updated {RELEASED} -> {NEXT_RELEASE} clean")


def test_the_copier_targets_say_what_to_install_when_copier_is_missing(render_scenario) -> None:
    tree = render_scenario("defaults")
    answers = validate_answers(scenario_answers("defaults"))
    result = run(tree, "make template-check", {**os.environ, "PATH": "/usr/bin:/bin"})
    assert result.returncode != 0
    assert f"copier not found: {answers.copier_install_command}" in result.stderr


def test_the_install_command_pins_what_requirements_lock_pins() -> None:
    locked = set((REPO_ROOT / "requirements.lock").read_text().split())
    command = validate_answers({}).copier_install_command.split()
    assert command[:2] == ["pip", "install"]
    assert {"copier", "copier-template-extensions", "pydantic"} == {pin.split("==")[0] for pin in command[2:]}
    assert set(command[2:]) <= locked
    assert " ".join(command) in (REPO_ROOT / "README.md").read_text()  # the README's install line


@pytest.mark.parametrize("scenario", [*SCENARIOS, "server-glue"])
def test_every_command_the_readme_names_is_a_target_a_script_or_covered(scenario, render) -> None:
    answers = {"server_glue": True} if scenario == "server-glue" else scenario_answers(scenario)
    tree = render(answers)
    commands = readme_commands((tree / "README.md").read_text())
    assert commands, "the README names no command"
    uncovered = []
    for command in commands:
        words = command.removeprefix("sudo ").split()
        if words[0] == "make":
            targets = [w for w in words[1:] if "=" not in w]
            result = run(tree, f"make -n {' '.join(targets)}", dict(os.environ))
            if result.returncode != 0:
                uncovered.append(f"{command}: {result.stderr.strip()}")
        elif words[0].startswith("scripts"):
            script = tree / words[0].replace("\\", "/")
            if "<" in str(script):
                script = next(tree.glob(words[0].replace("\\", "/").replace("<script>", "*")), script)
            if not script.is_file() or (script.suffix == ".sh" and not os.access(script, os.X_OK)):
                uncovered.append(f"{command}: no such script in the tree")
    assert uncovered == []
