"""The template as a git repository of releases, and trees copied from it as operators
copy them: what the update tests and the operator's journey start from."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT

# The template as first released, v0.1.0, is this repository's first commit; v0.1.1 is
# the last commit that asked every question (before the customise question); the working
# tree is v0.2.0; v0.2.1 is a later patch release made by the fixture.
FIRST_RELEASE_COMMIT = "b1b787066c3232c0ea6635e7e6e422b929abc2b9"
EVERY_QUESTION_ASKED_COMMIT = "4bbd8b9208ff12ffeebbd577ea22e262ffae59d0"
TEMPLATE_PATHS = ("copier.yml", "template", "extensions")
MIGRATION_BANNER = "tokmesh-deploy migration: "
GLUE_DIR = "{% if tm.server_glue %}server-glue{% endif %}"
GLUE_CHANGE_OF_V0_2_1 = "\n// See the CHANGELOG of tokmesh-deploy for what changed.\n"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def commit_all(cwd: Path, message: str) -> None:
    git(cwd, "add", "-A")
    git(cwd, "commit", "-q", "-m", message)


@pytest.fixture(scope="session")
def template_repo(tmp_path_factory, default_gitconfig) -> Path:
    """A git repository of the template, tagged v0.1.0, v0.1.1, v0.2.0 and v0.2.1."""
    repo = tmp_path_factory.mktemp("template-repo")
    git(repo, "init", "-q")
    for tag, commit in (("v0.1.0", FIRST_RELEASE_COMMIT), ("v0.1.1", EVERY_QUESTION_ASKED_COMMIT)):
        archive = subprocess.run(["git", "archive", commit, *TEMPLATE_PATHS], cwd=REPO_ROOT,
                                 capture_output=True, check=False)
        assert archive.returncode == 0, (
            f"{tag} is commit {commit} of this repository's history, which this clone "
            f"lacks (a shallow clone?): {archive.stderr.decode()}"
        )
        for folder in ("template", "extensions"):  # what a later release deletes must go
            shutil.rmtree(repo / folder, ignore_errors=True)
        subprocess.run(["tar", "-x", "-C", str(repo)], input=archive.stdout, check=True)
        commit_all(repo, tag)
        git(repo, "tag", tag)
    for path in TEMPLATE_PATHS:
        target = repo / path
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    copy_template(repo)
    commit_all(repo, "v0.2.0")
    git(repo, "tag", "v0.2.0")
    readme = repo / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nSee the CHANGELOG of tokmesh-deploy for what changed.\n")
    shutdown_go = repo / "template" / GLUE_DIR / "internal/infra/shutdown/shutdown.go.jinja"
    shutdown_go.write_text(shutdown_go.read_text() + GLUE_CHANGE_OF_V0_2_1)
    commit_all(repo, "v0.2.1")
    git(repo, "tag", "v0.2.1")
    return repo


def copy_template(dest: Path) -> Path:
    """The template as this working tree holds it (what Copier reads of it), into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in TEMPLATE_PATHS:
        source = REPO_ROOT / path
        if source.is_dir():
            shutil.copytree(source, dest / path, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / path)
    return dest


def copy_project(template_repo: Path, dst: Path, version: str, answers: dict) -> Path:
    """A tree copied from ``version`` and committed to a git repository of its own."""
    copier_copy(template_repo, dst, version, answers)
    git(dst, "init", "-q")
    commit_all(dst, f"tokmesh-deploy {version}")
    return dst


def copier_copy(template_repo: Path, dst: Path, version: str, answers: dict) -> Path:
    """copier copy in a process of its own, as an operator runs it: v0.1.0's extension
    imports its answers model by name, and this test process already holds v0.2's."""
    data_file = dst.with_name(f"{dst.name}-answers.yml")
    data_file.write_text(yaml.safe_dump(answers))
    result = subprocess.run(
        [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--quiet", "--vcs-ref", version,
         "--data-file", str(data_file), str(template_repo), str(dst)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    return dst


def update(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """copier update as an operator runs it; Copier exits 0 even with conflicts."""
    result = subprocess.run(
        [sys.executable, "-m", "copier", "update", "--trust", "--defaults", *args],
        cwd=project, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def conflicts(project: Path) -> list[str]:
    """What Copier leaves behind when an edit and a template change overlap."""
    found = [str(p.relative_to(project)) for p in project.rglob("*.rej")]
    for path in project.rglob("*"):
        if path.is_file() and ".git" not in path.parts and "<<<<<<< " in path.read_text(errors="replace"):
            found.append(f"{path.relative_to(project)}: conflict markers")
    return found + git(project, "ls-files", "-u").splitlines()
