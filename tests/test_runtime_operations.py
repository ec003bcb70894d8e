"""After day one, run for real: on Linux the generated upgrade (with its automatic
rollback), backup and restore scripts under systemd 252 in a booted Debian container
(systemd-nspawn); under Compose the same operations through scripts/compose-ops.sh,
with docker-compose on podman. The stand-in reports its version, and fails at start
or never becomes ready where a test builds it so."""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

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

    def test_an_upgrade_asked_to_backs_up_first_under_its_own_lock(self, host) -> None:
        container, model = host
        before = set(_ls(container, model.backup_dir)) if container.run(
            "test", "-d", model.backup_dir, check=False).returncode == 0 else set()
        result = _upgrade(container, "--bin-dir", "/opt/payload/bin-v1", "--backup")
        assert result.returncode == 0, result.stdout + result.stderr
        new = [f for f in set(_ls(container, model.backup_dir)) - before if f.endswith(".tar.gz")]
        assert len(new) == 1, new
        assert result.stdout.index("downtime") < result.stdout.index("installed the new binary")
        assert _version(model) == "v1"
        back = _upgrade(container, "--bin-dir", "/opt/payload/bin-v2")  # where the other tests expect it
        assert back.returncode == 0 and _version(model) == "v2", back.stdout + back.stderr

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
# Published on an address of the host that is not loopback (one more address on lo): compose-ops.sh
# must not depend on 127.0.0.1.
COMPOSE_HOST = "10.89.232.1"
COMPOSE_PROJECT = "tokmeshops"
COMPOSE_REPOSITORY = "localhost/tokmesh-test/ops"


def _compose_volumes(project: str) -> list[str]:
    return [v for v in podman("volume", "ls", "--format", "{{.Name}}", text=True).stdout.split()
            if v.startswith(f"{project}_")]


@pytest.fixture(scope="module")
def compose_env(tmp_path_factory) -> Iterator[dict]:
    """What docker-compose on podman needs, and the test's address on the host's lo."""
    require(os.geteuid() == 0, "needs root for podman here")
    for tool in ("podman", "go", "docker-compose"):
        require(shutil.which(tool) is not None, f"{tool} is not installed")
    subprocess.run(["ip", "addr", "del", f"{COMPOSE_HOST}/32", "dev", "lo"], capture_output=True, check=False)
    subprocess.run(["ip", "addr", "add", f"{COMPOSE_HOST}/32", "dev", "lo"], check=True, capture_output=True)
    try:
        with api_socket(tmp_path_factory.mktemp("ops-socket")) as socket:
            yield {**podman_env(), "DOCKER_HOST": socket, "DOCKER": "podman", "COMPOSE": "docker-compose"}
    finally:
        subprocess.run(["ip", "addr", "del", f"{COMPOSE_HOST}/32", "dev", "lo"], capture_output=True, check=False)


def _ops_runner(tree, env: dict):
    """Run the tree's scripts/compose-ops.sh as the operator does (no -p: the script names the project)."""
    def ops(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(tree / "scripts/compose-ops.sh"), *args], env=env,
                              capture_output=True, text=True, check=False)

    def started(*args: str) -> tuple[subprocess.Popen[str], Path]:
        """The script in the background, what it says in the returned file."""
        said = tree.parent / f"{tree.name}-said-{time.monotonic_ns()}"
        with said.open("w") as out:
            return subprocess.Popen([str(tree / "scripts/compose-ops.sh"), *args], env=env, stdout=out,
                                    stderr=subprocess.STDOUT, text=True), said
    ops.started = started  # type: ignore[attr-defined]
    return ops


@pytest.fixture(scope="module")
def compose(render, tmp_path_factory, compose_env) -> Iterator[tuple]:
    """(run the tree's compose-ops.sh, model, tree): the Compose deployment up on
    image 1.0.0, with 2.0.0 and the broken images below built beside it."""
    tree, model = image_tree(render, tmp_path_factory, "ops-compose", platforms=["docker"], http_port=COMPOSE_PORT,
                             image_repository=COMPOSE_REPOSITORY, shutdown_timeout_seconds=5,
                             compose_publish_address=COMPOSE_HOST, compose_project_name=COMPOSE_PROJECT)
    for version in ("1.0.0", "2.0.0"):
        build_image(tree, f"{COMPOSE_REPOSITORY}:{version}", "--build-arg", f"VERSION={version}")
    for version, containerfile in BROKEN_IMAGES.items():
        broken = tree.parent / f"{tree.name}-broken-{version}"
        broken.mkdir()
        (broken / "Containerfile").write_text(f"FROM {COMPOSE_REPOSITORY}:2.0.0\n{containerfile}\n")
        build_image(broken, f"{COMPOSE_REPOSITORY}:{version}")
    ops = _ops_runner(tree, compose_env)
    up = ops("up")
    assert up.returncode == 0, up.stderr
    try:
        assert _health()["version"] == "1.0.0"
        yield ops, model, tree
    finally:
        ops("down")
        for volume in _compose_volumes(COMPOSE_PROJECT):
            podman("volume", "rm", "-f", volume, check=False)


# Images built FROM 2.0.0 that fail an upgrade each in its own way.
BROKEN_IMAGES = {
    "3.0.0": "ENV STANDIN_FAIL_MODE=never-ready",
    "4.0.0": "ENV STANDIN_FAIL_MODE=crash-after-ready",
    "5.0.0": 'ENTRYPOINT ["/no/such/server"]',  # compose up itself fails: the container cannot start
}


def _health(**kwargs) -> dict:
    return wait_for_health(COMPOSE_PORT, host=COMPOSE_HOST, **kwargs)


def _image_id(reference: str) -> str:
    return podman("image", "inspect", "--format", "{{.Id}}", reference, text=True).stdout.strip()


def _server_container() -> str:
    (name,) = [n for n in podman("ps", "--format", "{{.Names}}", text=True).stdout.split()
               if n.startswith(COMPOSE_PROJECT)]
    return name


class TestComposeOperations:
    def test_upgrade_moves_to_the_new_image_and_records_it(self, compose) -> None:
        ops, model, tree = compose
        result = ops("upgrade", "2.0.0", "--settle", SETTLE)
        assert result.returncode == 0, result.stderr
        assert _health()["version"] == "2.0.0"
        assert _image_id(model.compose_last_good_image) == _image_id(f"{COMPOSE_REPOSITORY}:2.0.0")
        assert f"TOKMESH_IMAGE={COMPOSE_REPOSITORY}:2.0.0" in (tree / "deployments/docker/.env").read_text()

    def test_upgrading_to_the_running_image_again_changes_nothing(self, compose) -> None:
        ops, model, tree = compose
        pid = _health()["pid"]
        result = ops("upgrade", "2.0.0")
        assert result.returncode == 0 and "runs already: nothing to do" in result.stdout
        assert _health()["pid"] == pid

    @pytest.mark.parametrize("version, why", [
        ("3.0.0", f"did not answer /ready within {READY_TIMEOUT} s"),
        ("4.0.0", f"did not stay up for {SETTLE} s after it was ready"),
        ("5.0.0", "did not start (compose up failed)"),
    ])
    def test_an_image_that_fails_is_rolled_back_to_the_image_that_ran(self, compose, version, why, figure) -> None:
        ops, model, tree = compose
        ran = _image_id(f"{COMPOSE_REPOSITORY}:2.0.0")
        result = ops("upgrade", version, "--ready-timeout", READY_TIMEOUT, "--settle", SETTLE)
        assert result.returncode == ROLLED_BACK, result.stdout + result.stderr
        assert f"{why}: going back to the image that ran" in result.stdout
        assert "upgrade failed and was rolled back" in result.stderr
        assert _health()["version"] == "2.0.0"
        assert health_status(COMPOSE_PORT, model.ready_path, host=COMPOSE_HOST) == "ready"
        rollback = model.compose_rollback_image
        assert f"TOKMESH_IMAGE={rollback}" in (tree / "deployments/docker/.env").read_text()
        assert _image_id(rollback) == ran
        figure(f"compose upgrade to {BROKEN_IMAGES[version]}", f"rolled back to 2.0.0, exit {result.returncode}")

    def test_a_rollback_goes_to_the_image_that_ran_though_its_tag_moved(self, compose) -> None:
        """What an older 'make docker' did: a new build also tagged with the running version."""
        ops, model, tree = compose
        ready = ops("upgrade", "2.0.0", "--settle", SETTLE)  # by its version tag again
        assert ready.returncode == 0, ready.stdout + ready.stderr
        ran = _image_id(f"{COMPOSE_REPOSITORY}:2.0.0")
        podman("tag", f"{COMPOSE_REPOSITORY}:3.0.0", f"{COMPOSE_REPOSITORY}:2.0.0")  # the tag moves to a broken build
        try:
            result = ops("upgrade", "3.0.0", "--ready-timeout", READY_TIMEOUT, "--settle", SETTLE)
            assert result.returncode == ROLLED_BACK, result.stdout + result.stderr
            assert _health()["version"] == "2.0.0"
            assert _image_id(model.compose_rollback_image) == ran
        finally:
            podman("tag", ran, f"{COMPOSE_REPOSITORY}:2.0.0")

    def test_a_second_operation_while_one_runs_is_refused(self, compose) -> None:
        ops, model, tree = compose
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            first = pool.submit(ops, "upgrade", "3.0.0", "--ready-timeout", "6")
            time.sleep(2)
            second = ops("backup")
            assert second.returncode == REFUSED and "another operation" in second.stderr, second.stderr
            assert first.result().returncode == ROLLED_BACK

    def test_an_interrupted_upgrade_goes_back_to_the_image_that_ran(self, compose) -> None:
        ops, model, tree = compose
        ran = _health()["version"]
        upgrade, said = ops.started("upgrade", "3.0.0", "--ready-timeout", "60")
        while "replacing" not in said.read_text():
            assert upgrade.poll() is None, said.read_text()
            time.sleep(0.2)
        time.sleep(3)  # waiting for /ready: the new container runs
        upgrade.send_signal(signal.SIGHUP)  # the operator's terminal closes
        upgrade.wait(timeout=120)
        assert upgrade.returncode == ROLLED_BACK, said.read_text()
        assert "3.0.0 was interrupted: going back to the image that ran" in said.read_text(), said.read_text().splitlines()
        assert _health()["version"] == ran

    def test_an_upgrade_asked_to_backs_up_first(self, compose) -> None:
        ops, model, tree = compose
        before = set((tree / "backups").glob("*.tar.gz"))
        version = "2.0.0" if _health()["version"] == "1.0.0" else "1.0.0"  # not the one that runs
        result = ops("upgrade", version, "--backup", "--settle", SETTLE)
        assert result.returncode == 0, result.stdout + result.stderr
        assert len(set((tree / "backups").glob("*.tar.gz")) - before) == 1
        assert result.stdout.index("downtime:") < result.stdout.index("replacing")
        assert _health()["version"] == version

    def test_a_backup_without_room_is_refused_before_the_server_stops(self, compose, tmp_path) -> None:
        ops, model, tree = compose
        full = tmp_path / "full"
        full.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(full)], check=True)
        try:
            pid = _health()["pid"]
            result = ops("backup", "--output", str(full))
            assert result.returncode == REFUSED, result.stdout + result.stderr
            assert "KiB free; the data needs up to" in result.stderr and "nothing was stopped or written" in result.stderr
            assert list(full.iterdir()) == []
            assert _health()["pid"] == pid  # never stopped
        finally:
            subprocess.run(["umount", str(full)], check=False)

    def test_backup_and_restore_of_the_data_volume(self, compose, figure) -> None:
        ops, model, tree = compose
        backup = ops("backup")
        assert backup.returncode == 0, backup.stderr
        figure("compose-ops.sh backup", next(line for line in backup.stdout.splitlines() if "downtime:" in line)
               .split("compose-ops.sh: ", 1)[1])
        archive = _newest_archive(tree)
        assert (tree / "backups" / f"{archive.name}.sha256").exists()
        # Session tokens inside: the folder made for them and each file are the operator's alone.
        assert [oct(p.stat().st_mode & 0o777) for p in (tree / "backups", archive)] == ["0o700", "0o600"]
        podman("exec", _server_container(), "/bin/sh", "-c", f"echo late > {model.wal_dir}/after-backup")

        restore = ops("restore", str(archive))
        assert restore.returncode == 0, restore.stdout + restore.stderr
        _health()
        restored = _recorded(tree, "TOKMESH_DATA_VOLUME")
        assert restored.startswith(model.compose_restored_volume_prefix)
        files = podman("exec", _server_container(), "/bin/ls", model.wal_dir, text=True).stdout.split()
        assert "after-backup" not in files and any(f.startswith("wal-") for f in files)
        # The server owns the restored data as it owned its own: it writes there.
        podman("exec", _server_container(), "/bin/sh", "-c", f"echo new > {model.wal_dir}/after-restore")
        # The volume it ran on is kept as it was.
        assert "after-backup" in _volume_files(model.compose_data_volume, model.wal_dir, model)
        figure("compose-ops.sh restore", next(line for line in restore.stdout.splitlines() if "downtime" in line)
               .split("restored from ", 1)[1].split(" in ", 1)[1].split(";")[0])

    def test_a_corrupted_archive_is_refused_and_nothing_changes(self, compose) -> None:
        ops, model, tree = compose
        archive = _newest_archive(tree)
        bad = tree / "backups" / "bad.tar.gz"
        data = bytearray(archive.read_bytes())
        data[100] ^= 0xFF
        bad.write_bytes(bytes(data))
        (tree / "backups" / "bad.tar.gz.sha256").write_text(
            (tree / "backups" / f"{archive.name}.sha256").read_text().replace(archive.name, "bad.tar.gz"))
        pid = _health()["pid"]
        volumes = _compose_volumes(COMPOSE_PROJECT)
        before = podman("exec", _server_container(), "/bin/ls", model.wal_dir, text=True).stdout
        result = ops("restore", str(bad))
        assert result.returncode == REFUSED and "does not match" in result.stderr and "nothing was changed" in result.stderr
        assert podman("exec", _server_container(), "/bin/ls", model.wal_dir, text=True).stdout == before
        assert _health()["pid"] == pid
        assert _compose_volumes(COMPOSE_PROJECT) == volumes

    def test_an_archive_whose_files_do_not_match_its_manifest_is_refused_and_leaves_no_volume(self, compose) -> None:
        ops, model, tree = compose
        bad = _archive_with(_newest_archive(tree), model, tree / "backups" / "tampered.tar.gz", tamper=True)
        pid = _health()["pid"]
        volumes = _compose_volumes(COMPOSE_PROJECT)
        result = ops("restore", str(bad))
        assert result.returncode == REFUSED, result.stdout + result.stderr
        assert "do not match its SHA256SUMS: nothing was changed" in result.stderr
        assert _health()["pid"] == pid
        assert _compose_volumes(COMPOSE_PROJECT) == volumes  # the volume it extracted into is gone

    def test_a_restore_the_server_is_not_ready_on_goes_back_to_the_data_it_ran_on(self, compose, tmp_path) -> None:
        ops, model, tree = compose
        bad = _archive_with(_newest_archive(tree), model, tree / "backups" / "root-owned.tar.gz", root_owned_wal=True)
        ran_on = _recorded(tree, "TOKMESH_DATA_VOLUME")
        before = podman("exec", _server_container(), "/bin/ls", model.wal_dir, text=True).stdout
        result = ops("restore", str(bad))
        assert result.returncode == ROLLED_BACK, result.stdout + result.stderr
        assert f"runs on its previous data ({ran_on}) and is ready" in result.stderr
        assert _recorded(tree, "TOKMESH_DATA_VOLUME") == ran_on
        _health()
        after = podman("exec", _server_container(), "/bin/ls", model.wal_dir, text=True).stdout.split()
        assert set(before.split()) <= set(after)  # its data, and the WAL segment it opened since


def _recorded(tree, name: str) -> str:
    """NAME's value in the tree's deployments/docker/.env, as compose-ops.sh wrote it."""
    env = (tree / "deployments/docker/.env").read_text()
    (value,) = [line.split("=", 1)[1] for line in env.splitlines() if line.startswith(f"{name}=")]
    return value


def _newest_archive(tree):
    """The last archive compose-ops.sh wrote (<service>-<UTC time>.tar.gz), not a test's own."""
    return max((tree / "backups").glob("*-2???????T??????Z.tar.gz"), key=lambda p: p.stat().st_mtime)


def _volume_files(volume: str, folder: str, model) -> list[str]:
    """What ``folder`` of the server's file system holds in ``volume``."""
    return podman("run", "--rm", "--entrypoint", "/bin/ls", "-v", f"{volume}:/v", f"{COMPOSE_REPOSITORY}:2.0.0",
                  f"/v/{os.path.relpath(folder, model.data_dir)}", text=True).stdout.split()


def _archive_with(archive, model, dest, tamper: bool = False, root_owned_wal: bool = False):
    """``archive`` rewritten, with a checksum file that matches: one WAL segment's bytes changed
    (``tamper``: SHA256SUMS inside no longer holds), or its WAL folder owned by root
    (``root_owned_wal``: the checksums hold, but the server cannot open its next segment and
    exits at start)."""
    wal = os.path.relpath(model.wal_dir, model.data_dir)
    tampered = False
    with tarfile.open(archive) as source, tarfile.open(dest, "w:gz") as out:
        for member in source.getmembers():
            name = os.path.normpath(member.name)
            data = source.extractfile(member).read() if member.isfile() else None
            if root_owned_wal and (name == wal or name.startswith(f"{wal}/")):
                member.uid = member.gid = 0
                member.mode = 0o755 if member.isdir() else 0o644
            if tamper and data and name.startswith(f"{wal}/") and not tampered:
                data, tampered = bytes([data[0] ^ 0xFF]) + data[1:], True
            out.addfile(member, io.BytesIO(data) if data is not None else None)
    assert tampered or not tamper, f"no WAL segment with data in {archive}"
    digest = hashlib.sha256(dest.read_bytes()).hexdigest()
    dest.with_name(f"{dest.name}.sha256").write_text(f"{digest}  {dest.name}\n")
    return dest


def test_two_trees_on_one_host_each_keep_their_own_server_and_volume(
        compose, compose_env, render, tmp_path_factory) -> None:
    """The same service name in two trees: each tree's Compose project keeps its own."""
    ops, model, tree = compose
    other_tree, other = image_tree(render, tmp_path_factory, "ops-compose-other", platforms=["docker"],
                                   http_port=COMPOSE_PORT + 1, image_repository=COMPOSE_REPOSITORY,
                                   compose_publish_address=COMPOSE_HOST, compose_project_name=f"{COMPOSE_PROJECT}-other")
    assert other.service_name == model.service_name
    pid = _health()["pid"]
    other_ops = _ops_runner(other_tree, compose_env)
    try:
        up = other_ops("up")
        assert up.returncode == 0, up.stderr
        assert wait_for_health(COMPOSE_PORT + 1, host=COMPOSE_HOST)["version"] == "1.0.0"
        assert _health()["pid"] == pid  # the first tree's server was left alone
        assert _compose_volumes(other.compose_project_name) == [other.compose_data_volume]
        assert other.compose_data_volume not in _compose_volumes(COMPOSE_PROJECT)
    finally:
        other_ops("down")
        for volume in _compose_volumes(other.compose_project_name):
            podman("volume", "rm", "-f", volume, check=False)
