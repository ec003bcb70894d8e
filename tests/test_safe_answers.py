"""Issue 20: no answer lets the scripts touch a folder or an account the template did not
create.

The answers model refuses the well-known system folders and accounts before anything is
rendered (each refusal names the question, the value and the rule, and writes nothing),
and accepts their dedicated neighbours.  On a host, where any folder or account may
already exist, install-linux.sh marks what it creates (a .tokmesh-deploy file in each
folder, a comment on the account, a group= line in the config folder's marker) and refuses
what it did not create; uninstall-linux.sh --purge deletes only what carries a mark and
says what it kept.  That part runs for real under systemd in a booted Debian container
(systemd-nspawn), one container for all its steps.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import require
from copier import run_copy
from copier.errors import UserMessageError
from runtime.fixtures_cache import build_standin, rootfs_dir
from runtime.nspawn import Container
from runtime.probes import wait_for_health
from tokmesh_answers import validate_answers

# ---- the answers model --------------------------------------------------------------------
# The rules' wording is still moving: each refusal is checked on "question: 'value'" and on
# the fragment that names its rule (for 100m, "milli": the message says why m is no unit).

FOLDER_OF_ITS_OWN = "a folder of its own"
ACCOUNT_OF_ITS_OWN = "an account of its own"
BYTE_UNIT = "byte unit"


def _copy(template: Path, dst: Path, answers: dict) -> None:
    run_copy(str(template), dst, data=answers, defaults=True, unsafe=True, quiet=True, vcs_ref="HEAD")


def _assert_refused(template: Path, tmp_path: Path, answers: dict, question: str, value, rule: str) -> str:
    """The copy stops on ``question``'s ``value`` with ``rule`` in its message, writing nothing."""
    dst = tmp_path / "deploy"
    with pytest.raises((UserMessageError, ValueError)) as raised:
        _copy(template, dst, answers)
    message = str(raised.value)
    assert f"{question}: {value!r}" in message, message
    assert rule in message, message
    assert not dst.exists()
    return message


@pytest.mark.parametrize(("question", "value"), [
    ("service_user", "root"),
    ("service_user", "daemon"),
    ("service_group", "sudo"),
])
def test_a_system_account_is_refused(copier_template: Path, tmp_path: Path, question: str, value: str) -> None:
    """--purge deletes the service account and group: never one the system has."""
    _assert_refused(copier_template, tmp_path, {question: value}, question, value, ACCOUNT_OF_ITS_OWN)


@pytest.mark.parametrize(("question", "value"), [
    ("data_dir", "/var"),
    ("data_dir", "/var/lib"),
    ("data_dir", "/usr"),
    ("config_dir", "/etc"),
    ("config_dir", "/etc/systemd"),
    ("run_dir", "/run/systemd"),
    ("install_dir", "/etc"),
])
def test_a_linux_system_folder_is_refused(copier_template: Path, tmp_path: Path, question: str, value: str) -> None:
    """install chowns these folders and --purge deletes them: never one the system has."""
    _assert_refused(copier_template, tmp_path, {question: value}, question, value, FOLDER_OF_ITS_OWN)


def test_the_root_folder_is_refused_as_a_data_folder(copier_template: Path, tmp_path: Path) -> None:
    """'/' never reaches the folder rule: the path rule already refuses it (no trailing '/')."""
    _assert_refused(copier_template, tmp_path, {"data_dir": "/"}, "data_dir", "/", "must be an absolute POSIX path")


def test_a_tls_certificate_in_a_system_folder_is_refused(copier_template: Path, tmp_path: Path) -> None:
    """install sets the certificate folder's owner and mode: /etc/ssl/certs is everyone's."""
    cert = "/etc/ssl/certs/tokmesh.crt"
    answers = {"tls_enabled": True, "tls_cert_file": cert, "tls_key_file": "/etc/ssl/certs/tokmesh.key"}
    message = _assert_refused(copier_template, tmp_path, answers, "tls_cert_file", cert, FOLDER_OF_ITS_OWN)
    assert "/etc/ssl/certs" in message.split(FOLDER_OF_ITS_OWN, 1)[1], message


@pytest.mark.parametrize(("question", "value"), [
    ("windows_data_dir", "C:\\Users"),
    ("windows_data_dir", "C:\\ProgramData"),
    ("windows_data_dir", "C:\\Windows"),
    ("windows_data_dir", "C:\\Windows\\Temp\\x"),
    ("windows_data_dir", "D:\\Program Files"),
    ("windows_install_dir", "C:\\Program Files"),
])
def test_a_windows_system_folder_is_refused(copier_template: Path, tmp_path: Path, question: str, value: str) -> None:
    """install-windows.ps1 replaces these folders' access lists and -Purge deletes them."""
    _assert_refused(copier_template, tmp_path, {"platforms": ["windows"], question: value}, question, value,
                    FOLDER_OF_ITS_OWN)


@pytest.mark.parametrize(("value", "rule"), [
    ("100m", "milli"),  # a tenth of a byte to Kubernetes, 100 megabytes to Docker: the message says so
    ("512", BYTE_UNIT),  # 512 bytes to both
])
def test_a_memory_size_without_a_byte_unit_is_refused(copier_template: Path, tmp_path: Path, value: str,
                                                       rule: str) -> None:
    _assert_refused(copier_template, tmp_path, {"memory_limit": value}, "memory_limit", value, rule)


# (answers, file of the rendered tree, the line the answer must reach there)
ACCEPTED_NEIGHBOURS = [
    ({"platforms": ["linux"], "data_dir": "/var/lib/tokmesh-server"}, "scripts/install-linux.sh",
     'readonly DATA_DIR="/var/lib/tokmesh-server"'),
    ({"platforms": ["linux"], "data_dir": "/srv/tokmesh"}, "scripts/install-linux.sh",
     'readonly DATA_DIR="/srv/tokmesh"'),
    ({"platforms": ["linux"], "data_dir": "/opt/tokmesh/data"}, "scripts/install-linux.sh",
     'readonly DATA_DIR="/opt/tokmesh/data"'),
    ({"platforms": ["linux"], "install_dir": "/usr/local/bin"}, "scripts/install-linux.sh",
     'readonly INSTALL_DIR="/usr/local/bin"'),
    ({"platforms": ["linux"], "service_user": "tokmesh"}, "scripts/install-linux.sh",
     'readonly SERVICE_USER="tokmesh"'),
    ({"platforms": ["windows"], "windows_data_dir": "C:\\ProgramData\\tokmesh-server"},
     "scripts/install-windows.ps1", "$DataRoot = 'C:\\ProgramData\\tokmesh-server'"),
    ({"platforms": ["windows"], "windows_data_dir": "D:\\tokmesh"}, "scripts/install-windows.ps1",
     "$DataRoot = 'D:\\tokmesh'"),
    ({"platforms": ["kubernetes"], "memory_limit": "100Mi"}, "deployments/kubernetes/statefulset.yaml",
     'memory: "100Mi"'),
    ({"platforms": ["kubernetes"], "memory_limit": "1G"}, "deployments/kubernetes/statefulset.yaml",
     'memory: "1G"'),
]


def _neighbour_id(answers: dict) -> str:
    return next(f"{name}={value}" for name, value in answers.items() if name != "platforms")


@pytest.mark.parametrize(("answers", "file", "line"), ACCEPTED_NEIGHBOURS,
                         ids=[_neighbour_id(answers) for answers, _, _ in ACCEPTED_NEIGHBOURS])
def test_a_dedicated_neighbour_is_accepted(copier_template: Path, tmp_path: Path, answers: dict, file: str,
                                           line: str) -> None:
    """The folder or account of the service's own beside each refused one renders, and
    reaches the file that uses it."""
    _copy(copier_template, tmp_path / "deploy", answers)
    assert line in (tmp_path / "deploy" / file).read_text()


@pytest.mark.parametrize("service_name", ["tokmesh-server", "cache-edge"])
def test_the_account_mark_is_a_comment_useradd_takes(service_name: str) -> None:
    """install-linux.sh marks the account it creates with this comment (useradd --comment):
    shadow's useradd refuses a comment with ':' (the passwd field separator) or a newline,
    and the install would stop there."""
    comment = validate_answers({"service_name": service_name}).account_comment
    assert service_name in comment
    assert ":" not in comment and "\n" not in comment, f"useradd refuses the comment {comment!r}"


# ---- on a host: systemd-nspawn ------------------------------------------------------------

# A port of its own: the other runtime tests' containers share the host's network.
RUNTIME_ANSWERS = {"platforms": ["linux"], "http_port": 7580}
OPERATOR_FOLDER = "/var/lib/other"  # beside the data folder, made by the operator
OPERATOR_BACKUPS = "/srv/operator-backups"  # where the operator keeps backups
KEPT_BACKUP = "/root/kept-backup"  # an archive of a marked data folder, kept across steps


def _booted(render, tmp_path_factory, given: dict) -> Iterator[tuple[Container, object]]:
    """A booted container with the tree of ``given`` at /opt/payload and the stand-in in its
    bin/; nothing installed."""
    require(os.geteuid() == 0, "needs root for systemd-nspawn")
    for tool in ("systemd-nspawn", "debootstrap", "nsenter", "go"):
        require(shutil.which(tool) is not None, f"{tool} is not installed")
    answers = validate_answers(given)
    payload = tmp_path_factory.mktemp("safe-payload")
    shutil.copytree(render(given), payload, dirs_exist_ok=True)
    payload.chmod(0o755)
    build_standin(payload / "bin" / answers.service_name, payload)
    with Container(rootfs_dir(), payload, payload.parent / f"{payload.name}-nspawn.log") as container:
        container.run("systemctl", "is-system-running", "--wait", check=False)  # boot's own writes done
        yield container, answers


@pytest.fixture(scope="class")
def host(render, tmp_path_factory) -> Iterator[tuple[Container, object]]:
    """A Linux-only tree's host.  Each test below starts from a host without the service (see _reset)."""
    yield from _booted(render, tmp_path_factory, RUNTIME_ANSWERS)


# The certificate where certbot keeps it: a folder other services read too.
CERTBOT_LIVE = "/etc/letsencrypt/live/cache.example"
TLS_ANSWERS = {**RUNTIME_ANSWERS, "tls_enabled": True, "tls_cert_file": f"{CERTBOT_LIVE}/fullchain.pem",
               "tls_key_file": f"{CERTBOT_LIVE}/privkey.pem"}


@pytest.fixture(scope="class")
def tls_host(render, tmp_path_factory) -> Iterator[tuple[Container, object]]:
    yield from _booted(render, tmp_path_factory, TLS_ANSWERS)


def _script(container: Container, name: str, *args: str):
    return container.run(f"/opt/payload/scripts/{name}", *args, check=False)


def _install(container: Container, *args: str):
    return _script(container, "install-linux.sh", "--bin-dir", "/opt/payload/bin", *args)


def _purge(container: Container) -> str:
    purged = _script(container, "uninstall-linux.sh", "--purge")
    assert purged.returncode == 0, purged.stdout + purged.stderr
    return purged.stdout


def _exists(container: Container, path: str) -> bool:
    return container.run("test", "-e", path, check=False).returncode == 0


def _account(container: Container, database: str, name: str) -> str:
    """The passwd or group line of ``name``, or ''."""
    return container.run("getent", database, name, check=False).stdout.strip()


def _stat(container: Container, path: str) -> str:
    return container.run("stat", "-c", "%U:%G %a", path).stdout.strip()


def _reset(container: Container, a) -> None:
    """No service, no folder, account or group of it: what each step starts from."""
    container.run("sh", "-c", f"""
        systemctl disable --now {a.service_name} 2>/dev/null
        rm -f /etc/systemd/system/{a.unit_name} {a.server_binary}; systemctl daemon-reload
        rm -rf {a.config_dir} {a.data_dir} {a.data_dir}.replaced-* {a.backup_dir} {OPERATOR_FOLDER} {OPERATOR_BACKUPS}
        userdel {a.service_user} 2>/dev/null; groupdel {a.service_group} 2>/dev/null; true""")
    for path in (a.config_dir, a.data_dir, a.server_binary, f"/etc/systemd/system/{a.unit_name}"):
        assert not _exists(container, path), path
    assert not _account(container, "passwd", a.service_user) and not _account(container, "group", a.service_group)


def _refused_changing_nothing(container: Container, *args: str):
    """install-linux.sh run with ``args``: refused, with no file on the root file system
    newer than its start (the journal aside)."""
    container.run("sh", "-c", "touch /tmp/before-install && sleep 0.1")
    refused = _install(container, *args)
    assert refused.returncode == 2, refused.stdout + refused.stderr  # refused: nothing changed
    # The journal and systemd's own state (timers' stamps, after boot) change on their own.
    changed = container.run("find", "/", "-xdev", "-newer", "/tmp/before-install", "-not", "-path", "/var/log/*",
                            "-not", "-path", "/var/lib/systemd/*").stdout.split()
    assert changed == [], f"{refused.stderr}\nchanged: {changed}"
    return refused


@pytest.mark.integration
class TestPurgeKeepsWhatInstallDidNotCreate:
    """In order, in one container; each step starts from a host without the service."""

    def test_an_existing_account_is_refused_and_nothing_changes(self, host) -> None:
        container, a = host
        _reset(container, a)
        container.run("useradd", "--system", a.service_user)  # the operator's, as if it pre-existed
        refused = _refused_changing_nothing(container)
        assert f"the account {a.service_user}" in refused.stderr
        assert "did not create it" in refused.stderr and "--existing-account" in refused.stderr
        for path in (a.config_dir, a.data_dir, a.server_binary, f"/etc/systemd/system/{a.unit_name}"):
            assert not _exists(container, path), path

    def test_with_existing_account_it_installs_and_purge_keeps_the_account(self, host) -> None:
        container, a = host
        # Still the operator's account (and the group useradd made with it) from the step before.
        account, group = _account(container, "passwd", a.service_user), _account(container, "group", a.service_group)
        assert account and group
        installed = _install(container, "--existing-account")
        assert installed.returncode == 0, installed.stdout + installed.stderr
        uid = int(container.run("id", "-u", a.service_user).stdout)
        assert wait_for_health(a.http_port)["uid"] == uid
        assert _exists(container, f"{a.config_dir}/{a.install_marker}")
        assert _exists(container, f"{a.data_dir}/{a.install_marker}")

        output = _purge(container)
        assert f"kept the account {a.service_user}: install-linux.sh did not create it" in output
        assert f"kept the group {a.service_group}: install-linux.sh did not create it" in output
        assert _account(container, "passwd", a.service_user) == account
        assert _account(container, "group", a.service_group) == group
        assert not _exists(container, a.config_dir) and not _exists(container, a.data_dir)

    def test_purge_keeps_an_existing_group_when_it_deletes_the_account(self, host) -> None:
        """userdel also deletes a group named like the account when it is the account's
        primary group (USERGROUPS_ENAB): purge must not let it take the operator's."""
        container, a = host
        _reset(container, a)
        container.run("groupadd", "--system", a.service_group)
        group = _account(container, "group", a.service_group)
        installed = _install(container)
        assert installed.returncode == 0, installed.stdout + installed.stderr
        assert f"created user {a.service_user}" in installed.stdout
        assert "created group" not in installed.stdout

        output = _purge(container)
        assert f"deleted the account {a.service_user}" in output
        assert f"kept the group {a.service_group}: install-linux.sh did not create it" in output
        assert not _account(container, "passwd", a.service_user)
        assert _account(container, "group", a.service_group) == group

    def test_purge_deletes_what_install_and_restore_made_and_nothing_beside(self, host) -> None:
        container, a = host
        _reset(container, a)
        container.run("sh", "-c", f"mkdir -p {OPERATOR_FOLDER} && echo mine > {OPERATOR_FOLDER}/notes")
        operator_folder = container.run("ls", "-lA", OPERATOR_FOLDER).stdout
        installed = _install(container)
        assert installed.returncode == 0, installed.stdout + installed.stderr
        assert f"created group {a.service_group}" in installed.stdout
        assert f"created user {a.service_user}" in installed.stdout
        assert f"group={a.service_group}" in container.run("cat", f"{a.config_dir}/{a.install_marker}").stdout
        wait_for_health(a.http_port)

        # A backup into a folder of the operator's leaves that folder as it was; the archive is root's alone.
        container.run("install", "-d", "-o", "root", "-g", "adm", "-m", "0750", OPERATOR_BACKUPS)
        backup = _script(container, "backup-linux.sh", "--output", OPERATOR_BACKUPS)
        assert backup.returncode == 0, backup.stdout + backup.stderr
        assert _stat(container, OPERATOR_BACKUPS) == "root:adm 750"
        archive = container.run("sh", "-c", f"ls {OPERATOR_BACKUPS}/*.tar.gz").stdout.strip()
        assert _stat(container, archive) == "root:root 600" and _stat(container, f"{archive}.sha256") == "root:root 600"
        container.run("sh", "-c", f"mkdir {KEPT_BACKUP} && cp -p {archive} {archive}.sha256 {KEPT_BACKUP}/")

        # A restore keeps the data it replaced beside the data folder, and its mark.
        restored = _script(container, "restore-linux.sh", archive)
        assert restored.returncode == 0, restored.stdout + restored.stderr
        replaced = container.run("sh", "-c", f"ls -d {a.data_dir}.replaced-*").stdout.split()
        assert len(replaced) == 1
        assert _exists(container, f"{a.data_dir}/{a.install_marker}")

        # The operator's drop-in (systemctl edit) is theirs.
        drop_in = f"/etc/systemd/system/{a.unit_name}.d"
        container.run("sh", "-c", f"mkdir -p {drop_in} && printf '[Service]\\nNice=5\\n' > {drop_in}/override.conf")

        output = _purge(container)
        assert f"kept {drop_in}" in output and _exists(container, f"{drop_in}/override.conf")
        container.run("rm", "-r", drop_in)
        for path in (a.data_dir, replaced[0], a.config_dir):
            assert f"deleted {path}" in output
            assert not _exists(container, path), path
        assert f"deleted the account {a.service_user}" in output
        assert f"deleted the group {a.service_group}" in output
        assert not _account(container, "passwd", a.service_user) and not _account(container, "group", a.service_group)
        assert not _exists(container, a.server_binary)
        assert container.run("ls", "-lA", OPERATOR_FOLDER).stdout == operator_folder
        assert container.run("cat", f"{OPERATOR_FOLDER}/notes").stdout == "mine\n"
        assert _exists(container, OPERATOR_BACKUPS) and _exists(container, archive)

    def test_a_data_folder_holding_files_it_did_not_create_is_refused_and_left_as_it_was(self, host) -> None:
        container, a = host
        _reset(container, a)
        container.run("install", "-d", "-o", "nobody", "-g", "nogroup", "-m", "0711", a.data_dir)
        container.run("sh", "-c", f"echo precious > {a.data_dir}/important.db")
        refused = _refused_changing_nothing(container)
        assert f"{a.data_dir} holds files this script did not create" in refused.stderr
        assert "--adopt" in refused.stderr
        assert _stat(container, a.data_dir) == "nobody:nogroup 711"
        assert container.run("ls", "-A", a.data_dir).stdout.split() == ["important.db"]
        assert not _account(container, "passwd", a.service_user) and not _account(container, "group", a.service_group)
        assert not _exists(container, a.config_dir)

    def test_an_empty_prepared_data_folder_is_taken_and_purge_keeps_it(self, host) -> None:
        """An empty folder (a prepared mount point) is the service's without a mark: install
        takes it, a restore keeps it unmarked, --purge keeps it and says why, and deletes
        what install created (the config folder, the account, the group)."""
        container, a = host
        container.run("rm", f"{a.data_dir}/important.db")  # the folder of the step before, now empty
        assert _stat(container, a.data_dir) == "nobody:nogroup 711"
        installed = _install(container)
        assert installed.returncode == 0, installed.stdout + installed.stderr
        assert f"created {a.data_dir}" not in installed.stdout
        assert _stat(container, a.data_dir) == f"{a.service_user}:{a.service_group} 750"
        assert not _exists(container, f"{a.data_dir}/{a.install_marker}")
        wait_for_health(a.http_port)

        # The archive of a marked data folder, restored here, does not mark this one.
        kept = container.run("sh", "-c", f"ls {KEPT_BACKUP}/*.tar.gz", check=False).stdout.split()
        assert kept, "the step before the refused one keeps an archive of its marked data folder"
        restored = _script(container, "restore-linux.sh", kept[0])
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert not _exists(container, f"{a.data_dir}/{a.install_marker}")
        replaced = container.run("sh", "-c", f"ls -d {a.data_dir}.replaced-*").stdout.split()
        assert len(replaced) == 1  # the prepared folder, moved aside

        output = _purge(container)
        for path in (a.data_dir, *replaced):
            assert f"kept {path}: install-linux.sh did not create it" in output
            assert _exists(container, path), path
        assert f"deleted {a.config_dir}" in output and not _exists(container, a.config_dir)
        assert f"deleted the account {a.service_user}" in output
        assert f"deleted the group {a.service_group}" in output
        assert not _account(container, "passwd", a.service_user) and not _account(container, "group", a.service_group)

    def test_adopt_takes_an_earlier_installs_data_folder_and_purge_may_delete_it(self, host) -> None:
        """An install from before the markers left its data: --adopt marks the folder, keeps
        what is in it, and a later --purge deletes it like any folder install created."""
        container, a = host
        _reset(container, a)
        container.run("install", "-d", "-m", "0750", a.data_dir)
        container.run("sh", "-c", f"echo earlier > {a.data_dir}/earlier-install.db")
        installed = _install(container, "--adopt")
        assert installed.returncode == 0, installed.stdout + installed.stderr
        assert f"adopted {a.data_dir} (--adopt)" in installed.stdout
        assert _exists(container, f"{a.data_dir}/{a.install_marker}")
        assert container.run("cat", f"{a.data_dir}/earlier-install.db").stdout == "earlier\n"
        assert _stat(container, a.data_dir) == f"{a.service_user}:{a.service_group} 750"
        wait_for_health(a.http_port)

        output = _purge(container)
        assert f"deleted {a.data_dir}" in output and not _exists(container, a.data_dir)

    def test_a_runtime_folder_of_another_program_is_refused(self, host) -> None:
        """systemd deletes the service's runtime folder when it stops: a folder already there
        while the service is not running is someone else's."""
        container, a = host
        _reset(container, a)
        container.run("install", "-d", "-m", "0755", a.run_dir)
        refused = _refused_changing_nothing(container)
        assert f"{a.run_dir} is there while {a.service_name} is not running" in refused.stderr
        assert _exists(container, a.run_dir)
        container.run("rmdir", a.run_dir)


@pytest.mark.integration
class TestACertificateFolderOfTheOperators:
    def test_install_and_purge_leave_it_as_it_was(self, tls_host) -> None:
        container, a = tls_host
        container.run("sh", "-c", f"install -d -m 0755 {CERTBOT_LIVE} && touch {CERTBOT_LIVE}/fullchain.pem "
                                  f"{CERTBOT_LIVE}/privkey.pem && chmod 0644 {CERTBOT_LIVE}/*.pem")
        before = container.run("ls", "-lA", CERTBOT_LIVE).stdout
        installed = _install(container, "--no-start")
        assert installed.returncode == 0, installed.stdout + installed.stderr
        assert f"left {CERTBOT_LIVE} as it is (not this script's)" in installed.stdout
        assert container.run("ls", "-lA", CERTBOT_LIVE).stdout == before

        output = _purge(container)
        assert f"kept {CERTBOT_LIVE}: install-linux.sh did not create it" in output
        assert container.run("ls", "-lA", CERTBOT_LIVE).stdout == before
        assert not _exists(container, a.config_dir) and not _exists(container, a.data_dir)
