"""copier update: template changes arrive, the operator's edits survive, conflicts are
found, answers change cleanly, platforms come and go, and the migration runs once."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import SCENARIOS, scenario_answers
from template_versions import GLUE_CHANGE_OF_V0_2_1, MIGRATION_BANNER, commit_all, conflicts, copy_project, git, update


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def operator_edits(project: Path, answers) -> list[tuple[Path, str]]:
    """An operator's own changes, and the text each leaves."""
    # Not the server config: v0.2.0 rewrote it whole in tokmesh-go's schema (the server never
    # read v0.1's keys), so an edit there conflicts, as test_an_edited_config_from_before_the_real_schema_conflicts shows.
    edits = []
    own = project / "ops/runbook.md"
    own.parent.mkdir()
    own.write_text("# Runbook\nPage the on-call.\n")
    edits.append((own, "Page the on-call."))
    if answers.linux:
        unit = project / f"deployments/linux/{answers.unit_name}"
        _edit(unit, "[Install]\n", "# operator: reviewed by the platform team\n[Install]\n")
        edits.append((unit, "# operator: reviewed by the platform team"))
    if answers.kubernetes:
        sts = project / "deployments/kubernetes/statefulset.yaml"
        _edit(sts, "      serviceAccountName:", "      priorityClassName: tokmesh-critical\n      serviceAccountName:")
        edits.append((sts, "priorityClassName: tokmesh-critical"))
    return edits


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_update_brings_template_changes_and_keeps_operator_edits(template_repo, tmp_path, scenario) -> None:
    from tokmesh_answers import validate_answers

    answers = scenario_answers(scenario)
    old_answers = {("shutdown_timeout" if k == "shutdown_timeout_seconds" else k): v for k, v in answers.items()}
    model = validate_answers(answers)
    project = copy_project(template_repo, tmp_path / "deploy", "v0.1.0", old_answers)
    assert not (project / ".yamllint.yaml").exists()
    edits = operator_edits(project, model)
    commit_all(project, "operator edits")

    update(project)

    assert conflicts(project) == []
    for path, text in edits:
        assert text in path.read_text(), f"the operator's edit to {path.name} was lost"
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert recorded["_commit"] == "v0.2.1"
    assert "shutdown_timeout" not in recorded
    assert recorded["shutdown_timeout_seconds"] == model.shutdown_timeout_seconds
    # template changes of v0.2.0 and v0.2.1 arrived
    assert (project / ".yamllint.yaml").exists()
    assert "See the CHANGELOG of tokmesh-deploy" in (project / "README.md").read_text()
    if model.docker:
        assert f"{model.run_dir}:mode=1777" in (project / "deployments/docker/docker-compose.yaml").read_text()
    if model.kubernetes and model.storage_class:
        assert f'storageClassName: "{model.storage_class}"' in (
            project / "deployments/kubernetes/statefulset.yaml").read_text()


def test_overlapping_edit_ends_in_a_conflict_the_test_finds(template_repo, tmp_path, figure) -> None:
    project = copy_project(template_repo, tmp_path / "deploy", "v0.1.0", {"platforms": ["docker"]})
    compose = project / "deployments/docker/docker-compose.yaml"
    _edit(compose, "uid=10001,gid=10001,mode=0750", "uid=10001,gid=10001,mode=0700")
    commit_all(project, "operator tightens the run dir")
    update(project)
    found = conflicts(project)
    figure("update conflict found (overlapping edit)", found)
    assert found and any("docker-compose.yaml" in line for line in found)


def _tree_text(project: Path) -> dict[str, list[str]]:
    return {
        str(p.relative_to(project)): p.read_text().splitlines()
        for p in sorted(project.rglob("*")) if p.is_file() and ".git" not in p.parts
    }


def test_changing_one_answer_changes_that_port_everywhere_and_nothing_else(template_repo, tmp_path) -> None:
    project = copy_project(template_repo, tmp_path / "deploy", "v0.2.1", {})
    before = _tree_text(project)
    update(project, "--data", "http_port=6080")
    after = _tree_text(project)
    assert conflicts(project) == []
    assert before.keys() == after.keys()
    changed_files = set()
    for name in before:
        removed = [line for line in before[name] if line not in after[name]]
        added = [line for line in after[name] if line not in before[name]]
        if not (removed or added):
            continue
        changed_files.add(name)
        for line in removed + added:
            # the config checksum follows the config, which holds the port
            if "checksum/config" in line or "_commit:" in line:
                continue
            assert ("5080" in line) if line in removed else ("6080" in line), f"{name}: {line!r}"
    assert "5080" not in "\n".join("\n".join(lines) for name, lines in after.items() if name != ".copier-answers.yml")
    assert {"configs/server/config.yaml", "Dockerfile", "deployments/docker/docker-compose.yaml",
            "deployments/kubernetes/statefulset.yaml", "deployments/kubernetes/service.yaml",
            "deployments/kubernetes/configmap.yaml", "scripts/install-windows.ps1"} <= changed_files


def test_turning_a_platform_off_removes_its_files_and_on_adds_them(template_repo, tmp_path) -> None:
    project = copy_project(template_repo, tmp_path / "deploy", "v0.2.1", {"platforms": ["linux", "docker"]})
    update(project, "--data", "platforms=[linux]")
    assert not (project / "Dockerfile").exists()
    assert not (project / "deployments/docker").exists()
    assert (project / "scripts/install-linux.sh").exists()
    commit_all(project, "docker off")
    update(project, "--data", "platforms=[linux, kubernetes]")
    assert (project / "deployments/kubernetes/statefulset.yaml").exists()
    assert (project / "Dockerfile").exists()
    assert conflicts(project) == []


def test_migrations_run_once_and_only_across_their_version(template_repo, tmp_path) -> None:
    old = copy_project(template_repo, tmp_path / "old", "v0.1.0", {"shutdown_timeout": 42})
    result = update(old)
    assert result.stderr.count(MIGRATION_BANNER) == 5, result.stderr  # v0.2.0's five
    assert "renamed answer shutdown_timeout to shutdown_timeout_seconds" in result.stderr
    assert "recorded compose_publish_address: 0.0.0.0" in result.stderr
    assert "recorded compose_project_name: docker" in result.stderr
    assert "no answer https_port to remove" in result.stderr
    assert "builder_image: the old default golang:1.23-alpine replaced by the new default golang:1.24-bookworm" in result.stderr
    assert "TimeoutStopSec=47" in (old / "deployments/linux/tokmesh-server.service").read_text()
    assert "FROM golang:1.24-bookworm AS builder" in (old / "Dockerfile").read_text()

    current = copy_project(template_repo, tmp_path / "current", "v0.2.0", {"shutdown_timeout_seconds": 42})
    result = update(current)
    assert MIGRATION_BANNER not in result.stderr
    assert yaml.safe_load((current / ".copier-answers.yml").read_text())["_commit"] == "v0.2.1"


def test_https_moves_to_the_api_port_and_the_https_port_answer_goes(template_repo, tmp_path) -> None:
    """tokmesh-go serves TLS on its one HTTP address: a tree that answered a second port
    loses the answer, and every platform serves HTTPS on http_port."""
    old = copy_project(template_repo, tmp_path / "old", "v0.1.1",
                       {"tls_enabled": True, "https_port": 8443, "platforms": ["docker", "kubernetes"]})
    assert recorded_answers(old)["https_port"] == 8443
    result = update(old)
    assert "removed answer https_port (8443): tokmesh-go serves HTTPS on http_port" in result.stderr
    assert "https_port" not in recorded_answers(old)
    assert "8443" not in (old / "deployments/kubernetes/statefulset.yaml").read_text()
    config = yaml.safe_load((old / "configs/container/config.yaml").read_text())
    assert config["server"]["http"]["addr"] == "0.0.0.0:5080" and config["server"]["http"]["tls_cert_file"]


def test_an_edited_config_from_before_the_real_schema_conflicts(template_repo, tmp_path) -> None:
    """v0.1's config held keys tokmesh-go never read; the update rewrites it whole, so an
    operator's edit to it is a conflict to resolve by hand, never silently kept."""
    project = copy_project(template_repo, tmp_path / "deploy", "v0.1.0", {"platforms": ["linux"]})
    config = project / "configs/server/config.yaml"
    config.write_text(config.read_text() + "# operator: tuned for the edge cluster\n")
    commit_all(project, "operator edits the config")
    update(project)
    found = conflicts(project)
    assert found and all("configs/server/config.yaml" in line for line in found), found


def test_scripts_stay_executable_across_the_update(template_repo, tmp_path) -> None:
    project = copy_project(template_repo, tmp_path / "deploy", "v0.1.0", {"platforms": ["linux"]})
    update(project)
    for script in ("install-linux.sh", "uninstall-linux.sh", "verify.sh"):
        assert (project / "scripts" / script).stat().st_mode & stat.S_IXUSR, script


def test_check_update_tells_an_older_tree_that_a_newer_version_exists(template_repo, tmp_path) -> None:
    """What `make template-check` runs."""
    project = copy_project(template_repo, tmp_path / "deploy", "v0.2.0", {})

    def check_update() -> str:
        result = subprocess.run(
            [sys.executable, "-m", "copier", "check-update", "--answers-file", ".copier-answers.yml"],
            cwd=project, capture_output=True, text=True, check=False,
        )
        return result.stdout + result.stderr

    assert "New template version available" in check_update()
    update(project)
    commit_all(project, "update to v0.2.1")
    assert "Project is up-to-date!" in check_update()


def test_operator_edits_to_the_server_glue_survive_the_update(template_repo, tmp_path) -> None:
    project = copy_project(template_repo, tmp_path / "deploy", "v0.2.0",
                           {"platforms": ["windows"], "server_glue": True})
    shutdown_go = project / "server-glue/internal/infra/shutdown/shutdown.go"
    adapter = project / "server-glue/internal/infra/shutdown/service_windows.go"
    _edit(shutdown_go, "var startedBy serviceManager", "var startedBy serviceManager // operator: set only on Windows")
    _edit(adapter, "func forward(", "// operator: reviewed for the Windows fleet\nfunc forward(")
    commit_all(project, "operator edits to the glue")

    update(project)

    assert conflicts(project) == []
    assert "// operator: set only on Windows" in shutdown_go.read_text()
    assert "// operator: reviewed for the Windows fleet" in adapter.read_text()
    assert shutdown_go.read_text().endswith(GLUE_CHANGE_OF_V0_2_1)  # the template's change arrived
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert recorded["server_glue"] is True and recorded["_commit"] == "v0.2.1"


# Advanced answers, behind the customise question since v0.2.0, given as an operator would.
CUSTOMISED = {"config_dir": "/opt/tokmesh/etc", "service_user": "cache", "log_level": "warn",
              "replicas": 5, "storage_class": "fast-ssd", "cpu_limit": "2", "windows_data_dir": "D:\\tokmesh"}


def recorded_answers(project: Path) -> dict:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def test_customised_answers_given_without_the_gate_are_recorded_and_kept_by_the_update(
        template_repo, tmp_path) -> None:
    project = copy_project(template_repo, tmp_path / "deploy", "v0.2.0", CUSTOMISED)
    assert {name: recorded_answers(project)[name] for name in CUSTOMISED} == CUSTOMISED
    assert "customise" not in recorded_answers(project)

    update(project)

    recorded = recorded_answers(project)
    assert recorded["_commit"] == "v0.2.1"
    assert {name: recorded[name] for name in CUSTOMISED} == CUSTOMISED
    assert "User=cache" in (project / "deployments/linux/tokmesh-server.service").read_text()
    assert "replicas: 5" in (project / "deployments/kubernetes/statefulset.yaml").read_text()


def test_a_tree_from_before_the_customise_question_keeps_every_answer_and_gains_none(
        template_repo, tmp_path) -> None:
    project = copy_project(template_repo, tmp_path / "deploy", "v0.1.1", CUSTOMISED)
    before = recorded_answers(project)

    update(project)

    after = recorded_answers(project)
    assert after["_commit"] == "v0.2.1"
    # Only v0.2.0's new answers: their defaults, and Compose kept on every interface, as
    # before (the migration).
    gained = {k: v for k, v in after.items() if k != "_commit" and k not in before}
    assert gained == {"client_networks": [], "client_namespaces": [], "compose_publish_address": "0.0.0.0",
                      "compose_project_name": "docker",
                      "gossip_port": 5344, "listen_address": "0.0.0.0", "redis_enabled": False}
    # ... and the builder that cannot build tokmesh-go moved to the one that can (a migration).
    assert after["builder_image"] == "golang:1.24-bookworm"
    kept = {k: v for k, v in before.items() if k not in {"_commit", "builder_image"}}
    assert {k: after[k] for k in kept} == kept
    changed = sorted(line[3:] for line in git(project, "status", "--porcelain").splitlines())
    # v0.2.0 configures the real tokmesh-go: its config schema (a file per platform, the
    # containers' and Windows' new), the WAL under data/ (the scripts and README that name
    # it), TLS and the readiness probe on the API port, Raft and gossip ports on Kubernetes
    # only, no reload in the unit, a builder with protoc and Go 1.24, the version variables
    # in the Makefile, tokmesh-go cloned into tokmesh-go/ (its module in the clone's src/).  Also v0.2.0's who-may-reach-the-API (README, Compose's address, the
    # Windows firewall's remote addresses), the installers' markers that purges go by (both
    # uninstallers), the Namespace out of the kustomization and k8s-ops.sh's apply, expand and
    # delete (Kubernetes on a real control plane), and v0.2.1's README line. Then every
    # Windows script: waited stops, finally blocks and the log (issue 22).
    assert changed == [".copier-answers.yml", ".dockerignore", ".gitignore", "Dockerfile", "Makefile", "README.md",
                       "configs/container/", "configs/server/config.yaml", "configs/windows/",
                       "deployments/docker/docker-compose.yaml", "deployments/kubernetes/configmap.yaml",
                       "deployments/kubernetes/kustomization.yaml",
                       "deployments/kubernetes/networkpolicy.yaml", "deployments/kubernetes/service.yaml",
                       "deployments/kubernetes/statefulset.yaml", "deployments/linux/tokmesh-server.service",
                       "scripts/backup-linux.sh", "scripts/backup-windows.ps1", "scripts/compose-ops.sh",
                       "scripts/install-linux.sh", "scripts/install-windows.ps1", "scripts/k8s-ops.sh",
                       "scripts/restore-linux.sh", "scripts/restore-windows.ps1", "scripts/uninstall-linux.sh",
                       "scripts/uninstall-windows.ps1", "scripts/upgrade-linux.sh", "scripts/upgrade-windows.ps1"]
    assert '- "5080:5080"' in (project / "deployments/docker/docker-compose.yaml").read_text()  # every interface


def test_compose_publishes_on_this_host_only_unless_an_older_tree_published_wider(template_repo, tmp_path) -> None:
    new = copy_project(template_repo, tmp_path / "new", "v0.2.0", {"platforms": ["docker"]})
    assert '"127.0.0.1:5080:5080"' in (new / "deployments/docker/docker-compose.yaml").read_text()
    linux_only = copy_project(template_repo, tmp_path / "linux", "v0.1.1", {"platforms": ["linux"]})
    result = update(linux_only)
    assert "no docker in this tree: compose_publish_address not needed" in result.stderr
    assert "compose_publish_address" not in recorded_answers(linux_only)


def test_compose_keeps_the_project_and_volume_an_older_tree_ran_as(template_repo, tmp_path) -> None:
    """Trees from before compose_project_name ran as the project "docker" (their folder's name):
    after the update they still do, on the volume they have, docker_<service>-data."""
    old = copy_project(template_repo, tmp_path / "old", "v0.1.1", {"platforms": ["docker"]})
    result = update(old)
    assert "recorded compose_project_name: docker" in result.stderr
    assert recorded_answers(old)["compose_project_name"] == "docker"
    assert '"${TOKMESH_DATA_VOLUME:-docker_tokmesh-server-data}"' in (old / "deployments/docker/docker-compose.yaml").read_text()
    assert 'readonly PROJECT="docker"' in (old / "scripts/compose-ops.sh").read_text()

    new = copy_project(template_repo, tmp_path / "new", "v0.2.0", {"platforms": ["docker"]})
    assert recorded_answers(new)["compose_project_name"] == "tokmesh-server"
    assert 'readonly PROJECT="tokmesh-server"' in (new / "scripts/compose-ops.sh").read_text()
    renamed = copy_project(template_repo, tmp_path / "renamed", "v0.2.0", {"service_name": "cache", "platforms": ["docker"]})
    assert recorded_answers(renamed)["compose_project_name"] == "cache"  # its default follows service_name
