"""After day one, run for real: on Linux the generated upgrade (with its automatic
rollback), backup and restore scripts under systemd 252 in a booted Debian container
(systemd-nspawn); under Compose the same operations through scripts/compose-ops.sh,
with docker-compose on podman. The stand-in reports its version, and fails at start
or never becomes ready where a test builds it so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from conftest import require
from runtime.fixtures_cache import build_standin, rootfs_dir
from runtime.nspawn import Container
from runtime.podman import api_socket, build_image, image_tree, podman, podman_env
from runtime.probes import health_status, http_get, wait_for_health
from tokmesh_answers import validate_answers

pytestmark = pytest.mark.integration

# Short enough for a test; the scripts' default is the answers' startup budget.
READY_TIMEOUT = "8"
BINARIES = {"v1": "", "v2": "", "never-ready": "never-ready", "crash": "exit"}


@pytest.fixture(scope="module")
def host(render, tmp_path_factory) -> Iterator[tuple[Container, object]]:
    """A container with the default tree at /opt/payload, v1 installed and running, and
    the other binaries in /opt/payload/bin-<name>."""
    require(os.geteuid() == 0, "needs root for systemd-nspawn")
    for tool in ("systemd-nspawn", "debootstrap", "nsenter", "go"):
        require(shutil.which(tool) is not None, f"{tool} is not installed")
    answers = {"platforms": ["linux"]}
    model = validate_answers(answers)
    payload = tmp_path_factory.mktemp("ops-payload")
    shutil.copytree(render(answers), payload, dirs_exist_ok=True)
    payload.chmod(0o755)
    for name, fail_mode in BINARIES.items():
        build_standin(payload / f"bin-{name}" / model.service_name, payload,
                      version=name, fail_mode=fail_mode)
    with Container(rootfs_dir(), payload, payload.parent / f"{payload.name}-nspawn.log") as container:
        container.run("/opt/payload/scripts/install-linux.sh", "--bin-dir", "/opt/payload/bin-v1")
        assert wait_for_health(model.http_port)["version"] == "v1"
        yield container, model


def _script(container: Container, name: str, *args: str):
    return container.run(f"/opt/payload/scripts/{name}", *args, check=False)


def _upgrade(container: Container, *args: str):
    return _script(container, "upgrade-linux.sh", *args, "--ready-timeout", READY_TIMEOUT)


def _version(model) -> str:
    return wait_for_health(model.http_port)["version"]


class TestUpgradeAndRollback:
    def test_upgrade_to_v2_restarts_on_it_and_keeps_v1_as_previous(self, host) -> None:
        container, model = host
        result = _upgrade(container, "--bin-dir", "/opt/payload/bin-v2")
        assert result.returncode == 0, result.stderr
        assert "upgraded: tokmesh-server is ready" in result.stdout
        assert _version(model) == "v2"
        assert health_status(model.http_port, model.ready_path) == "ready"
        assert container.run("test", "-x", f"{model.server_binary}.previous", check=False).returncode == 0

    @pytest.mark.parametrize("broken", ["never-ready", "crash"])
    def test_a_broken_binary_is_rolled_back_by_itself(self, host, broken: str, figure) -> None:
        container, model = host
        result = _upgrade(container, "--bin-dir", f"/opt/payload/bin-{broken}")
        assert result.returncode == 1
        assert "upgrade failed and was rolled back: the previous binary runs and is ready" in result.stderr
        assert f"did not answer /ready within {READY_TIMEOUT} s: rolling back" in result.stdout
        assert _version(model) == "v2"
        assert health_status(model.http_port, model.ready_path) == "ready"
        figure(f"upgrade to a {broken} binary", "rolled back to v2, exit 1")

    def test_rollback_by_hand_returns_to_the_version_before_the_last_good_upgrade(self, host) -> None:
        container, model = host
        result = _script(container, "upgrade-linux.sh", "--rollback", "--ready-timeout", READY_TIMEOUT)
        assert result.returncode == 0, result.stderr
        assert _version(model) == "v1"
        again = _script(container, "upgrade-linux.sh", "--rollback", "--ready-timeout", READY_TIMEOUT)
        assert again.returncode == 0 and _version(model) == "v2"  # a second one swaps back

    def test_bad_input_and_a_repeated_upgrade_change_nothing(self, host) -> None:
        container, model = host
        pid = wait_for_health(model.http_port)["pid"]
        for args, message in [((), "--bin-dir DIR or --rollback is needed"),
                              (("--bin-dir", "/opt/payload/missing"), "no executable /opt/payload/missing"),
                              (("--ready-timeout", "soon"), "--ready-timeout needs a number")]:
            result = _script(container, "upgrade-linux.sh", *args)
            assert result.returncode == 1 and message in result.stderr, (args, result.stderr)
        again = _script(container, "upgrade-linux.sh", "--bin-dir", "/opt/payload/bin-v2")  # idempotent
        assert again.returncode == 0 and "already installed: nothing to do" in again.stdout
        health = wait_for_health(model.http_port)
        assert (health["version"], health["pid"]) == ("v2", pid)


def _ls(container: Container, folder: str) -> set[str]:
    return set(container.run("ls", "-A", folder).stdout.split())


class TestBackupAndRestore:
    def test_backup_restore_brings_back_the_data_and_keeps_what_it_replaced(self, host, figure) -> None:
        container, model = host
        backup = _script(container, "backup-linux.sh", "--output", "/root/backups")
        assert backup.returncode == 0, backup.stderr
        downtime = next(line for line in backup.stdout.splitlines() if "downtime:" in line)
        figure("backup-linux.sh", downtime.split("backup-linux.sh: ", 1)[1])
        (archive,) = [f for f in _ls(container, "/root/backups") if f.endswith(".tar.gz")]
        archive = f"/root/backups/{archive}"
        backed_up = set(container.run("tar", "-xzOf", archive, "SHA256SUMS").stdout.splitlines())
        assert backed_up and all(line.split()[1].startswith("./") for line in backed_up)

        # Data written after the backup.
        container.run("setpriv", f"--reuid={model.service_user}", f"--regid={model.service_group}",
                      "--clear-groups", "sh", "-c", f"echo late > {model.wal_dir}/after-backup")
        wait_for_health(model.http_port)

        # Restarts in a burst use up systemd's start limit, as a crash loop does: the
        # restore's own start must still go through.
        for _ in range(6):
            container.run("systemctl", "restart", model.service_name, check=False)
        assert container.show(model.unit_name, "Result")["Result"] == "start-limit-hit"

        restore = _script(container, "restore-linux.sh", archive)
        assert restore.returncode == 0, restore.stderr
        assert "restored" in restore.stdout and "is ready" in restore.stdout
        assert "after-backup" not in _ls(container, model.wal_dir)
        check = container.run("sh", "-c", f"cd {model.data_dir} && tar -xzOf {archive} SHA256SUMS | sha256sum --check --quiet",
                              check=False)
        assert check.returncode == 0, check.stdout + check.stderr  # every backed-up file, as it was
        (replaced,) = [d for d in _ls(container, os.path.dirname(model.data_dir))
                       if d.startswith(os.path.basename(model.data_dir) + ".replaced-")]
        wal_below_data = os.path.relpath(model.wal_dir, model.data_dir)
        assert "after-backup" in _ls(container, f"{os.path.dirname(model.data_dir)}/{replaced}/{wal_below_data}")
        owners = container.run("stat", "-c", "%U:%G %a", model.data_dir).stdout.strip()
        assert owners == f"{model.service_user}:{model.service_group} 750"
        assert health_status(model.http_port, model.health_path) == "healthy"

    def test_a_corrupted_or_missing_archive_is_refused_and_nothing_changes(self, host) -> None:
        container, model = host
        (archive,) = [f for f in _ls(container, "/root/backups") if f.endswith(".tar.gz")]
        archive = f"/root/backups/{archive}"
        container.run("sh", "-c", f"cp {archive} /root/bad.tar.gz && cp {archive}.sha256 /root/bad.tar.gz.sha256 && "
                                  f"sed -i 's/{os.path.basename(archive)}/bad.tar.gz/' /root/bad.tar.gz.sha256 && "
                                  "printf 'x' | dd of=/root/bad.tar.gz bs=1 seek=100 conv=notrunc status=none")
        before = (_ls(container, model.data_dir), wait_for_health(model.http_port)["pid"])
        cases = [("/root/bad.tar.gz", "does not match /root/bad.tar.gz.sha256: nothing was changed"),
                 ("/root/none.tar.gz", "no archive /root/none.tar.gz")]
        for path, message in cases:
            result = _script(container, "restore-linux.sh", path)
            assert result.returncode == 1 and message in result.stderr, result.stderr
        assert (_ls(container, model.data_dir), wait_for_health(model.http_port)["pid"]) == before


COMPOSE_PORT = 16080  # away from the defaults and from the other runtime tests
COMPOSE_PROJECT = "tokmeshops"
COMPOSE_REPOSITORY = "localhost/tokmesh-test/ops"


@pytest.fixture(scope="module")
def compose(render, tmp_path_factory) -> Iterator[tuple]:
    """(run the tree's compose-ops.sh, model, tree): the Compose deployment up on
    image 1.0.0, with 2.0.0 and a never-ready 3.0.0 built beside it."""
    require(os.geteuid() == 0, "needs root for podman here")
    for tool in ("podman", "go", "docker-compose"):
        require(shutil.which(tool) is not None, f"{tool} is not installed")
    tree, model = image_tree(render, tmp_path_factory, "ops-compose", platforms=["docker"], http_port=COMPOSE_PORT,
                             image_repository=COMPOSE_REPOSITORY, shutdown_timeout_seconds=5)
    for version in ("1.0.0", "2.0.0"):
        build_image(tree, f"{COMPOSE_REPOSITORY}:{version}", "--build-arg", f"VERSION={version}")
    broken = tree.parent / f"{tree.name}-broken"
    broken.mkdir()
    (broken / "Containerfile").write_text(f"FROM {COMPOSE_REPOSITORY}:2.0.0\nENV STANDIN_FAIL_MODE=never-ready\n")
    build_image(broken, f"{COMPOSE_REPOSITORY}:3.0.0")

    with api_socket(tmp_path_factory.mktemp("ops-socket")) as socket:
        env = {**podman_env(), "DOCKER_HOST": socket, "DOCKER": "podman",
               "COMPOSE": f"docker-compose -p {COMPOSE_PROJECT}"}
        compose_file = tree / "deployments/docker/docker-compose.yaml"

        def compose_run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(["docker-compose", "-p", COMPOSE_PROJECT, "-f", str(compose_file), *args],
                                  env=env, capture_output=True, text=True, check=False)

        def ops(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([str(tree / "scripts/compose-ops.sh"), *args], env=env,
                                  capture_output=True, text=True, check=False)

        up = compose_run("up", "-d", "--no-build")
        assert up.returncode == 0, up.stderr
        try:
            assert wait_for_health(COMPOSE_PORT)["version"] == "1.0.0"
            yield ops, model, tree
        finally:
            compose_run("down", "-v")
            for volume in podman("volume", "ls", "--format", "{{.Name}}", text=True).stdout.split():
                if volume.startswith(f"{model.service_name}-data-replaced-"):
                    podman("volume", "rm", "-f", volume, check=False)


def _server_container() -> str:
    (name,) = [n for n in podman("ps", "--format", "{{.Names}}", text=True).stdout.split()
               if n.startswith(COMPOSE_PROJECT)]
    return name


class TestComposeOperations:
    def test_upgrade_moves_to_the_new_image_and_records_it(self, compose) -> None:
        ops, model, tree = compose
        result = ops("upgrade", "2.0.0")
        assert result.returncode == 0, result.stderr
        assert wait_for_health(COMPOSE_PORT)["version"] == "2.0.0"
        assert f"TOKMESH_IMAGE={COMPOSE_REPOSITORY}:2.0.0" in (tree / "deployments/docker/.env").read_text()

    def test_upgrading_to_the_running_image_again_changes_nothing(self, compose) -> None:
        ops, model, tree = compose
        pid = wait_for_health(COMPOSE_PORT)["pid"]
        result = ops("upgrade", "2.0.0")
        assert result.returncode == 0 and "runs already: nothing to do" in result.stdout
        assert wait_for_health(COMPOSE_PORT)["pid"] == pid

    def test_an_image_that_never_becomes_ready_is_rolled_back(self, compose, figure) -> None:
        ops, model, tree = compose
        result = ops("upgrade", "3.0.0", "--ready-timeout", READY_TIMEOUT)
        assert result.returncode == 1
        assert f"upgrade failed and was rolled back: {COMPOSE_REPOSITORY}:2.0.0 runs and is ready" in result.stderr
        assert wait_for_health(COMPOSE_PORT)["version"] == "2.0.0"
        assert health_status(COMPOSE_PORT, model.ready_path) == "ready"
        assert f"TOKMESH_IMAGE={COMPOSE_REPOSITORY}:2.0.0" in (tree / "deployments/docker/.env").read_text()
        figure("compose upgrade to a never-ready image", "rolled back to 2.0.0, exit 1")

    def test_backup_and_restore_of_the_data_volume(self, compose, figure) -> None:
        ops, model, tree = compose
        backup = ops("backup")
        assert backup.returncode == 0, backup.stderr
        figure("compose-ops.sh backup", next(line for line in backup.stdout.splitlines() if "downtime:" in line)
               .split("compose-ops.sh: ", 1)[1])
        (archive,) = (tree / "backups").glob("*.tar.gz")
        assert (tree / "backups" / f"{archive.name}.sha256").exists()
        podman("exec", _server_container(), "/bin/sh", "-c", f"echo late > {model.wal_dir}/after-backup")

        restore = ops("restore", str(archive))
        assert restore.returncode == 0, restore.stderr
        wait_for_health(COMPOSE_PORT)
        files = podman("exec", _server_container(), "/bin/ls", model.wal_dir, text=True).stdout.split()
        assert "after-backup" not in files and any(f.startswith("wal-") for f in files)
        (replaced,) = [v for v in podman("volume", "ls", "--format", "{{.Name}}", text=True).stdout.split()
                       if v.startswith(f"{model.service_name}-data-replaced-")]
        kept = podman("run", "--rm", "--entrypoint", "/bin/ls", "-v", f"{replaced}:/r",
                      f"{COMPOSE_REPOSITORY}:2.0.0", f"/r/{os.path.relpath(model.wal_dir, model.data_dir)}", text=True).stdout.split()
        assert "after-backup" in kept

    def test_a_corrupted_archive_is_refused_and_nothing_changes(self, compose) -> None:
        ops, model, tree = compose
        (archive,) = (tree / "backups").glob("*.tar.gz")
        bad = tree / "backups" / "bad.tar.gz"
        data = bytearray(archive.read_bytes())
        data[100] ^= 0xFF
        bad.write_bytes(bytes(data))
        (tree / "backups" / "bad.tar.gz.sha256").write_text(
            (tree / "backups" / f"{archive.name}.sha256").read_text().replace(archive.name, "bad.tar.gz"))
        pid = wait_for_health(COMPOSE_PORT)["pid"]
        before = podman("exec", _server_container(), "/bin/ls", model.wal_dir, text=True).stdout
        result = ops("restore", str(bad))
        assert result.returncode == 1 and "does not match" in result.stderr and "nothing was changed" in result.stderr
        assert podman("exec", _server_container(), "/bin/ls", model.wal_dir, text=True).stdout == before
        assert wait_for_health(COMPOSE_PORT)["pid"] == pid
