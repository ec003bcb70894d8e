"""The rendered tree: the right files for the chosen platforms, and nothing else."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from conftest import scenario_answers
from tokmesh_answers import PLATFORMS, validate_answers

FILES_OF_EVERY_TREE = {
    ".copier-answers.yml",
    ".gitignore",
    ".yamllint.yaml",
    "Makefile",
    "README.md",
    "scripts/verify.sh",
}
FILES_OF_PLATFORM = {
    "linux": {
        "configs/server/config.yaml",
        "deployments/linux/{service_name}.service",
        "scripts/install-linux.sh",
        "scripts/uninstall-linux.sh",
        "scripts/upgrade-linux.sh",
        "scripts/backup-linux.sh",
        "scripts/restore-linux.sh",
    },
    "windows": {"configs/windows/config.yaml",
                *(f"scripts/{op}-windows.ps1" for op in ("install", "uninstall", "upgrade", "backup", "restore"))},
    "docker": {"Dockerfile", ".dockerignore", "configs/container/config.yaml", "deployments/docker/docker-compose.yaml",
               "scripts/compose-ops.sh"},
    "kubernetes": {
        "Dockerfile",
        ".dockerignore",
        "configs/container/config.yaml",
        *(
            f"deployments/kubernetes/{name}.yaml"
            for name in (
                "namespace",
                "serviceaccount",
                "configmap",
                "service",
                "statefulset",
                "poddisruptionbudget",
                "networkpolicy",
                "kustomization",
            )
        ),
        "scripts/k8s-ops.sh",
    },
}


# Rendered with server_glue, on every platform: a drop-in for tokmesh-go's shutdown package.
FILES_OF_SERVER_GLUE = {
    "server-glue/internal/infra/shutdown/shutdown.go",
    "server-glue/internal/infra/shutdown/service_windows.go",
    "server-glue/internal/infra/shutdown/handler_test.go",
    "server-glue/internal/infra/shutdown/signal_test.go",
    "server-glue/internal/infra/servicecontrol/servicecontrol.go",
    "server-glue/internal/infra/servicecontrol/servicecontrol_test.go",
    "server-glue/internal/infra/servicelog/servicelog.go",
    "server-glue/internal/infra/servicelog/servicelog_test.go",
    "server-glue/internal/infra/servicelog/stdhandles_windows.go",
    "server-glue/internal/infra/servicelog/stdhandles_other.go",
}


def files_of(tree: Path) -> dict[str, str]:
    """Each file's path (with its mode) and text; the template's temporary
    location, recorded in the answers file, reads as <template>."""
    answers = yaml.safe_load((tree / ".copier-answers.yml").read_text())
    return {
        f"{p.relative_to(tree)} ({stat.S_IMODE(p.stat().st_mode):04o})":
            p.read_text().replace(answers["_src_path"], "<template>")
        for p in sorted(tree.rglob("*"))
        if p.is_file()
    }


def test_whole_tree_matches_its_snapshot(scenario: str, tree: Path, snapshot) -> None:
    assert files_of(tree) == snapshot


def test_tree_holds_the_files_of_the_chosen_platforms_and_no_other(scenario: str, tree: Path) -> None:
    answers = validate_answers(scenario_answers(scenario))
    expected = set(FILES_OF_EVERY_TREE)
    for platform in answers.platforms:
        expected |= {f.format(service_name=answers.service_name) for f in FILES_OF_PLATFORM[platform]}
    if answers.server_glue:
        expected |= FILES_OF_SERVER_GLUE
    if answers.kubernetes and answers.cert_manager:
        expected.add("deployments/kubernetes/certificate.yaml")
    actual = {str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file()}
    assert actual == expected


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_single_platform_leaves_no_file_of_the_others(platform: str, render) -> None:
    tree = render({"platforms": [platform]})
    others = set().union(*(FILES_OF_PLATFORM[p] for p in PLATFORMS if p != platform))
    others -= FILES_OF_PLATFORM[platform]
    present = {f for f in others if (tree / f.format(service_name="tokmesh-server")).exists()}
    assert present == set()
    readme = (tree / "README.md").read_text()
    headings = {"linux": "## Linux", "windows": "## Windows", "docker": "## Docker Compose",
                "kubernetes": "## Kubernetes"}
    assert [p for p, h in headings.items() if h in readme] == [platform]


def test_answers_file_records_the_answers(scenario: str, tree: Path) -> None:
    recorded = yaml.safe_load((tree / ".copier-answers.yml").read_text())
    for name, value in scenario_answers(scenario).items():
        assert recorded[name] == value


def test_makefile_has_targets_only_for_chosen_platforms(scenario: str, tree: Path) -> None:
    makefile = (tree / "Makefile").read_text()
    answers = validate_answers(scenario_answers(scenario))
    targets = {line.split(":")[0] for line in makefile.splitlines() if "## " in line and ":" in line}
    assert {"help", "build", "test", "clean", "verify", "template-check", "template-update"} <= targets
    assert ("install" in targets) == answers.linux
    assert {"upgrade", "rollback", "backup", "restore"} <= targets if answers.linux else not (
        {"upgrade", "rollback", "backup", "restore"} & targets)
    assert ("build-windows" in targets) == answers.windows
    assert ("docker" in targets) == answers.image_build
    assert ("compose-up" in targets) == answers.docker
    assert ("compose-upgrade" in targets) == ("compose-restore" in targets) == answers.docker
    assert ("k8s-apply" in targets) == answers.kubernetes
    assert {"k8s-canary", "k8s-promote", "k8s-undo", "k8s-snapshot", "k8s-copy"} <= targets if answers.kubernetes \
        else not any(t.startswith("k8s-") for t in targets)
