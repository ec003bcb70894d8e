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

# Short enough for a test; the scripts' defaults are the answers' startup budget and
# settle period. The settle period outlasts the crash-after-ready stand-in's 3 s.
READY_TIMEOUT = "8"
SETTLE = "6"
BINARIES = {"v1": "", "v2": "", "never-ready": "never-ready", "crash": "exit",
            "crash-after-ready": "crash-after-ready"}
EXIT = validate_answers({}).operation_exit_codes
REFUSED, ROLLED_BACK = EXIT["refused"], EXIT["rolled_back"]


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
    return _script(container, "upgrade-linux.sh", *args, "--ready-timeout", READY_TIMEOUT, "--settle", SETTLE)


def _in_background(container: Container, script: str, *args: str, then: str) -> tuple[int, str, str]:
    """(exit code, output, what ``then`` printed): ``script`` started in the background in the
    container, ``then`` (a shell command that may use $pid) run while it works."""
    command = " ".join(f"'{a}'" for a in (f"/opt/payload/scripts/{script}", *args))
    result = container.run("bash", "-c", f"{command} > /tmp/background.out 2>&1 & pid=$!; sleep 2; {then}; "
                                         "wait $pid; echo \"background-exit=$?\"; cat /tmp/background.out",
                           check=False)
    head, _, output = result.stdout.partition("background-exit=")
    code, _, output = output.partition("\n")
    return int(code), output, head + result.stderr


def _version(model) -> str:
    return wait_for_health(model.http_port)["version"]


class TestUpgradeAndRollback:
    def test_upgrade_to_v2_restarts_on_it_and_keeps_v1_as_previous(self, host) -> None:
        container, model = host
        result = _upgrade(container, "--bin-dir", "/opt/payload/bin-v2")
        assert result.returncode == 0, result.stderr
        assert "upgraded: tokmesh-server is ready" in result.stdout
        assert f"stayed up {SETTLE} s" in result.stdout
        assert _version(model) == "v2"
        assert health_status(model.http_port, model.ready_path) == "ready"
        assert container.run("test", "-x", model.server_binary_previous, check=False).returncode == 0
        # It settled: the last good binary is v2 now, apart from .previous (v1).
        assert container.run("cmp", model.server_binary_last_good, f"/opt/payload/bin-v2/{model.service_name}",
                             check=False).returncode == 0

    @pytest.mark.parametrize("broken, why", [
        ("never-ready", f"did not answer /ready within {READY_TIMEOUT} s"),
        ("crash", f"did not answer /ready within {READY_TIMEOUT} s"),
        # Ready at once, then gone 3 s later: only the settle period sees it.
        ("crash-after-ready", f"did not stay up for {SETTLE} s after it was ready"),
    ])
    def test_a_broken_binary_is_rolled_back_by_itself(self, host, broken: str, why: str, figure) -> None:
        container, model = host
        result = _upgrade(container, "--bin-dir", f"/opt/payload/bin-{broken}")
        assert result.returncode == ROLLED_BACK, result.stdout + result.stderr
        assert "upgrade failed and was rolled back: the previous binary runs and is ready" in result.stderr
        assert f"{why}: rolling back" in result.stdout
        assert _version(model) == "v2"
        assert health_status(model.http_port, model.ready_path) == "ready"
        assert container.run("cmp", model.server_binary_last_good, f"/opt/payload/bin-v2/{model.service_name}",
                             check=False).returncode == 0
        figure(f"upgrade to a {broken} binary", f"rolled back to v2, exit {result.returncode}")

    def test_an_interrupted_upgrade_rolls_back(self, host) -> None:
        """SIGHUP (a closed terminal) while the new binary is being waited for."""
        container, model = host
        code, output, _ = _in_background(container, "upgrade-linux.sh", "--bin-dir", "/opt/payload/bin-never-ready",
                                         "--ready-timeout", "30", then="kill -HUP $pid")
        assert code == ROLLED_BACK, output
        assert "interrupted: rolling back" in output
        assert _version(model) == "v2"
        assert container.run("ls", os.path.dirname(model.server_binary)).stdout.split().count(
            f"{model.service_name}.new") == 0

    def test_a_second_operation_while_one_runs_is_refused(self, host) -> None:
        container, model = host
        code, output, backup = _in_background(
            container, "upgrade-linux.sh", "--bin-dir", "/opt/payload/bin-never-ready", "--ready-timeout", "6",
            then="/opt/payload/scripts/backup-linux.sh --output /root/refused; echo \"backup rc=$?\"")
        assert f"backup rc={REFUSED}" in backup and "another operation on tokmesh-server is running" in backup, backup
        assert container.run("test", "-e", "/root/refused", check=False).returncode != 0
        assert code == ROLLED_BACK, output  # the first one went its way undisturbed
        assert _version(model) == "v2"

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
            assert result.returncode == REFUSED and message in result.stderr, (args, result.stderr)
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
            assert result.returncode == REFUSED and message in result.stderr, result.stderr
        assert (_ls(container, model.data_dir), wait_for_health(model.http_port)["pid"]) == before

    def test_a_backup_without_room_is_refused_before_anything_stops(self, host) -> None:
        container, model = host
        container.run("sh", "-c", "mkdir -p /root/full && mount -t tmpfs -o size=16k tmpfs /root/full")
        try:
            pid = wait_for_health(model.http_port)["pid"]
            result = _script(container, "backup-linux.sh", "--output", "/root/full")
            assert result.returncode == REFUSED and "KiB free" in result.stderr, result.stdout + result.stderr
            assert "nothing was stopped or written" in result.stderr
            assert _ls(container, "/root/full") == set()
            assert wait_for_health(model.http_port)["pid"] == pid
        finally:
            container.run("umount", "/root/full", check=False)

    def test_an_existing_output_folder_keeps_its_owner_and_mode(self, host) -> None:
        container, model = host
        result = _script(container, "backup-linux.sh", "--output", "/tmp")
        assert result.returncode == 0, result.stderr
        assert container.run("stat", "-c", "%U:%G %a", "/tmp").stdout.strip() == "root:root 1777"
        archives = [f for f in _ls(container, "/tmp") if f.startswith(model.service_name) and f.endswith(".tar.gz")]
        assert archives and not [f for f in _ls(container, "/tmp") if f.endswith(".partial")]
        assert container.run("stat", "-c", "%a", f"/tmp/{archives[0]}").stdout.strip() == "600"


def _latest_archive(container: Container) -> str:
    return "/root/backups/" + max(f for f in _ls(container, "/root/backups") if f.endswith(".tar.gz"))


def _backup(container: Container) -> str:
    """A backup of the data as it is now: its archive."""
    result = _script(container, "backup-linux.sh", "--output", "/root/backups")
    assert result.returncode == 0, result.stdout + result.stderr
    return _latest_archive(container)


def _mismatches(container: Container, folder: str, archive: str) -> str:
    """What of ``archive``'s SHA256SUMS ``folder`` does not match ("" when every file does)."""
    check = container.run("sh", "-c", f"cd {folder} && tar -xzOf {archive} SHA256SUMS | sha256sum --check --quiet",
                          check=False)
    return check.stdout + check.stderr


class TestRestoreWhereTheDataFolderIsNotAPlainFolder:
    """Disaster recovery and the layouts operators give their data: a mount point of its own,
    a symlink to another disk, or nothing left at all."""

    def _move_data(self, container: Container, model, setup: str) -> None:
        """The service stopped, its data copied aside, ``setup`` run, the data back in place."""
        container.run("systemctl", "stop", model.service_name)
        container.run("sh", "-c", f"rm -rf /root/saved && cp -a {model.data_dir} /root/saved && {setup} && "
                                  f"cp -a /root/saved/. {model.data_dir}/")
        start = container.run("systemctl", "start", model.service_name, check=False)
        journal = container.run("journalctl", "-u", model.service_name, "-n", "15", "--no-pager", check=False)
        assert start.returncode == 0, start.stderr + journal.stdout
        wait_for_health(model.http_port)

    def _undo(self, container: Container, model, teardown: str) -> None:
        container.run("systemctl", "stop", model.service_name)
        container.run("sh", "-c", f"rm -rf /root/saved && cp -a {model.data_dir}/. /root/saved/ && {teardown} && "
                                  f"mkdir -p {model.data_dir} && cp -a /root/saved/. {model.data_dir}/ && "
                                  f"chown {model.service_user}:{model.service_group} {model.data_dir} && "
                                  f"chmod 0750 {model.data_dir}")
        container.run("systemctl", "start", model.service_name)
        wait_for_health(model.http_port)

    def test_a_mount_point_is_restored_in_place(self, host) -> None:
        container, model = host
        archive = _backup(container)
        data = model.data_dir
        self._move_data(container, model, f"mount -t tmpfs -o mode=0750 tmpfs {data}")
        try:
            result = _script(container, "restore-linux.sh", archive)
            assert result.returncode == 0, result.stdout + result.stderr
            assert container.run("mountpoint", "-q", data, check=False).returncode == 0  # still the mount
            assert _mismatches(container, data, archive) == ""
            kept = [d for d in _ls(container, data) if d.startswith(".replaced-")]
            assert len(kept) == 1 and not [d for d in _ls(container, data) if d.startswith(".restore.")]
            assert health_status(model.http_port, model.ready_path) == "ready"
            # What the restore kept inside the folder stays out of the next backup.
            again = _script(container, "backup-linux.sh", "--output", "/root/backups")
            assert again.returncode == 0, again.stderr
            listing = container.run("tar", "-tzf", _latest_archive(container)).stdout
            assert ".replaced-" not in listing
        finally:
            self._undo(container, model, f"umount {data} && rm -rf {data}")

    def test_a_symlinked_folder_is_restored_where_it_points(self, host) -> None:
        container, model = host
        archive = _backup(container)
        data = model.data_dir
        # systemd's StateDirectory= refuses a symlink ("Not a directory"): the operator who links
        # the data elsewhere turns it off in a drop-in, as the tree's README says.
        drop_in = f"/etc/systemd/system/{model.unit_name}.d/data-elsewhere.conf"
        self._move_data(container, model, f"mkdir -p {os.path.dirname(drop_in)} && "
                                          f"printf '[Service]\\nStateDirectory=\\n' > {drop_in} && systemctl daemon-reload && "
                                          f"rm -rf {data} /srv/tokmesh-data && mkdir -p /srv/tokmesh-data && "
                                          f"chown {model.service_user}:{model.service_group} /srv/tokmesh-data && "
                                          f"chmod 0750 /srv/tokmesh-data && ln -s /srv/tokmesh-data {data}")
        try:
            result = _script(container, "restore-linux.sh", archive)
            assert result.returncode == 0, result.stdout + result.stderr
            assert container.run("readlink", data).stdout.strip() == "/srv/tokmesh-data"  # still the link
            assert _mismatches(container, "/srv/tokmesh-data", archive) == ""
            assert [d for d in _ls(container, "/srv") if d.startswith("tokmesh-data.replaced-")]
            assert health_status(model.http_port, model.ready_path) == "ready"
        finally:
            self._undo(container, model, f"rm -f {data} {drop_in} && systemctl daemon-reload && "
                                         "rm -rf /srv/tokmesh-data /srv/tokmesh-data.replaced-*")

    def test_a_missing_folder_is_created_and_restored(self, host) -> None:
        container, model = host
        archive = _backup(container)
        container.run("systemctl", "stop", model.service_name)
        container.run("rm", "-rf", model.data_dir)
        result = _script(container, "restore-linux.sh", archive)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"{model.data_dir} was missing: restored as a new folder" in result.stdout
        assert _mismatches(container, model.data_dir, archive) == ""
        owners = container.run("stat", "-c", "%U:%G %a", model.data_dir).stdout.strip()
        assert owners == f"{model.service_user}:{model.service_group} 750"
        assert health_status(model.http_port, model.ready_path) == "ready"


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
        assert result.returncode == ROLLED_BACK
        assert f"upgrade failed and was rolled back: {COMPOSE_REPOSITORY}:2.0.0 runs and is ready" in result.stderr
        assert wait_for_health(COMPOSE_PORT)["version"] == "2.0.0"
        assert health_status(COMPOSE_PORT, model.ready_path) == "ready"
        assert f"TOKMESH_IMAGE={COMPOSE_REPOSITORY}:2.0.0" in (tree / "deployments/docker/.env").read_text()
        figure("compose upgrade to a never-ready image", f"rolled back to 2.0.0, exit {result.returncode}")

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
        assert result.returncode == REFUSED and "does not match" in result.stderr and "nothing was changed" in result.stderr
        assert podman("exec", _server_container(), "/bin/ls", model.wal_dir, text=True).stdout == before
        assert wait_for_health(COMPOSE_PORT)["pid"] == pid
