"""Every rule of the answers model: a bad answer names question, value and rule, and
nothing is written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from copier import run_copy
from copier.errors import UserMessageError
from tokmesh_answers import PLATFORMS, Answers, field_problem, offered_default

# (answers, the text the error must contain)
BROKEN_RULES = [
    # Who may reach the API.
    ({"client_networks": ["10.0.0.1/8"]}, "client_networks: ['10.0.0.1/8'] must be networks, not hosts in them: "
     "'10.0.0.1/8' has host bits set (did you mean 10.0.0.0/8?)"),
    ({"client_networks": ["10.0.0.0"]}, "'10.0.0.0' has no /prefix"),
    ({"client_networks": "10.0.0.0/8"}, "client_networks: '10.0.0.0/8' must be a list in brackets: such as [a, b]"),
    ({"client_networks": ["10.0.0.0/33"]}, "must be CIDR networks: such as 10.0.0.0/8 or 2001:db8::/32, but '10.0.0.0/33' is none"),
    ({"client_networks": ["fd00::1/64"]}, "'fd00::1/64' has host bits set (did you mean fd00::/64?)"),
    ({"client_networks": ["0.0.0.0/0", "10.0.0.0/8"]}, "must list 0.0.0.0/0 alone: it lets every address in, which makes the other entries pointless"),
    ({"client_networks": ["::/0", "fd00::/8"]}, "must list ::/0 alone"),
    ({"client_networks": ["10.0.0.0/8", "10.0.0.0/8"]}, "must name each network once"),
    ({"client_networks": ["10.0.0.0/8; rm -rf /"]}, "is none"),
    ({"client_namespaces": ["Web"]}, "client_namespaces: ['Web'] must be a DNS label"),
    ({"compose_publish_address": "localhost"}, "compose_publish_address: 'localhost' must be an IP address: IPv4 or IPv6"),
    ({"compose_publish_address": "0.0.0.0:5080"}, "must be an IP address: IPv4 or IPv6"),
    ({"compose_project_name": "Cache"}, "compose_project_name: 'Cache' must be a project name: lowercase letters"),
    ({"compose_project_name": "_cache"}, "must be a project name"),
    ({"compose_project_name": "no"}, "compose_project_name: 'no' must not be a YAML keyword"),
    ({"service_name": "TokMesh"}, "service_name: 'TokMesh' must be a DNS label"),
    ({"service_name": "-tokmesh"}, "service_name: '-tokmesh' must be a DNS label"),
    ({"service_name": "1cache"}, "service_name: '1cache' must be a DNS label: lowercase letters, digits and '-', starting with a letter"),
    ({"k8s_namespace": "n"}, "k8s_namespace: 'n' must not be a YAML keyword"),
    ({"storage_class": "true"}, "storage_class: 'true' must not be a YAML keyword"),
    ({"service_name": "t" * 64}, "is too long: at most 63 characters"),
    # Kubernetes: what the API server and the StatefulSet controller refuse.
    ({"service_name": "t" * 53}, "service_name: '" + "t" * 53 + "' is too long for Kubernetes: the "
     "controller-revision-hash label value <name>-<hash of 10> would have 64 characters, more than 63"),
    ({"k8s_namespace": "kube-system"}, "k8s_namespace: 'kube-system' must be a namespace of its own: the cluster owns kube-* and default"),
    ({"k8s_namespace": "default"}, "k8s_namespace: 'default' must be a namespace of its own"),
    ({"cpu_request": "1.5", "cpu_limit": "1200m"}, "cpu_request: '1.5' must not exceed cpu_limit (1200m)"),
    ({"memory_request": "1.5Gi", "memory_limit": "1536Mi", "cpu_request": "2.0001", "cpu_limit": "2"},
     "cpu_request: '2.0001' must not exceed cpu_limit (2)"),
    ({"storage_size": "0Gi"}, "storage_size: '0Gi' must be above zero"),
    ({"memory_limit": "0.0Gi"}, "memory_limit: '0.0Gi' must be above zero"),
    ({"cpu_limit": "1.5x"}, "cpu_limit: '1.5x' must be a Kubernetes quantity"),
    ({"image_repository": "MyOrg/tokmesh"}, "'MyOrg' is no lowercase path component (a first component "
     "names a registry only with a '.', a ':' or as localhost)"),
    ({"runtime_image": "Mirror/alpine:3.20"}, "runtime_image: 'Mirror/alpine:3.20' must be an image reference"),
    ({"builder_image": "golang:1.23@sha256:abc"}, "must end in a sha256 digest, if any: @sha256:"),
    ({"cluster_domain": "Cluster.Local"}, "cluster_domain: 'Cluster.Local' must be a DNS subdomain"),
    ({"cluster_domain": "c" * 64 + ".local"}, "has a label too long: at most 63 characters between dots"),
    ({"cluster_domain": ".".join(["d" * 60] * 4)}, "is too long: the pods' DNS names would have"),
    ({"cert_manager_issuer": "internal-ca"}, "cert_manager_issuer: 'internal-ca' needs tls_enabled"),
    ({"tls_enabled": True, "cert_manager_issuer": "Internal_CA"},
     "cert_manager_issuer: 'Internal_CA' must be a DNS subdomain"),
    ({"platforms": []}, "platforms: [] must name at least one platform"),
    # Choice questions: Copier itself refuses a value outside the choices.
    ({"platforms": ["macos"]}, "Invalid choice for 'platforms': 'macos' is not in"),
    ({"http_port": 0}, "http_port: 0 must be between 1024 and 65535"),
    ({"http_port": 443}, "http_port: 443 must be between 1024 and 65535: the server runs without privileges"),
    ({"cluster_port": 65536}, "cluster_port: 65536 must be between 1024 and 65535"),
    ({"cluster_port": 5080}, "cluster_port: 5080 is already used by http_port"),
    ({"cluster_port": 5343, "gossip_port": 5343}, "gossip_port: 5343 is already used by cluster_port"),
    ({"redis_enabled": True, "redis_port": 5080}, "redis_port: 5080 is already used by http_port"),
    ({"listen_address": "localhost"}, "listen_address: 'localhost' must be an IP address: IPv4 or IPv6"),
    ({"builder_image": "golang:1.23-bookworm"}, "builder_image: 'golang:1.23-bookworm' has Go 1.23: tokmesh-go needs Go 1.24"),
    ({"builder_image": "golang:1.24-alpine"}, "builder_image: 'golang:1.24-alpine' is Alpine-based: the Dockerfile installs protoc with apt-get"),
    (
        {"tls_enabled": True, "tls_cert_file": "/etc/tls/a.crt", "tls_key_file": "/etc/keys/a.key"},
        "tls_key_file: '/etc/keys/a.key' must be beside the certificate: in the folder of tls_cert_file",
    ),
    (
        {"tls_enabled": True, "tls_cert_file": "/etc/tokmesh-server/a.crt",
         "tls_key_file": "/etc/tokmesh-server/a.key"},
        "must be in a folder of its own, not directly in config_dir",
    ),
    (
        {"tls_enabled": True, "tls_cert_file": "/etc/tls/a.pem", "tls_key_file": "/etc/tls/a.pem"},
        "tls_key_file: must differ from tls_cert_file",
    ),
    ({"install_dir": "usr/local/bin"}, "install_dir: 'usr/local/bin' must be an absolute POSIX path"),
    ({"config_dir": "/etc/../root"}, "config_dir: '/etc/../root' must not have . or .. segments"),
    ({"data_dir": "/var/lib/tok mesh"}, "data_dir: '/var/lib/tok mesh' must be an absolute POSIX path"),
    ({"data_dir": "/var/lib/x/"}, "must be an absolute POSIX path"),
    ({"data_dir": "/" + "a" * 200}, "is too long: at most 200 characters"),
    ({"data_dir": "/etc/tokmesh-server/data"}, "data_dir: '/etc/tokmesh-server/data' must be apart from config_dir: it overlaps '/etc/tokmesh-server'"),
    ({"run_dir": "/var/tmp/tokmesh"}, "run_dir: '/var/tmp/tokmesh' must be below /run"),
    ({"data_dir": "/home/tokmesh"}, "data_dir: '/home/tokmesh' must not be below /home"),
    ({"service_user": "Tok Mesh"}, "service_user: 'Tok Mesh' must be a POSIX account name"),
    ({"service_group": "1group"}, "service_group: '1group' must be a POSIX account name"),
    ({"log_level": "verbose"}, "Invalid choice for 'log_level': 'verbose' is not in"),
    ({"shutdown_timeout_seconds": 0}, "shutdown_timeout_seconds: 0 must be from 1 to 3600"),
    ({"windows_install_dir": "Program Files"}, "windows_install_dir: 'Program Files' must be a full Windows path"),
    ({"windows_data_dir": "C:\\Data\\..\\Windows"}, "must not have . or .. folders"),
    ({"image_repository": "TokMesh/Server"}, "image_repository: 'TokMesh/Server' must be an image repository"),
    ({"image_tag": "latest"}, "image_tag: 'latest' must be a pinned version"),
    ({"image_tag": "-1"}, "image_tag: '-1' must be an OCI tag"),
    ({"image_digest": "sha256:abc"}, "image_digest: 'sha256:abc' must be empty or sha256:"),
    ({"builder_image": "golang 1.23"}, "builder_image: 'golang 1.23' must be an image reference"),
    ({"runtime_image": "Alpine"}, "runtime_image: 'Alpine' must be an image reference"),
    ({"container_uid": 1000}, "container_uid: 1000 must be from 10000 to 2147483647"),
    ({"replicas": 0}, "replicas: 0 must be from 1 to 99"),
    ({"k8s_namespace": "Prod"}, "k8s_namespace: 'Prod' must be a DNS label"),
    ({"k8s_service_type": "ExternalName"}, "Invalid choice for 'k8s_service_type': 'ExternalName'"),
    ({"storage_size": "10 GB"}, "storage_size: '10 GB' must be a size with a byte unit, such as 512Mi"),
    ({"storage_class": "Fast_SSD"}, "storage_class: 'Fast_SSD' must be a storage class or empty"),
    ({"cpu_request": "2", "cpu_limit": "1"}, "cpu_request: '2' must not exceed cpu_limit (1)"),
    ({"memory_request": "1Gi", "memory_limit": "512Mi"}, "memory_request: '1Gi' must not exceed memory_limit"),
]


@pytest.mark.parametrize(("answers", "message"), BROKEN_RULES, ids=lambda v: str(v)[:60])
def test_broken_rule_is_named_and_nothing_is_written(copier_template: Path, tmp_path: Path, answers, message) -> None:
    dst = tmp_path / "deploy"
    # UserMessageError from the answers model; ValueError from Copier's choice check.
    with pytest.raises((UserMessageError, ValueError)) as raised:
        run_copy(str(copier_template), dst, data=answers, defaults=True, unsafe=True, quiet=True, vcs_ref="HEAD")
    assert message in str(raised.value)
    assert not dst.exists()


def test_bad_answer_on_the_command_line_gives_one_clean_line(copier_template: Path, tmp_path: Path) -> None:
    dst = tmp_path / "deploy"
    result = subprocess.run(
        [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--vcs-ref", "HEAD",
         "--data", "http_port=5343", "--data", "cluster_port=5343", str(copier_template), str(dst)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cluster_port: 5343 is already used by http_port; the ports must be distinct" in result.stderr
    assert not dst.exists()


def test_default_values_are_checked_too(copier_template: Path, tmp_path: Path) -> None:
    """--defaults skips copier's validators; the answers model is the final gate."""
    dst = tmp_path / "deploy"
    result = subprocess.run(
        [sys.executable, "-m", "copier", "copy", "--trust", "--defaults", "--vcs-ref", "HEAD",
         "--data", "platforms=[linux]", "--data", "config_dir=/home/cfg", str(copier_template), str(dst)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "config_dir: '/home/cfg' must not be below /home" in result.stderr
    assert not dst.exists()


@pytest.mark.parametrize(
    ("name", "value", "known", "message"),
    [
        ("platforms", ["macos"], {},
         "platforms: ['macos'] must be one of 'linux', 'windows', 'docker' or 'kubernetes'"),
        ("log_level", "verbose", {}, "log_level: 'verbose' must be one of 'debug', 'info', 'warn' or 'error'"),
        ("cluster_port", 5343, {"http_port": 5343, "platforms": ["kubernetes"]},
         "cluster_port: 5343 is already used by http_port; the ports must be distinct"),
        ("service_name", "ok-name", {}, ""),
    ],
)
def test_interactive_validator_names_the_rule(name: str, value, known: dict, message: str) -> None:
    """What copier.yml's validators show before asking again ('' lets the answer through)."""
    assert field_problem(name, value, known) == message


@pytest.mark.parametrize(
    ("name", "earlier", "offered"),
    [
        ("cluster_port", {"http_port": 5343}, 5344),
        ("gossip_port", {"http_port": 5344, "cluster_port": 5343}, 5345),
        ("gossip_port", {"http_port": 5080, "redis_enabled": True, "redis_port": 5344, "cluster_port": 5345}, 5346),
        ("redis_port", {"http_port": 6379, "redis_enabled": True}, 6380),
        ("memory_request", {"memory_limit": "100Mi"}, "100Mi"),
        ("cpu_request", {"cpu_limit": "50m"}, "50m"),
        ("data_dir", {"config_dir": "/var/lib/tokmesh-server"}, "/var/lib/tokmesh-server-data"),
        ("run_dir", {"config_dir": "/run/tokmesh-server"}, "/run/tokmesh-server-run"),
        ("tls_key_file", {"tls_enabled": True, "tls_cert_file": "/etc/t/tls/server.pem"}, "/etc/t/tls/server.key"),
        ("tls_key_file", {"tls_enabled": True, "tls_cert_file": "/etc/t/tls/server.key"}, "/etc/t/tls/server.key.key"),
        ("cluster_port", {"http_port": 5080}, 5343),  # no clash: the usual default
    ],
)
def test_a_default_steps_aside_from_an_earlier_answer_it_would_clash_with(name: str, earlier: dict, offered) -> None:
    """Copier checks a default before it asks and stops the run on one that breaks a rule:
    what a question offers is accepted after any earlier answers."""
    known = {"platforms": list(PLATFORMS), **earlier}
    assert offered_default(name, known) == offered
    assert field_problem(name, offered, known) == ""


@pytest.mark.parametrize(("answers", "message"), BROKEN_RULES, ids=lambda v: str(v)[:60])
def test_every_refusal_shows_whole_clauses_at_an_80_column_prompt(answers: dict, message: str) -> None:
    """Copier shows a refusal on one line after "Validation error for question 'NAME': ",
    cut at the terminal's edge: the prompt shows as many whole clauses of the rule as fit,
    and the first always fits."""
    # Imported here: the docs' build reads this module's cases only.
    from tokmesh_jinja import COPIER_REFUSAL_PREFIX, rule_at_prompt

    for name, value in answers.items():
        if name not in Answers.model_fields:
            continue
        problem = field_problem(name, value, {"platforms": list(PLATFORMS), **answers})
        if not problem:
            continue
        line = COPIER_REFUSAL_PREFIX.format(name=name) + rule_at_prompt(name, value, problem, columns=80)
        assert not line.endswith("…") and len(line) <= 80, line
