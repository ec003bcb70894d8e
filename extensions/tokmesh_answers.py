"""The answers model of tokmesh-deploy.

One pydantic model holds the whole answer set.  Each answer's own rule is a type
from tokmesh_rules.py; here are the rules that span several answers (and what the
Kubernetes API server would refuse), and the derived values the platforms share:
paths, the server's config per platform, ports, who may reach the API, health and the
timeouts that systemd, Compose, Kubernetes and Windows share.  Each platform's own
derived values are in tokmesh_platforms.py, mixed into the model.

Templates read only from this model (as ``tm``); they compute nothing.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from tokmesh_platforms import ComposeValues, ImageValues, KubernetesValues, SystemdValues, WindowsValues
from tokmesh_rules import (
    YAML_KEYWORDS,
    BinaryFolder,
    BuilderImage,
    ByteSize,
    ClientNetworks,
    ComposeProjectName,
    DedicatedPosixFolder,
    DedicatedWindowsFolder,
    DnsLabel,
    DnsSubdomain,
    ImageDigest,
    ImageReference,
    ImageRepository,
    ImageTag,
    IpAddress,
    OptionalDnsSubdomain,
    Port,
    PosixPath,
    Quantity,
    StorageClass,
    ServiceAccount,
    WholeNumber,
    linux_system_folder,
    quantity_value,
)

PLATFORMS = ("linux", "windows", "docker", "kubernetes")

# The server drains in-flight requests for ``shutdown_timeout_seconds`` seconds; every
# supervisor waits this much longer before it kills the process.
STOP_GRACE_MARGIN_SECONDS = 5
# systemd's RestartSec and the pause between Windows recovery actions.
RESTART_DELAY_SECONDS = 5
# An upgraded server counts as good once it has stayed up this long after answering /ready:
# three restart delays, so that a crash soon after the first answer shows as a restart.
UPGRADE_SETTLE_SECONDS = 3 * RESTART_DELAY_SECONDS
# What the operation scripts' exit codes mean (the tree's README lists them): 0 done,
# 1 an unexpected error, and these.
OPERATION_EXIT_CODES = {
    "refused": 2,  # bad input or a precondition not met: nothing was changed
    "rolled_back": 3,  # it failed, and what ran before runs again and is ready
    "down": 4,  # it failed and the service is not ready: the operator acts now
}
# How long a starting server may take to answer /ready: Kubernetes' startup probe
# (every STARTUP_PROBE_PERIOD_SECONDS) and the upgrade scripts' wait share it.
STARTUP_BUDGET_SECONDS = 60
STARTUP_PROBE_PERIOD_SECONDS = 2
# The server's own drain budget: main.go passes 30 s to its shutdown handler.
SERVER_DRAIN_SECONDS = 30
INSTALL_MARKER = ".tokmesh-deploy"
# What `copier update` of a rendered tree needs: Copier, the loader of this template's
# extensions, and pydantic for the answers model (the versions requirements.lock pins).
UPDATE_REQUIREMENTS = ("copier==9.19.1", "copier-template-extensions==0.3.4", "pydantic==2.14.4")


class ServerConfig:
    """What one platform's config file hands tokmesh-go, in its own schema (keys as
    tests/contract/tokmesh-go.yml lists them)."""

    def __init__(self, answers: Answers, listen_address: str, data_dir: str, tls_cert_file: str,
                 tls_key_file: str) -> None:
        self.http_addr = host_port(listen_address, answers.http_port)
        self.redis_enabled = answers.redis_enabled
        self.redis_addr = host_port(listen_address, answers.redis_port)
        self.data_dir = data_dir
        self.tls_enabled = answers.tls_enabled
        self.tls_cert_file = tls_cert_file
        self.tls_key_file = tls_key_file
        self.log_level = answers.log_level


def host_port(host: str, port: int) -> str:
    """host:port as Go's net package reads it (an IPv6 address in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class AnswerError(ValueError):
    """One or more answers break their rules; the text names each one."""


# The StatefulSet controller labels each revision controller-revision-hash=<name>-<hash>,
# the hash up to 10 characters; a label value holds at most 63.
REVISION_HASH_LENGTH = 10
# Namespaces a cluster keeps for itself, or shares with everything not placed elsewhere.
CLUSTER_NAMESPACE_PREFIX = "kube-"
SHARED_NAMESPACE = "default"


class Answers(SystemdValues, WindowsValues, ImageValues, ComposeValues, KubernetesValues, BaseModel):
    """The operator's answers, as copier.yml asks them, plus everything derived."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=False)

    service_name: DnsLabel = "tokmesh-server"
    platforms: list[Literal["linux", "windows", "docker", "kubernetes"]] = Field(
        default_factory=lambda: list(PLATFORMS)
    )
    http_port: Port = 5080
    cluster_port: Port = 5343
    gossip_port: Port = 5344
    listen_address: IpAddress = "0.0.0.0"
    redis_enabled: bool = False
    redis_port: Port = 6379
    tls_enabled: bool = False
    tls_cert_file: PosixPath = "/etc/tokmesh-server/tls/tls.crt"
    tls_key_file: PosixPath = "/etc/tokmesh-server/tls/tls.key"
    log_level: Literal["debug", "info", "warn", "error"] = "info"
    shutdown_timeout_seconds: Annotated[WholeNumber, Field(ge=1, le=3600)] = 30

    install_dir: BinaryFolder = "/usr/local/bin"
    config_dir: DedicatedPosixFolder = "/etc/tokmesh-server"
    data_dir: DedicatedPosixFolder = "/var/lib/tokmesh-server"
    run_dir: DedicatedPosixFolder = "/run/tokmesh-server"
    service_user: ServiceAccount = "tokmesh"
    service_group: ServiceAccount = "tokmesh"

    windows_install_dir: DedicatedWindowsFolder = "C:\\Program Files\\TokMesh"
    windows_data_dir: DedicatedWindowsFolder = "C:\\ProgramData\\tokmesh-server"

    image_repository: ImageRepository = "tokmesh/tokmesh-server"
    image_tag: ImageTag = "1.0.0"
    image_digest: ImageDigest = ""
    builder_image: BuilderImage = "golang:1.24-bookworm"
    runtime_image: ImageReference = "alpine:3.20"
    container_uid: Annotated[WholeNumber, Field(ge=10000, le=2147483647)] = 10001

    replicas: Annotated[WholeNumber, Field(ge=1, le=99)] = 3
    k8s_namespace: DnsLabel = "tokmesh"
    k8s_service_type: Literal["ClusterIP", "LoadBalancer", "NodePort"] = "ClusterIP"
    storage_size: ByteSize = "10Gi"
    storage_class: StorageClass = ""
    cluster_domain: DnsSubdomain = "cluster.local"
    cert_manager_issuer: OptionalDnsSubdomain = ""
    cert_manager_issuer_kind: Literal["ClusterIssuer", "Issuer"] = "ClusterIssuer"
    cpu_request: Quantity = "100m"
    cpu_limit: Quantity = "500m"
    memory_request: ByteSize = "128Mi"
    memory_limit: ByteSize = "512Mi"

    server_glue: bool = False

    # Who may reach the API: empty is anywhere (as before these answers existed).
    client_networks: ClientNetworks = Field(default_factory=list)
    client_namespaces: list[DnsLabel] = Field(default_factory=list)
    compose_publish_address: IpAddress = "127.0.0.1"
    # Compose's project: two trees on one host each need their own (copier.yml's default is
    # service_name; trees from before the answer keep "docker", their folder's name).
    compose_project_name: ComposeProjectName = "tokmesh-server"

    @model_validator(mode="before")
    @classmethod
    def _compose_project_follows_the_service(cls, data: Any) -> Any:
        """compose_project_name's default is service_name's answer, as copier.yml offers it."""
        if isinstance(data, Mapping) and "compose_project_name" not in data and "service_name" in data:
            return {**data, "compose_project_name": data["service_name"]}
        return data

    # ---- rules that span several answers ------------------------------------

    @model_validator(mode="after")
    def _cross_field_rules(self) -> Answers:
        problems = cross_field_problems(self.model_dump())
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # ---- platforms ------------------------------------------------------------

    @property
    def linux(self) -> bool:
        return "linux" in self.platforms

    @property
    def windows(self) -> bool:
        return "windows" in self.platforms

    @property
    def docker(self) -> bool:
        return "docker" in self.platforms

    @property
    def kubernetes(self) -> bool:
        return "kubernetes" in self.platforms

    @property
    def image_build(self) -> bool:
        """Docker and Kubernetes both run the image the Dockerfile builds."""
        return self.docker or self.kubernetes

    # ---- server paths ---------------------------------------------------------

    @property
    def server_binary(self) -> str:
        return f"{self.install_dir}/{self.service_name}"

    @property
    def server_binary_previous(self) -> str:
        """Where an upgrade keeps the binary it replaced (its rollback)."""
        return f"{self.server_binary}.previous"

    @property
    def server_binary_last_good(self) -> str:
        """The last binary an upgrade saw settle (ready, then up without a restart): kept apart
        from .previous, which every upgrade replaces."""
        return f"{self.server_binary}.last-good"

    @property
    def config_file(self) -> str:
        return f"{self.config_dir}/config.yaml"

    @property
    def state_dir(self) -> str:
        """tokmesh-go keeps its WAL and snapshots in data/ below storage.data_dir."""
        return f"{self.data_dir}/data"

    @property
    def wal_dir(self) -> str:
        return f"{self.state_dir}/wal"

    @property
    def snapshot_dir(self) -> str:
        return f"{self.state_dir}/snapshots"

    @property
    def raft_dir(self) -> str:
        """cluster.data_dir on Kubernetes: Raft's own store, on the replica's volume."""
        return f"{self.data_dir}/raft"

    @property
    def tls_dir(self) -> str:
        return self.tls_cert_file.rsplit("/", 1)[0]

    # ---- the server's configuration, per platform ------------------------------

    @property
    def linux_server_config(self) -> ServerConfig:
        """configs/server/config.yaml: the host's address answered, the FHS paths."""
        return ServerConfig(self, self.listen_address, self.data_dir, self.tls_cert_file, self.tls_key_file)

    @property
    def container_server_config(self) -> ServerConfig:
        """configs/container/config.yaml: every interface of the container's own network."""
        return ServerConfig(self, "0.0.0.0", self.data_dir, self.tls_cert_file, self.tls_key_file)

    @property
    def windows_server_config(self) -> ServerConfig:
        """configs/windows/config.yaml: the host's address answered, the data root's paths."""
        return ServerConfig(self, self.listen_address, self.windows_data_dir,
                            f"{self.windows_cert_dir}\\{self.tls_cert_name}",
                            f"{self.windows_cert_dir}\\{self.tls_key_name}")

    # ---- ports ----------------------------------------------------------------

    @property
    def client_ports(self) -> list[dict[str, Any]]:
        """The ports clients use: the HTTP API (HTTPS with TLS, on the same port; the
        health checks too) and, when answered, the Redis protocol."""
        ports = [{"name": "http", "port": self.http_port, "protocol": "TCP"}]
        if self.redis_enabled:
            ports.append({"name": "redis", "port": self.redis_port, "protocol": "TCP"})
        return ports

    @property
    def peer_ports(self) -> list[dict[str, Any]]:
        """The ports replicas use among themselves, only where clustering is on: Raft (TCP)
        and gossip (memberlist: TCP and UDP on one port)."""
        if not self.cluster_enabled:
            return []
        return [{"name": "raft", "port": self.cluster_port, "protocol": "TCP"},
                {"name": "gossip", "port": self.gossip_port, "protocol": "TCP"},
                {"name": "gossip-udp", "port": self.gossip_port, "protocol": "UDP"}]

    @property
    def container_ports(self) -> list[dict[str, Any]]:
        return [*self.client_ports, *self.peer_ports]

    # ---- who may reach the API ----------------------------------------------------

    @property
    def clients_restricted(self) -> bool:
        """A list narrower than anywhere: 0.0.0.0/0 or ::/0 alone still means anywhere
        for that address family."""
        return bool(self.client_networks)

    @property
    def clients_description(self) -> str:
        """Who may reach the API, in words, for the README and the scripts' help."""
        if not self.client_networks:
            return "any address"
        return "the client networks (" + ", ".join(self.client_networks) + ")"

    @property
    def systemd_ip_address_allow(self) -> str:
        """IPAddressAllow= beside IPAddressDeny=any: this host (probes, the CLI) and the
        client networks."""
        return " ".join(["localhost", *self.client_networks])

    @property
    def windows_firewall_remote_address(self) -> str:
        """-RemoteAddress of the firewall rules, as a PowerShell array literal."""
        return "@(" + ", ".join(f"'{network}'" for network in self.client_networks or ["Any"]) + ")"

    @property
    def compose_published_ports(self) -> list[str]:
        """Compose's published ports, each on the answered host address only.  0.0.0.0 is
        written as no address, which Docker reads the same: netavark (podman) reads an
        explicit 0.0.0.0 literally and forwards nothing (containers/netavark#636)."""
        if self.compose_publish_address == "0.0.0.0":
            return [f"{port['port']}:{port['port']}" for port in self.client_ports]
        address = f"[{self.compose_publish_address}]" if ":" in self.compose_publish_address else self.compose_publish_address
        return [f"{address}:{port['port']}:{port['port']}" for port in self.client_ports]

    @property
    def compose_published_everywhere(self) -> bool:
        return self.compose_publish_address in {"0.0.0.0", "::"}

    @property
    def network_policy_restricts_clients(self) -> bool:
        """The NetworkPolicy names who may reach the API ports; without, anywhere the
        cluster routes may."""
        return bool(self.client_networks or self.client_namespaces)

    @property
    def load_balancer_source_ranges(self) -> list[str]:
        """A LoadBalancer admits the client networks only: the addresses it forwards from
        may not be the clients' by the time the NetworkPolicy sees them."""
        return self.client_networks if self.k8s_service_type == "LoadBalancer" else []

    @property
    def network_policy_clients_description(self) -> str:
        """Whom the NetworkPolicy admits to the API ports, in words."""
        admitted = []
        if self.client_networks:
            admitted.append(self.clients_description)
        if self.client_namespaces:
            admitted.append("pods in the namespaces " + ", ".join(self.client_namespaces))
        return " and ".join(admitted) or "any pod or address the cluster routes"

    # ---- health ----------------------------------------------------------------

    @property
    def health_path(self) -> str:
        return "/health"

    @property
    def ready_path(self) -> str:
        return "/ready"

    @property
    def http_scheme(self) -> str:
        """With TLS the server serves HTTPS on its one HTTP address."""
        return "https" if self.tls_enabled else "http"

    @property
    def local_probe_host(self) -> str:
        """Where this host's scripts reach the API: loopback when the server listens on
        every interface, else the one address it listens on."""
        return {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.listen_address, self.listen_address)

    @property
    def local_probe_authority(self) -> str:
        return host_port(self.local_probe_host, self.http_port)

    @property
    def k8s_probe_scheme(self) -> str:
        return self.http_scheme.upper()

    @property
    def wget_options(self) -> list[str]:
        """busybox wget, quiet, body discarded; over TLS without checking the certificate,
        which names the service, not the address probed."""
        return ["-q", "-O", "/dev/null", *(["--no-check-certificate"] if self.tls_enabled else [])]

    def _in_container_probe(self, path: str) -> list[str]:
        """busybox wget of ``path`` on the server's port, from inside its own container."""
        return ["wget", *self.wget_options, f"{self.http_scheme}://127.0.0.1:{self.http_port}{path}"]

    @property
    def healthcheck_command(self) -> list[str]:
        """The image's and Compose's health check: busybox wget, in exec form."""
        return self._in_container_probe(self.health_path)

    @property
    def container_ready_command(self) -> list[str]:
        """compose-ops.sh's readiness check, run in the server's container: it holds whatever
        address the port is published on."""
        return self._in_container_probe(self.ready_path)

    @property
    def container_ready_shell(self) -> str:
        """container_ready_command as words of a shell command line."""
        return shlex.join(self.container_ready_command)

    # ---- timeouts shared by systemd, Compose, Kubernetes and Windows ----------

    @property
    def stop_grace_seconds(self) -> int:
        """How long supervisors wait for a stop: never less than the server's own drain."""
        return max(self.shutdown_timeout_seconds, self.server_drain_seconds) + self.stop_grace_margin_seconds

    @property
    def stop_grace_margin_seconds(self) -> int:
        """What every supervisor adds to the server's own shutdown deadline."""
        return STOP_GRACE_MARGIN_SECONDS

    @property
    def server_drain_seconds(self) -> int:
        """How long tokmesh-go itself drains: fixed in its main.go, whatever the answer."""
        return SERVER_DRAIN_SECONDS

    @property
    def restart_delay_seconds(self) -> int:
        return RESTART_DELAY_SECONDS

    @property
    def upgrade_settle_seconds(self) -> int:
        return UPGRADE_SETTLE_SECONDS

    @property
    def operation_exit_codes(self) -> dict[str, int]:
        return OPERATION_EXIT_CODES

    @property
    def startup_budget_seconds(self) -> int:
        """How long a start may take before it counts as failed (upgrades roll back then)."""
        return STARTUP_BUDGET_SECONDS

    @property
    def startup_probe(self) -> dict[str, int]:
        return {"periodSeconds": STARTUP_PROBE_PERIOD_SECONDS,
                "failureThreshold": STARTUP_BUDGET_SECONDS // STARTUP_PROBE_PERIOD_SECONDS}

    @property
    def install_marker(self) -> str:
        """The file the installers leave in each folder they create (Linux and Windows):
        uninstall's purge deletes a folder only while it is there."""
        return INSTALL_MARKER

    @property
    def tree_backup_dir(self) -> str:
        """Where the Compose and Kubernetes backups go by default, in this tree."""
        return "backups"

    @property
    def backup_dir(self) -> str:
        """Where the Linux backup script writes its archives by default."""
        return f"/var/backups/{self.service_name}"

    # ---- the tree as a git repository -----------------------------------------

    @property
    def tree_ignored_paths(self) -> list[tuple[str, str]]:
        """(pattern, why) for the tree's .gitignore: what builds and operations leave in
        the tree.  Copier updates only a clean tree, so none of it may show as untracked."""
        ignored = [(f"/{self.source_checkout}/", "tokmesh-go's clone, a repository of its own"),
                   ("/bin/", "make build's binaries")]
        if self.docker or self.kubernetes:
            ignored.append((f"/{self.tree_backup_dir}/", "make compose-backup's and make k8s-copy's archives"))
        if self.docker:
            ignored.append(("/deployments/docker/.env", "the image Compose runs on this host (make compose-upgrade)"))
            ignored.append((f"/{self.compose_ops_lock_file}", "the lock compose-ops.sh holds while it runs"))
        return ignored

    @property
    def source_checkout(self) -> str:
        """Where the operator clones tokmesh-go in the tree (a repository of its own)."""
        return "tokmesh-go"

    @property
    def go_module_dir(self) -> str:
        """tokmesh-go's Go module: the src/ folder of its repository."""
        return f"{self.source_checkout}/src"

    @property
    def copier_install_command(self) -> str:
        """What to install for `make template-update`."""
        return "pip install " + " ".join(UPDATE_REQUIREMENTS)

    @property
    def copier_install_pipx(self) -> str:
        """The same, as pipx installs it: Copier in a venv of its own, the rest injected."""
        copier, *extras = UPDATE_REQUIREMENTS
        return f"pipx install {copier} && pipx inject copier {' '.join(extras)}"

    @property
    def copier_install_uv(self) -> str:
        """The same, as uv installs a tool."""
        copier, *extras = UPDATE_REQUIREMENTS
        return f"uv tool install {copier} " + " ".join(f"--with {extra}" for extra in extras)


# ---- checks, shared by copier.yml's validators and the final gate -------------------


def cross_field_problems(answers: Mapping[str, Any]) -> list[str]:
    """The rules that span several answers, on whatever answers are known so far."""
    problems: list[str] = []
    platforms = answers.get("platforms") or []
    # In the order copier.yml asks them: a clash names the later question, asked again.
    ports = {name: answers[name] for name in port_answers(answers) if isinstance(answers.get(name), int)}
    seen: dict[int, str] = {}
    for name, port in ports.items():
        if port in seen:
            problems.append(f"{name}: {port!r} is already used by {seen[port]}; the ports must be distinct")
        seen.setdefault(port, name)

    if "linux" in platforms:
        run_dir = answers.get("run_dir", "")
        if run_dir and not re.match(r"/(var/)?run/[^/]", run_dir):
            problems.append(
                f"run_dir: {run_dir!r} must be below /run (systemd's RuntimeDirectory= "
                "creates it there)"
            )
        for name in ("install_dir", "config_dir", "data_dir"):
            path = answers.get(name, "")
            if re.match(r"/(home|root|run/user)(/|$)", path or ""):
                problems.append(
                    f"{name}: {path!r} must not be below /home, /root or /run/user "
                    "(ProtectHome= hides those from the service)"
                )
    dirs = {n: answers.get(n) for n in ("config_dir", "data_dir", "run_dir")}
    for name, path in dirs.items():
        for other, other_path in dirs.items():
            if name < other and path and other_path and (
                path == other_path
                or path.startswith(other_path + "/")
                or other_path.startswith(path + "/")
            ):
                problems.append(
                    f"{other}: {other_path!r} must be apart from {name}: it overlaps {path!r} "
                    "(config, data and run folders are separate)"
                )
    if answers.get("tls_enabled"):
        cert, key = answers.get("tls_cert_file", ""), answers.get("tls_key_file", "")
        if cert and key and cert.rsplit("/", 1)[0] != key.rsplit("/", 1)[0]:
            problems.append(
                f"tls_key_file: {key!r} must be beside the certificate: in the folder of tls_cert_file "
                f"{cert!r} (containers mount one TLS folder)"
            )
        if cert and key and cert == key:
            problems.append("tls_key_file: must differ from tls_cert_file")
        config_dir = answers.get("config_dir", "")
        system = linux_system_folder(cert.rsplit("/", 1)[0] or "/") if cert else ""
        if system:
            problems.append(f"tls_cert_file: {cert!r} must be in a folder of its own, not in the system "
                            f"folder {system} (install sets the folder's owner and mode)")
        if cert and cert.rsplit("/", 1)[0] == config_dir:
            problems.append(
                f"tls_cert_file: {cert!r} must be in a folder of its own, not directly in "
                f"config_dir {config_dir!r} (containers mount the TLS folder separately)"
            )
    for resource in ("cpu", "memory"):
        request, limit = answers.get(f"{resource}_request"), answers.get(f"{resource}_limit")
        try:
            too_high = quantity_value(request) > quantity_value(limit)
        except ValueError:
            continue  # not a quantity: its own rule reports it
        if too_high:
            problems.append(
                f"{resource}_request: {request!r} must not exceed {resource}_limit ({limit})"
            )
    if "kubernetes" in platforms:
        problems += kubernetes_problems(answers)
    if not platforms:
        problems.append("platforms: [] must name at least one platform")
    return problems


def port_answers(answers: Mapping[str, Any]) -> list[str]:
    """The port answers in use, in the order copier.yml asks them: Raft and gossip only
    for Kubernetes, Redis only when enabled."""
    names = ["http_port"]
    if answers.get("redis_enabled"):
        names.append("redis_port")
    if "kubernetes" in (answers.get("platforms") or []):
        names += ["cluster_port", "gossip_port"]
    return names


def offered_default(name: str, known: Mapping[str, Any]) -> Any:
    """The default question ``name`` offers after the answers ``known`` so far: its usual
    default (the model's), unless that clashes with them (Enter must always be accepted).
    A port moves up to the next free one, a request down to its limit, a folder aside, and
    the key goes beside the certificate."""
    usual = Answers.model_fields[name].default
    if name == "tls_key_file":
        usual = key_file_beside(known.get("tls_cert_file") or Answers.model_fields["tls_cert_file"].default)
    candidates: typing.Iterable[Any]
    if name.endswith("_port"):
        candidates = range(usual, 65536)
    elif name.endswith("_request"):
        candidates = (usual, known.get(name.replace("_request", "_limit")))
    else:
        candidates = (usual, f"{usual}-{name.removesuffix('_dir')}")
    return next((c for c in candidates if c is not None and not field_problem(name, c, known)), usual)


def key_file_beside(cert_file: str) -> str:
    """The TLS key's usual name beside ``cert_file`` (never the certificate's own): tls.crt
    and tls.pem give tls.key."""
    folder, _, file = cert_file.rpartition("/")
    return f"{folder}/{file.removesuffix('.crt').removesuffix('.pem')}.key"


def kubernetes_problems(answers: Mapping[str, Any]) -> list[str]:
    """What the API server and the StatefulSet controller would refuse, beyond the schema."""
    problems: list[str] = []
    name = answers.get("service_name", "tokmesh-server")
    namespace = answers.get("k8s_namespace", "tokmesh")
    replicas = answers.get("replicas", 3)
    domain = answers.get("cluster_domain", "cluster.local")
    if not all(isinstance(v, str) for v in (name, namespace, domain)) or not isinstance(replicas, int):
        return problems  # their own rules report them
    if namespace.startswith(CLUSTER_NAMESPACE_PREFIX) or namespace == SHARED_NAMESPACE:
        problems.append(
            f"k8s_namespace: {namespace!r} must be a namespace of its own: the cluster owns kube-* and default; "
            "the tree labels its namespace for the restricted Pod Security profile, which would "
            "stop the other pods there on their next restart; give the cache a namespace of its own"
        )
    derived = [
        (f"{name}-" + "h" * REVISION_HASH_LENGTH, 63,
         "the controller-revision-hash label value <name>-<hash of 10>"),
        (f"{name}-{max(replicas - 1, 0)}", 63, "the last pod's name"),
        (f"{name}-external", 63, "the client Service's name"),
    ]
    for value, limit, what in derived:
        if len(value) > limit:
            problems.append(
                f"service_name: {name!r} is too long for Kubernetes: {what} would have "
                f"{len(value)} characters, more than {limit}"
            )
            break
    fqdn = f"{name}-{max(replicas - 1, 0)}.{name}.{namespace}.svc.{domain}"
    if len(fqdn) > 253:
        problems.append(
            f"cluster_domain: {domain!r} is too long: the pods' DNS names would have {len(fqdn)} "
            f"characters, more than 253 ({fqdn[:40]}...)"
        )
    if answers.get("cert_manager_issuer") and not answers.get("tls_enabled"):
        problems.append(
            f"cert_manager_issuer: {answers['cert_manager_issuer']!r} needs tls_enabled: "
            "the certificate is for the HTTPS port"
        )
    return problems


def _message(name: str, value: Any, error: dict[str, Any]) -> str:
    text = error["msg"].removeprefix("Value error, ")
    if error["type"] == "int_type":
        text = "must be a number: " + re.split(r": |; ", answer_rule(name))[0].removeprefix("from ")
    elif error["type"] == "list_type":
        text = "must be a list in brackets: such as [a, b] ([] for none)"
    elif error["type"] in {"greater_than_equal", "less_than_equal"}:
        text = "must be " + re.split(r": |; ", answer_rule(name))[0]
    elif error["type"] == "literal_error":
        text = "must be one of " + text.removeprefix("Input should be ")
    elif text.startswith("Input should be"):
        text = "must be" + text.removeprefix("Input should be")
    return f"{name}: {value!r} {text}"


_field_adapters: dict[str, TypeAdapter] = {}


def field_problem(name: str, value: Any, known: Mapping[str, Any] | None = None) -> str:
    """The rule that ``value`` breaks as the answer to question ``name``, or ''.

    ``known`` holds the answers given so far, for the rules that span several.
    """
    field = Answers.model_fields[name]
    if name not in _field_adapters:
        annotation = field.annotation
        if field.metadata:
            annotation = Annotated[(annotation, *field.metadata)]
        _field_adapters[name] = TypeAdapter(annotation)
    try:
        value = _field_adapters[name].validate_python(value)
    except ValidationError as error:
        return _message(name, value, error.errors()[0])
    # A clash is this answer's problem once the earlier answer it clashes with exists:
    # whatever this answer adds to the problems the earlier answers already have.
    earlier = {k: v for k, v in (known or {}).items() if k != name}
    already = set(cross_field_problems(earlier))
    for problem in cross_field_problems({**earlier, name: value}):
        if problem not in already:
            if problem.startswith(f"{name}:"):
                return problem
            other = problem.split(":", 1)[0]
            return f"{name}: {value!r} conflicts with {other}: {problem}"
    return ""


def validate_answers(answers: Mapping[str, Any]) -> Answers:
    """The whole answer set as a model, or AnswerError naming every broken rule."""
    known = {k: v for k, v in answers.items() if k in Answers.model_fields}
    # Copier asks for the model at every render (each file, each path): the same answers
    # validate once.  The model is frozen, so one instance serves them all.
    key = repr(sorted(known.items()))
    if key not in _VALIDATED:
        if len(_VALIDATED) >= 64:
            _VALIDATED.clear()
        _VALIDATED[key] = _validate(known)
    return _VALIDATED[key]


_VALIDATED: dict[str, Answers] = {}


def _validate(known: dict[str, Any]) -> Answers:
    try:
        return Answers(**known)
    except ValidationError as error:
        lines = []
        for item in error.errors():
            if item["loc"]:
                name = str(item["loc"][0])
                lines.append(_message(name, known.get(name), item))
            else:
                lines.extend(item["msg"].removeprefix("Value error, ").splitlines())
        raise AnswerError("\n".join(lines)) from None


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


__all__: list[str] = [
    "PLATFORMS",
    "YAML_KEYWORDS",
    "quantity_value",
    "AnswerError",
    "Answers",
    "cross_field_problems",
    "field_problem",
    "offered_default",
    "sha256_hex",
    "validate_answers",
]


# Rules that span answers, enforced above (cross_field_problems, kubernetes_problems); the
# documentation's reference shows them beside each answer's own.
_SEPARATE_DIRS = "config, data and run dirs separate"
_NOT_HOME = "not below /home, /root or /run/user (ProtectHome= hides those)"
CROSS_ANSWER_RULES = {
    "http_port": "distinct from the other ports",
    "cluster_port": "distinct from the other ports",
    "gossip_port": "distinct from the other ports",
    "redis_port": "distinct from the other ports",
    "service_name": "with Kubernetes, short enough for every derived name (at most 52: the revision-hash label)",
    "k8s_namespace": "not a namespace the cluster owns (kube-*, default)",
    "cpu_request": "not above cpu_limit",
    "memory_request": "not above memory_limit",
    "tls_cert_file": "in a folder of its own, not directly in config_dir",
    "tls_key_file": "in the certificate's folder, and not the certificate",
    "install_dir": _NOT_HOME,
    "config_dir": f"{_NOT_HOME}; {_SEPARATE_DIRS}",
    "data_dir": f"{_NOT_HOME}; {_SEPARATE_DIRS}",
    "run_dir": f"below /run; {_SEPARATE_DIRS}",
    "platforms": "at least one",
}


def answer_rule(name: str) -> str:
    """The rule of answer ``name`` in words, read from its declaration: its type's rules
    (each validator's docstring), bounds, choices, and the rules it shares with others."""
    field = Answers.model_fields[name]
    parts: list[str] = []
    annotation = field.annotation
    if annotation is bool:
        parts.append("yes or no")
    elif typing.get_origin(annotation) is Literal:
        parts.append("one of " + ", ".join(typing.get_args(annotation)))
    elif typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        if typing.get_origin(item) is Literal:
            parts.append("one or more of " + ", ".join(typing.get_args(item)))
        elif typing.get_origin(item) is Annotated:  # a list of a rule type: each item's rules
            docs = [getattr(m, "func", None).__doc__ for m in typing.get_args(item)[1:] if hasattr(m, "func")]
            parts.append("a list, each item " + "; ".join(d.removeprefix("The rule: ").strip().rstrip(".") for d in docs))
    low = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
    high = next((m.le for m in field.metadata if hasattr(m, "le")), None)
    if low is not None and high is not None:
        parts.append(f"from {low} to {high}")
    for item in field.metadata:
        doc = getattr(getattr(item, "func", None), "__doc__", None)
        if doc:
            parts.append(doc.removeprefix("The rule: ").strip().rstrip("."))
    if name in CROSS_ANSWER_RULES:
        parts.append(CROSS_ANSWER_RULES[name])
    return "; ".join(parts)
