"""The rendered StatefulSet's pod template, translated field by field into podman
containers: one pod per ordinal, on a podman network standing in for the pod network.

This is a pod-spec run, not a cluster: no API server, scheduler, kubelet or
controller takes part. What a field asks of the container runtime is done with
podman's own option for it; what the kubelet does (init containers run to completion
in order before the main container, probes, restarts with back-off, $(VAR) expansion,
fieldRef values, emptyDir lifetimes, fsGroup on volumes, Secret volumes) this module
does on the manifest's own values; what only a scheduler or controller acts on is
listed in SCHEDULING_FIELDS and not run. A field that is in none of these lists fails
the translation, so a manifest that grows a field the run does not honour cannot pass
unnoticed.

A pod here is its containers run one after the other with the same network identity: an
address on the network new with each creation of the pod (its status.podIP) and its
hostname. Names resolve through the run's cluster DNS (runtime/cluster_dns.py), which
serves the headless Service's records of the pods that exist now, under the Service's
namespace and the cluster domain, with the kubelet's search path and ndots:5. Its
volumes are shared by all its containers: the claim as a host folder of its own per
ordinal (created empty, as a new volume is, and kept across re-creations), the
ConfigMap's keys, the Secrets' keys, and each memory-backed emptyDir as a tmpfs of its
own per pod, made empty on each creation of the pod. Pod.start() makes the pod anew, as
the controller does after a deletion: a new address, fresh emptyDirs, every init
container again, then the main container, the kubelet's probes and its restarts, all in
the background (pods start in parallel: an init container may wait for another pod).
PodSpecRun.evict() is the eviction API with the PodDisruptionBudget's rule.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import math
import os
import re
import shutil
import ssl
import stat
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .cluster_dns import ClusterDNS
from .podman import podman

# Where the pod's address goes in its containers' arguments (--ip, status.podIP): each
# creation of the pod substitutes its new address.
POD_IP = "\x00pod-ip\x00"

# Fields only a scheduler or the API server acts on: read, and not run here.
SCHEDULING_FIELDS = {"affinity", "topologySpreadConstraints", "serviceAccountName"}
POD_FIELDS = {"containers", "initContainers", "volumes", "securityContext", "terminationGracePeriodSeconds",
              "automountServiceAccountToken", "enableServiceLinks", *SCHEDULING_FIELDS}
POD_SECURITY_FIELDS = {"runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "fsGroupChangePolicy",
                       "seccompProfile"}
# What a container of either kind may have; the main container adds ports and probes.
BASE_CONTAINER_FIELDS = {"name", "image", "imagePullPolicy", "command", "args", "env", "resources",
                         "securityContext", "volumeMounts"}
CONTAINER_FIELDS = BASE_CONTAINER_FIELDS | {"ports", "startupProbe", "livenessProbe", "readinessProbe",
                                            "lifecycle"}
# An init container runs to completion: no ports, no probes, no restartPolicy (sidecar).
INIT_CONTAINER_FIELDS = BASE_CONTAINER_FIELDS
CONTAINER_SECURITY_FIELDS = {"allowPrivilegeEscalation", "readOnlyRootFilesystem", "runAsNonRoot",
                             "capabilities"}
PORT_FIELDS = {"name", "containerPort", "protocol"}
PORT_PROTOCOLS = {"TCP", "UDP"}  # both carried by the podman network; SCTP is not translated
PROBE_FIELDS = {"httpGet", "periodSeconds", "timeoutSeconds", "failureThreshold", "successThreshold",
                "initialDelaySeconds"}
HTTP_GET_FIELDS = {"path", "port", "scheme"}
# Translated into podman options, or done as the kubelet does: every field above that
# reaches the container runtime or the kubelet.
COVERED = {
    "image": "the image (pulled never: built locally), for init and main containers alike",
    "command": "--entrypoint (the image's ENTRYPOINT and CMD both replaced), $(VAR) expanded",
    "args": "the command's arguments (the image's CMD replaced), $(VAR) expanded",
    "env": "value, fieldRef metadata.name, metadata.namespace and status.podIP (the pod's address "
           "on the podman network, new on each creation), resourceFieldRef of the container's own limits (the limit over the "
           "divisor, rounded up, as the kubelet does), $(VAR) expanded as the kubelet does",
    "lifecycle.preStop": "exec: run in the main container before SIGTERM, within the grace period",
    "enableServiceLinks": "false only: no Service variables are injected here, so true (the default) "
                          "is not translated",
    "initContainers": "run to completion one after the other before the main container, with the same "
                      "translation, network identity and volumes; a non-zero exit fails the pod's start "
                      "with its output; re-run on each creation of the pod",
    "ports": "named ports for the probes; TCP and UDP both reach the pod on the network",
    "resources.limits": "--memory and --cpus (requests only weigh in scheduling)",
    "securityContext (pod)": "runAsUser/runAsGroup as --user, runAsNonRoot checked, fsGroup applied to "
                             "the claim's and Secrets' files as the kubelet does (fsGroupChangePolicy "
                             "Always or OnRootMismatch) and as a supplementary group, seccomp RuntimeDefault",
    "securityContext (container)": "--read-only (without podman's writable /tmp and /run), --cap-drop, "
                                   "no-new-privileges, runAsNonRoot checked",
    "volumeMounts": "the ConfigMap key at its subPath read-only, a host folder per ordinal for the claim "
                    "template (empty at first, as a new volume), a Secret's items as files of their mode, "
                    "read-only, a memory-backed emptyDir as a tmpfs of its sizeLimit per pod, shared by "
                    "the pod's containers",
    "probes": "startup, readiness and liveness by httpGet (scheme HTTP, or HTTPS without a certificate "
              "check, as the kubelet) on their period, timeout and thresholds; a failed liveness or "
              "startup probe stops the main container",
    "restartPolicy": "Always (the StatefulSet's): an exited main container restarts in place with the "
                     "kubelet's back-off (0, 10, 20 ... 300 s, reset after 10 minutes)",
    "terminationGracePeriodSeconds": "podman stop -t, for the running init or main container",
    "serviceName": "the cluster DNS answers <pod>.<service>.<namespace>.svc.<cluster domain> and the "
                   "Service's name with the addresses of the pods that exist, ready or not "
                   "(publishNotReadyAddresses); the search path <namespace>.svc, svc, the domain, ndots:5",
}


class UnknownField(AssertionError):
    pass


def _only(mapping: dict[str, Any], known: set[str], where: str) -> None:
    unknown = set(mapping) - known
    if unknown:
        raise UnknownField(f"{where}: the pod-spec run does not translate {sorted(unknown)}")


def _memory_bytes(quantity: str) -> int:
    from tokmesh_answers import quantity_value

    return int(quantity_value(quantity))


def _cpus(quantity: str) -> str:
    from tokmesh_answers import quantity_value

    return str(float(quantity_value(quantity)))


def _resource_field(ref: dict[str, Any], container: dict[str, Any], where: str) -> str:
    """The kubelet's resourceFieldRef: the container's own limit over the divisor, rounded up."""
    from tokmesh_answers import quantity_value

    _only(ref, {"containerName", "resource", "divisor"}, f"{where} resourceFieldRef")
    if ref.get("containerName", container["name"]) != container["name"]:
        raise UnknownField(f"{where}: another container's resources are not translated")
    kind, _, resource = ref["resource"].partition(".")
    if kind != "limits" or resource not in container.get("resources", {}).get("limits", {}):
        raise UnknownField(f"{where}: {ref['resource']} without that limit (the node's allocatable) "
                           "is not translated")
    value = quantity_value(container["resources"]["limits"][resource]) / quantity_value(ref.get("divisor", "1"))
    return str(math.ceil(value))


def _pre_stop_command(container: dict[str, Any], where: str) -> list[str]:
    lifecycle = container.get("lifecycle", {})
    _only(lifecycle, {"preStop"}, f"{where} lifecycle")
    if not lifecycle:
        return []
    _only(lifecycle["preStop"], {"exec"}, f"{where} lifecycle.preStop")
    return list(lifecycle["preStop"]["exec"]["command"])


def expand(value: str, env: dict[str, str]) -> str:
    """$(VAR) as the kubelet expands it: defined earlier → its value; $$ → $; else kept."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), value)


# The kubelet does not check the server's certificate on an HTTPS probe.
_NO_CERT_CHECK = ssl.create_default_context()
_NO_CERT_CHECK.check_hostname = False
_NO_CERT_CHECK.verify_mode = ssl.CERT_NONE


@dataclass
class Probe:
    path: str
    port: int
    period: float
    timeout: float
    failure_threshold: int
    success_threshold: int = 1
    initial_delay: float = 0
    scheme: str = "HTTP"

    @classmethod
    def of(cls, spec: dict[str, Any], ports: dict[str, tuple[int, str]], where: str) -> Probe:
        _only(spec, PROBE_FIELDS, where)
        http = spec["httpGet"]
        _only(http, HTTP_GET_FIELDS, f"{where}.httpGet")
        scheme = http.get("scheme", "HTTP")
        if scheme not in {"HTTP", "HTTPS"}:
            raise UnknownField(f"{where}.httpGet: scheme {scheme!r} is not translated")
        port = http["port"]
        if isinstance(port, str):
            if port not in ports:
                raise UnknownField(f"{where}.httpGet: no container port named {port!r}")
            port, protocol = ports[port]
            if protocol != "TCP":
                raise UnknownField(f"{where}.httpGet: port {http['port']!r} is {protocol}, an HTTP probe needs TCP")
        return cls(http["path"], port,
                   spec.get("periodSeconds", 10), spec.get("timeoutSeconds", 1),
                   spec.get("failureThreshold", 3), spec.get("successThreshold", 1),
                   spec.get("initialDelaySeconds", 0), scheme)

    def url(self, ip: str) -> str:
        return f"{self.scheme.lower()}://{ip}:{self.port}{self.path}"

    def check(self, ip: str) -> bool:
        context = _NO_CERT_CHECK if self.scheme == "HTTPS" else None
        try:
            with urllib.request.urlopen(self.url(ip), timeout=self.timeout, context=context) as r:
                return 200 <= r.status < 400
        except OSError:
            return False


@dataclass
class InitRun:
    """One init container's finished run: its exit code and output (stdout then stderr)."""

    container: str
    exit_code: int
    output: str
    seconds: float


# The kubelet's restart back-off (CrashLoopBackOff): the first restart at once, then 10 s,
# doubling to 5 minutes; forgotten once the container has run 10 minutes since its last restart.
BACKOFF_INITIAL_SECONDS, BACKOFF_MAX_SECONDS = 10, 300
BACKOFF_RESET_SECONDS = 2 * BACKOFF_MAX_SECONDS


def next_backoff(current: float) -> float:
    return BACKOFF_INITIAL_SECONDS if current == 0 else min(2 * current, BACKOFF_MAX_SECONDS)


@dataclass
class Pod:
    """One replica: its containers' podman run arguments and the kubelet's work on them.

    Its address is new on each creation (``start``); the arguments hold POD_IP where it goes.
    """

    name: str
    run_args: list[str]  # the main container's `podman run`
    grace: int
    startup: Probe
    readiness: Probe
    liveness: Probe
    next_address: Callable[[], str] = lambda: ""  # the pod network's next free address
    dns: Callable[[str | None], None] = lambda address: None  # the Service's record of the pod, or none
    init_containers: list[tuple[str, list[str]]] = field(default_factory=list)  # (name, `podman run` args)
    empty_dirs: list[tuple[Path, str]] = field(default_factory=list)  # host tmpfs, its mount options
    prepare: Callable[[], None] = lambda: None  # the claim's and the Secrets' folders, before each start
    ip: str = ""  # status.podIP of this creation
    ready: bool = False
    disrupted: bool = False  # evicted: no longer counted by the disruption budget
    restarts: int = 0  # of the main container, in place (same pod, same address)
    exit_codes: list[int] = field(default_factory=list)  # of the main container, this creation
    restart_delays: list[float] = field(default_factory=list)  # the back-off before each restart
    failed: str | None = None  # why the pod's start failed (an init container's exit)
    pre_stop: list[str] = field(default_factory=list)  # the main container's preStop exec command
    init_runs: list[InitRun] = field(default_factory=list)  # this creation's, in order
    previous_logs: list[tuple[str, str]] = field(default_factory=list)  # (stdout, stderr) of deleted ones
    main_started: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _running_init: str | None = None
    _thread: threading.Thread | None = None

    def init_container_name(self, container: str) -> str:
        return f"{self.name}.{container}"

    def start(self) -> None:
        """The pod created anew (after a deletion): a new address, fresh emptyDirs, init
        containers, then the main container, supervised in the background."""
        self._remove_containers()
        self._stop.clear()
        self.ip = self.next_address()
        self.ready, self.disrupted, self.failed, self.main_started = False, False, None, None
        self.init_runs, self.exit_codes, self.restart_delays = [], [], []
        self.dns(self.ip)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """The kubelet's stop: probes end, preStop, SIGTERM, SIGKILL after the grace period."""
        with self._lock:
            self._stop.set()
            running_init = self._running_init
        self.ready = False
        if running_init:
            self._stop_container(running_init, self.grace)
        if self._thread:
            # The supervisor waits on nothing unbounded: each of its podman calls returns.
            self._thread.join(timeout=self.grace + 60)
            assert not self._thread.is_alive(), f"{self.name}: its supervisor did not end"
        grace = self.grace
        if self.pre_stop and self._running():
            # The kubelet runs the preStop hook first; the grace period counts from its start.
            started = time.monotonic()
            try:
                podman("exec", self.name, *self.pre_stop, check=False, timeout=self.grace)
            except subprocess.TimeoutExpired:
                pass
            grace = max(0, self.grace - math.ceil(time.monotonic() - started))
        self._stop_container(self.name, grace)

    def delete(self) -> None:
        """kubectl delete pod: stopped, its record and containers and emptyDirs gone (the claim stays)."""
        self.stop()
        self.dns(None)
        if podman("container", "exists", self.name, check=False).returncode == 0:
            self.previous_logs.append(self.logs())
        self._remove_containers()
        for path, _ in self.empty_dirs:
            _unmount(path)

    def status(self) -> str:
        """Where the pod's start is, for a failure message: the init container it runs
        (with its last output lines), or the main container."""
        with self._lock:
            running_init = self._running_init
        if running_init:
            tail = podman("logs", "--tail", "5", running_init, check=False, text=True)
            return f"{self.name}: init container {running_init} still running; its last output:\n" \
                   f"{tail.stdout}{tail.stderr}"
        if self.main_started is None:
            return f"{self.name}: main container not started"
        out, err = self.logs()
        return (f"{self.name}: main container not ready (exits {self.exit_codes}); its last output:\n"
                + "\n".join((out + err).splitlines()[-10:]))

    def logs(self) -> tuple[str, str]:
        """The main container's (stdout, stderr) since its creation, across its restarts."""
        result = podman("logs", self.name, check=False, text=True)
        return result.stdout, result.stderr

    def _running(self) -> bool:
        state = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False, text=True)
        return state.stdout.strip() == "true"

    @staticmethod
    def _stop_container(name: str, grace: int) -> None:
        """podman stop, bounded: SIGKILL when it has not returned well after the grace period."""
        try:
            podman("stop", "-t", str(grace), name, check=False, timeout=grace + 5)
        except subprocess.TimeoutExpired:
            podman("kill", name, check=False)

    def _remove_containers(self) -> None:
        for name, _ in self.init_containers:
            podman("rm", "-f", self.init_container_name(name), check=False)
        podman("rm", "-f", self.name, check=False)

    def _args(self, args: list[str]) -> list[str]:
        return [a.replace(POD_IP, self.ip) for a in args]

    def _fresh_empty_dirs(self) -> None:
        for path, options in self.empty_dirs:
            _unmount(path)
            path.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True,
                           capture_output=True)

    def _run(self) -> None:
        try:
            self.prepare()
            self._fresh_empty_dirs()
        except (AssertionError, OSError, subprocess.CalledProcessError) as error:
            self.failed = f"pod {self.name}: its volumes could not be set up: {error}"
            return
        for container, args in self.init_containers:
            name = self.init_container_name(container)
            with self._lock:
                if self._stop.is_set():
                    return
                started = time.monotonic()
                podman(*self._args(args))
                self._running_init = name
            exit_code = int(podman("wait", name, check=False, text=True).stdout.strip() or -1)
            with self._lock:
                self._running_init = None
            out = podman("logs", name, check=False, text=True)
            self.init_runs.append(InitRun(container, exit_code, out.stdout + out.stderr,
                                          time.monotonic() - started))
            podman("rm", "-f", name, check=False)
            if self._stop.is_set():
                return
            if exit_code != 0:
                self.failed = (f"pod {self.name}: init container {container} exited {exit_code}:\n"
                               f"{(out.stdout + out.stderr)[-3000:]}")
                return
        with self._lock:
            if self._stop.is_set():
                return
            podman(*self._args(self.run_args))
            self.main_started = time.monotonic()
        self._supervise()

    def _exit_watch(self) -> tuple[threading.Event, list[int]]:
        """An event set when the main container's current run ends, with its exit code.
        `podman wait` runs on a thread of its own, which the supervisor never joins."""
        ended, code = threading.Event(), []

        def wait() -> None:
            result = podman("wait", self.name, check=False, text=True)
            code.append(int(result.stdout.strip() or -1) if result.returncode == 0 else -1)
            ended.set()

        threading.Thread(target=wait, daemon=True).start()
        return ended, code

    def _supervise(self) -> None:
        """The kubelet's work on the running main container: probes, and after each exit a
        restart in place with back-off (restartPolicy Always, the StatefulSet's only policy)."""
        backoff, last_restart = 0.0, time.monotonic()
        while not self._stop.is_set():
            ended, code = self._exit_watch()
            self._probe_until(ended)
            if self._stop.is_set():
                return
            self.ready = False
            self.exit_codes.append(code[0] if code else -1)
            if time.monotonic() - last_restart > BACKOFF_RESET_SECONDS:
                backoff = 0.0
            self.restart_delays.append(backoff)
            if self._stop.wait(backoff):
                return
            backoff = next_backoff(backoff)
            with self._lock:
                if self._stop.is_set():
                    return
                podman("start", self.name, check=False)
                self.restarts += 1
                last_restart = time.monotonic()

    def _kill(self) -> None:
        """A failed liveness or startup probe: the kubelet stops the container (it then restarts)."""
        self.ready = False
        self._stop_container(self.name, self.grace)

    def _probe_until(self, ended: threading.Event) -> None:
        """Startup, then readiness and liveness probes, until the container's run ends or the pod stops."""
        def over(seconds: float) -> bool:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if self._stop.is_set() or ended.is_set():
                    return True
                time.sleep(0.2)
            return self._stop.is_set() or ended.is_set()

        if over(self.startup.initial_delay):
            return
        failures = 0
        while not self.startup.check(self.ip):  # startup probe: nothing else runs before it passes
            failures += 1
            if failures >= self.startup.failure_threshold:
                self._kill()
                ended.wait(self.grace + 10)
                return
            if over(self.startup.period):
                return
        next_ready = next_live = time.monotonic()
        ready_ok = live_fail = ready_fail = 0
        while not over(0):
            now = time.monotonic()
            if now >= next_ready:
                if self.readiness.check(self.ip):
                    ready_ok, ready_fail = ready_ok + 1, 0
                    if ready_ok >= self.readiness.success_threshold and not ended.is_set():
                        self.ready = True
                else:
                    ready_ok, ready_fail = 0, ready_fail + 1
                    if ready_fail >= self.readiness.failure_threshold:
                        self.ready = False
                next_ready = now + self.readiness.period
            if now >= next_live:
                live_fail = 0 if self.liveness.check(self.ip) else live_fail + 1
                if live_fail >= self.liveness.failure_threshold:
                    self._kill()
                    ended.wait(self.grace + 10)
                    return
                next_live = now + self.liveness.period
            time.sleep(0.2)


def _unmount(path: Path) -> None:
    if subprocess.run(["mountpoint", "-q", str(path)], check=False).returncode == 0:
        subprocess.run(["umount", str(path)], check=True, capture_output=True)


@dataclass
class PodSpecRun:
    """Every replica of the StatefulSet in ``objects`` (as kustomize built them)."""

    objects: list[dict[str, Any]]
    network: str
    subnet_prefix: str  # e.g. "10.89.231." — the network's own addresses; .1 is its gateway
    scratch: Path
    cluster_domain: str = "cluster.local"  # the kubelet's --cluster-domain
    dns: ClusterDNS | None = None  # the cluster's DNS, on the gateway
    first_host: int = 10  # the pods' addresses count up from here, one per creation
    pods: list[Pod] = field(default_factory=list)

    def __post_init__(self) -> None:
        by_kind: dict[str, list[dict[str, Any]]] = {}
        for obj in self.objects:
            by_kind.setdefault(obj["kind"], []).append(obj)
        (self.statefulset,) = by_kind["StatefulSet"]
        self.configmaps = {c["metadata"]["name"]: c for c in by_kind.get("ConfigMap", [])}
        (self.pdb,) = by_kind["PodDisruptionBudget"]
        spec = self.statefulset["spec"]
        self.name = self.statefulset["metadata"]["name"]
        self.namespace = self.statefulset["metadata"]["namespace"]
        self.replicas = spec["replicas"]
        headless = [s for s in by_kind.get("Service", []) if s["metadata"]["name"] == spec["serviceName"]]
        if not headless or not headless[0]["spec"].get("publishNotReadyAddresses"):
            raise UnknownField(f"Service {spec['serviceName']}: pod DNS names exist here from the pod's "
                               "creation, which only publishNotReadyAddresses: true asks")
        self.secrets = {s["metadata"]["name"]: s for s in by_kind.get("Secret", [])}
        self.service_fqdn = ClusterDNS.service_fqdn(spec["serviceName"], self.namespace, self.cluster_domain)
        if self.dns is None:
            self.dns = ClusterDNS(self.gateway)
        self.dns.add_service(self.service_fqdn)
        self._hosts = itertools.count(self.first_host)
        self._hosts_lock = threading.Lock()
        self._evictions: list[threading.Thread] = []
        self._eviction_lock = threading.Lock()
        self.pods = [self._pod(ordinal) for ordinal in range(self.replicas)]

    @property
    def gateway(self) -> str:
        return f"{self.subnet_prefix}1"

    def next_address(self) -> str:
        """A pod's address on each creation: never one an earlier pod of the run had."""
        with self._hosts_lock:
            host = next(self._hosts)
        assert host < 255, "the pod network's addresses are used up"
        return f"{self.subnet_prefix}{host}"

    @property
    def min_available(self) -> int:
        """The ready pods the PodDisruptionBudget asks for."""
        spec = self.pdb["spec"]
        if "minAvailable" in spec:
            return spec["minAvailable"]
        return self.replicas - spec["maxUnavailable"]

    def claim(self, ordinal: int) -> Path:
        """The claim's volume, as a host folder of its own: <claim>-<statefulset>-<ordinal>."""
        (claim,) = self.statefulset["spec"]["volumeClaimTemplates"]
        return self.scratch / "claims" / f"{claim['metadata']['name']}-{self.name}-{ordinal}"

    def _pod(self, ordinal: int) -> Pod:
        sts_spec = self.statefulset["spec"]
        template = sts_spec["template"]["spec"]
        _only(template, POD_FIELDS, "pod spec")
        if template.get("enableServiceLinks", True) is not False:
            raise UnknownField("pod spec: enableServiceLinks (true by default) injects the Services' "
                               "variables, which the pod-spec run does not translate")
        pod_security = template.get("securityContext", {})
        _only(pod_security, POD_SECURITY_FIELDS, "pod securityContext")
        if pod_security.get("seccompProfile", {}).get("type", "RuntimeDefault") != "RuntimeDefault":
            raise UnknownField("only the RuntimeDefault seccomp profile is translated")
        (container,) = template["containers"]
        _only(container, CONTAINER_FIELDS, f"container {container['name']}")
        init_containers = template.get("initContainers", [])
        for init in init_containers:
            _only(init, INIT_CONTAINER_FIELDS, f"init container {init['name']}")
        name = f"{self.name}-{ordinal}"

        # What every container of the pod shares: its address (new on each creation) and
        # hostname, and the kubelet's resolv.conf for dnsPolicy ClusterFirst: the cluster DNS,
        # the namespace's search domains, ndots:5.
        network = ["--hostname", name, "--network", self.network, "--ip", POD_IP, "--dns", self.gateway]
        for domain in (f"{self.namespace}.svc.{self.cluster_domain}", f"svc.{self.cluster_domain}",
                       self.cluster_domain):
            network += ["--dns-search", domain]
        network += ["--dns-option", "ndots:5"]

        # Its volumes: each emptyDir a tmpfs of the pod's own, mounted in every container using it.
        fs_group = pod_security.get("fsGroup")
        volumes = {v["name"]: v for v in template.get("volumes", [])}
        empty_dirs: dict[str, Path] = {}
        for volume in volumes.values():
            if "emptyDir" not in volume:
                continue
            empty_dir = volume["emptyDir"]
            _only(empty_dir, {"medium", "sizeLimit"}, f"emptyDir {volume['name']}")
            if empty_dir.get("medium") != "Memory":
                raise UnknownField("only memory-backed emptyDir is translated (as tmpfs)")
        prepare: list[Callable[[], None]] = []
        fs_group_policy = pod_security.get("fsGroupChangePolicy", "Always")
        claims = {c["metadata"]["name"] for c in sts_spec.get("volumeClaimTemplates", [])}
        pod_empty_dirs: list[tuple[Path, str]] = []
        for volume in volumes.values():
            if "emptyDir" in volume:
                size = _memory_bytes(volume["emptyDir"].get("sizeLimit", "64Mi"))
                path = self.scratch / name / "emptyDir" / volume["name"]
                # The kubelet's emptyDir: 0777, and with an fsGroup that group and setgid.
                options = f"size={size},mode={'2777' if fs_group is not None else '0777'}"
                if fs_group is not None:
                    options += f",gid={fs_group}"
                empty_dirs[volume["name"]] = path
                pod_empty_dirs.append((path, options))

        def container_args(spec: dict[str, Any], podman_name: str) -> list[str]:
            where = f"container {spec['name']}"
            # The kubelet ignores an image's HEALTHCHECK: its probes are the manifest's.
            args = ["run", "-d", "--name", podman_name, *network, "--pull", "never", "--no-healthcheck"]
            context = spec.get("securityContext", {})
            _only(context, CONTAINER_SECURITY_FIELDS, f"{where} securityContext")
            uid, gid = pod_security.get("runAsUser"), pod_security.get("runAsGroup")
            if (pod_security.get("runAsNonRoot") or context.get("runAsNonRoot")) and not uid:
                raise UnknownField(f"{where}: runAsNonRoot without a numeric non-zero runAsUser: "
                                   "the kubelet could not verify it")
            args += ["--user", f"{uid}:{gid}"]
            if fs_group is not None:
                args += ["--group-add", str(fs_group)]
            if context.get("readOnlyRootFilesystem"):
                # Kubernetes gives no writable /tmp or /run: podman's --read-only would.
                args += ["--read-only", "--read-only-tmpfs=false"]
            if context.get("allowPrivilegeEscalation") is False:
                args += ["--security-opt", "no-new-privileges"]
            capabilities = context.get("capabilities", {})
            _only(capabilities, {"drop", "add"}, f"{where} capabilities")
            for cap in capabilities.get("drop", []):
                args += ["--cap-drop", cap]
            if capabilities.get("add"):
                raise UnknownField(f"{where}: added capabilities are not translated")

            resources = spec.get("resources", {})
            _only(resources, {"limits", "requests"}, f"{where} resources")
            limits = resources.get("limits", {})
            _only(limits, {"cpu", "memory"}, f"{where} resources.limits")
            if "memory" in limits:
                args += ["--memory", str(_memory_bytes(limits["memory"]))]
            if "cpu" in limits:
                args += ["--cpus", _cpus(limits["cpu"])]

            env: dict[str, str] = {}
            for item in spec.get("env", []):
                _only(item, {"name", "value", "valueFrom"}, f"{where} env {item['name']}")
                if "valueFrom" not in item:
                    env[item["name"]] = expand(item.get("value", ""), env)
                    continue
                _only(item["valueFrom"], {"fieldRef", "resourceFieldRef"}, f"{where} env {item['name']} valueFrom")
                if "resourceFieldRef" in item["valueFrom"]:
                    env[item["name"]] = _resource_field(item["valueFrom"]["resourceFieldRef"], spec,
                                                        f"{where} env {item['name']}")
                    continue
                field_path = item["valueFrom"]["fieldRef"]["fieldPath"]
                values = {"metadata.name": name, "status.podIP": POD_IP, "metadata.namespace": self.namespace}
                if field_path not in values:
                    raise UnknownField(f"{where} env {item['name']}: fieldRef {field_path} is not translated")
                env[item["name"]] = values[field_path]
            for key, value in env.items():
                args += ["--env", f"{key}={value}"]

            for mount in spec.get("volumeMounts", []):
                _only(mount, {"name", "mountPath", "subPath", "readOnly"}, f"{where} volumeMount {mount['name']}")
                target, read_only = mount["mountPath"], ":ro" if mount.get("readOnly") else ""
                if mount["name"] in claims:
                    claim = self.claim(ordinal)
                    prepare.append(functools.partial(_prepare_claim, claim, fs_group, fs_group_policy))
                    args += ["-v", f"{claim}:{target}{read_only}"]
                    continue
                volume = volumes[mount["name"]]
                if "configMap" in volume:
                    data = self.configmaps[volume["configMap"]["name"]]["data"]
                    key = mount.get("subPath")
                    if key is None:
                        raise UnknownField("a whole ConfigMap as a folder is not translated")
                    host_file = self.scratch / name / "configMap" / volume["name"] / key
                    host_file.parent.mkdir(parents=True, exist_ok=True)
                    host_file.write_text(data[key])
                    host_file.chmod(0o644)
                    args += ["-v", f"{host_file}:{target}{read_only or ':ro'}"]
                elif "emptyDir" in volume:
                    if "subPath" in mount:
                        raise UnknownField(f"{where}: a subPath of an emptyDir is not translated")
                    args += ["-v", f"{empty_dirs[mount['name']]}:{target}{read_only}"]
                elif "secret" in volume:
                    if "subPath" in mount:
                        raise UnknownField(f"{where}: a subPath of a Secret volume is not translated")
                    folder = self.scratch / name / "secret" / volume["name"]
                    prepare.append(functools.partial(self._write_secret, volume["secret"], folder, fs_group))
                    args += ["-v", f"{folder}:{target}:ro"]  # the kubelet mounts Secrets read-only
                else:
                    raise UnknownField(f"volume {mount['name']} of type {set(volume) - {'name'}} is not translated")

            if "command" in spec:
                # command replaces the image's ENTRYPOINT and (args or nothing) its CMD.
                args += ["--entrypoint", json.dumps([expand(c, env) for c in spec["command"]])]
            args.append(spec["image"])
            args += [expand(a, env) for a in spec.get("args", [])]
            return args

        init_runs = [(init["name"], container_args(init, f"{name}.{init['name']}")) for init in init_containers]
        run_args = container_args(container, name)

        ports: dict[str, tuple[int, str]] = {}
        for port in container.get("ports", []):
            _only(port, PORT_FIELDS, f"container {container['name']} port {port.get('name')}")
            protocol = port.get("protocol", "TCP")
            if protocol not in PORT_PROTOCOLS:
                raise UnknownField(f"container port {port.get('name')}: protocol {protocol} is not translated")
            if "name" in port:
                ports[port["name"]] = (port["containerPort"], protocol)

        def prepare_all() -> None:
            for step in prepare:
                step()

        where = f"container {container['name']}"
        def dns_record(address: str | None) -> None:
            if address is None:
                self.dns.unregister(self.service_fqdn, name)
            else:
                self.dns.register(self.service_fqdn, name, address)

        return Pod(
            name=name, run_args=run_args, grace=template.get("terminationGracePeriodSeconds", 30),
            next_address=self.next_address, dns=dns_record,
            init_containers=init_runs, empty_dirs=pod_empty_dirs, prepare=prepare_all,
            pre_stop=_pre_stop_command(container, where),
            startup=Probe.of(container["startupProbe"], ports, f"{where} startupProbe"),
            readiness=Probe.of(container["readinessProbe"], ports, f"{where} readinessProbe"),
            liveness=Probe.of(container["livenessProbe"], ports, f"{where} livenessProbe"),
        )

    def _write_secret(self, volume: dict[str, Any], folder: Path, fs_group: int | None) -> None:
        """The kubelet's Secret volume: the keys asked for (all without items), each at its path
        with its mode, group-owned by the fsGroup and group-readable (a read-only volume)."""
        _only(volume, {"secretName", "items", "defaultMode"}, "secret volume")
        secret = self.secrets.get(volume["secretName"])
        if secret is None:  # the kubelet waits; here the test did not provide it
            raise AssertionError(f"Secret {volume['secretName']} is not among the objects")
        data = {k: base64.b64decode(v) for k, v in secret.get("data", {}).items()}
        items = volume.get("items") or [{"key": key, "path": key} for key in data]
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for item in items:
            _only(item, {"key", "path", "mode"}, "secret volume item")
            path = folder / item["path"]
            path.write_bytes(data[item["key"]])
            mode = item.get("mode", volume.get("defaultMode", 0o644))
            if fs_group is not None:
                os.chown(path, 0, fs_group)
                mode |= 0o440
            path.chmod(mode)
        if fs_group is not None:
            os.chown(folder, 0, fs_group)
            folder.chmod(0o2755)

    def ready_count(self) -> int:
        return sum(pod.ready for pod in self.pods)

    def wait_ready(self, pods: list[Pod] | None = None, seconds: float = 90) -> None:
        pods = self.pods if pods is None else pods
        deadline = time.monotonic() + seconds
        while not all(p.ready for p in pods):
            failed = [p.failed for p in pods if p.failed]
            if failed:
                raise AssertionError("\n".join(failed))
            if time.monotonic() > deadline:
                raise AssertionError(f"not ready within {seconds} s:\n"
                                     + "\n".join(p.status() for p in pods if not p.ready))
            time.sleep(0.2)

    def evict(self, pod: Pod) -> bool:
        """The eviction API: refused (429) when it would leave fewer healthy pods than the
        PodDisruptionBudget asks; granted, the pod is deleted with its grace period and the
        StatefulSet controller makes it again (podManagementPolicy Parallel: at once)."""
        with self._eviction_lock:
            healthy = sum(p.ready and not p.disrupted for p in self.pods)
            counted = pod.ready and not pod.disrupted
            # unhealthyPodEvictionPolicy IfHealthyBudget (the default): an unready pod may go
            # while the budget is met; a ready one only if one more may be disrupted.
            if healthy - counted < self.min_available:
                return False
            pod.disrupted = True
            eviction = threading.Thread(target=self.recreate, args=(pod,), daemon=True)
            self._evictions.append(eviction)
        eviction.start()
        return True

    def recreate(self, pod: Pod) -> None:
        """kubectl delete pod, then the controller's new pod of the same name and claim."""
        pod.delete()
        pod.start()

    def wait_evictions(self) -> None:
        for eviction in self._evictions:
            eviction.join()

    def remove(self) -> None:
        """Every pod deleted (at once, each with its grace period), then the claims' folders."""
        self.wait_evictions()
        deletions = [threading.Thread(target=pod.delete) for pod in self.pods]
        for deletion in deletions:
            deletion.start()
        for deletion in deletions:
            deletion.join()
        shutil.rmtree(self.scratch / "claims", ignore_errors=True)


def _prepare_claim(folder: Path, fs_group: int | None, policy: str) -> None:
    """A claim as a new volume is: the root of a fresh file system (root's, 0755, with its
    lost+found), nothing of the image copied in. At each mount the kubelet gives it the
    fsGroup: group-owned, group-writable, setgid folders; with OnRootMismatch only when the
    root does not already match."""
    if not folder.exists():
        folder.mkdir(parents=True)
        folder.chmod(0o755)
        (folder / "lost+found").mkdir(mode=0o700)
    if fs_group is None:
        return
    root = folder.stat()
    if policy == "OnRootMismatch" and root.st_gid == fs_group and root.st_mode & 0o2770 == 0o2770:
        return
    for path in [folder, *folder.rglob("*")]:
        os.lchown(path, -1, fs_group)
        if path.is_symlink():
            continue
        mask = 0o2770 if path.is_dir() else 0o660
        path.chmod(stat.S_IMODE(path.lstat().st_mode) | mask)
