"""The rendered StatefulSet's pod template, translated field by field into podman
containers: one pod per ordinal, on a podman network standing in for the pod network.

This is a pod-spec run, not a cluster: no API server, scheduler, kubelet or
controller takes part. What a field asks of the container runtime is done with
podman's own option for it; what the kubelet does (init containers run to completion
in order before the main container, probes, $(VAR) expansion, fieldRef values,
emptyDir lifetimes, restarts) this module does on the manifest's own values; what
only a scheduler or controller acts on is listed in SCHEDULING_FIELDS and not run. A
field that is in none of these lists fails the translation, so a manifest that grows
a field the run does not honour cannot pass unnoticed.

A pod here is its containers run one after the other with the same network identity:
the pod's fixed address on the network (its status.podIP; one per ordinal, where
Kubernetes would give a re-created pod a new one) and its hostname. The headless
Service's per-pod DNS names are host entries in every container, for every pod of the
set: they resolve whether the pod is ready or not, which is what the Service's
publishNotReadyAddresses asks (without it the translation fails), and unlike
Kubernetes they still resolve, to an address nobody answers on, while a pod is
deleted. Its
volumes are shared by all its containers: the claim's named volume per ordinal (kept
across re-creations), the ConfigMap's keys, and each memory-backed emptyDir as a
tmpfs of its own per pod, made empty on each creation of the pod. Pod.start() makes
the pod anew, as the controller does after a deletion: fresh emptyDirs, every init
container again, then the main container and the kubelet's probes, all in the
background (pods start in parallel: an init container may wait for another pod).
"""

from __future__ import annotations

import functools
import json
import math
import re
import ssl
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .podman import podman

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
           "on the podman network), resourceFieldRef of the container's own limits (the limit over the "
           "divisor, rounded up, as the kubelet does), $(VAR) expanded as the kubelet does",
    "lifecycle.preStop": "exec: run in the main container before SIGTERM, within the grace period",
    "enableServiceLinks": "false only: no Service variables are injected here, so true (the default) "
                          "is not translated",
    "initContainers": "run to completion one after the other before the main container, with the same "
                      "translation, network identity and volumes; a non-zero exit fails the pod's start "
                      "with its output; re-run on each creation of the pod",
    "ports": "named ports for the probes; TCP and UDP both reach the pod on the network",
    "resources.limits": "--memory and --cpus (requests only weigh in scheduling)",
    "securityContext (pod)": "runAsUser/runAsGroup as --user, runAsNonRoot checked, fsGroup as the "
                             "volumes' group (setgid) and a supplementary group, seccomp RuntimeDefault",
    "securityContext (container)": "--read-only (without podman's writable /tmp and /run), --cap-drop, "
                                   "no-new-privileges, runAsNonRoot checked",
    "volumeMounts": "the ConfigMap key at its subPath read-only, one named volume per ordinal "
                    "(the claim template), a memory-backed emptyDir as a tmpfs of its sizeLimit per pod, "
                    "shared by the pod's containers",
    "probes": "startup, readiness and liveness by httpGet (scheme HTTP, or HTTPS without a certificate "
              "check, as the kubelet) on their period, timeout and thresholds; a failed liveness or "
              "startup probe restarts the main container",
    "terminationGracePeriodSeconds": "podman stop -t, for the running init or main container",
    "serviceName": "every pod's <pod>.<service>.<namespace>.svc[.<cluster domain>] as a host entry, "
                   "ready or not (publishNotReadyAddresses)",
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


@dataclass
class Pod:
    """One replica: its containers' podman run arguments and the kubelet's work on them."""

    name: str
    ip: str
    run_args: list[str]  # the main container's `podman run`
    grace: int
    startup: Probe
    readiness: Probe
    liveness: Probe
    init_containers: list[tuple[str, list[str]]] = field(default_factory=list)  # (name, `podman run` args)
    empty_dirs: list[tuple[Path, str]] = field(default_factory=list)  # host tmpfs, its mount options
    prepare: Callable[[], None] = lambda: None  # the claim's volume, before the first start
    ready: bool = False
    restarts: int = 0
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
        """The pod created anew (after a deletion): fresh emptyDirs, init containers, main container."""
        self._remove_containers()
        self._stop.clear()
        self.ready, self.failed, self.init_runs, self.main_started = False, None, [], None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """The kubelet's stop: probes end, SIGTERM, SIGKILL after the grace period."""
        with self._lock:
            self._stop.set()
            running_init = self._running_init
        self.ready = False
        if running_init:
            podman("stop", "-t", str(self.grace), running_init, check=False)
        if self._thread:
            self._thread.join()
        grace = self.grace
        if self.pre_stop and podman("container", "exists", self.name, check=False).returncode == 0:
            # The kubelet runs the preStop hook first; the grace period counts from its start.
            started = time.monotonic()
            podman("exec", self.name, *self.pre_stop, check=False, timeout=self.grace)
            grace = max(0, self.grace - math.ceil(time.monotonic() - started))
        podman("stop", "-t", str(grace), self.name, check=False)

    def delete(self) -> None:
        """kubectl delete pod: stopped, its containers and emptyDirs gone (the claim stays)."""
        self.stop()
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
        return f"{self.name}: main container not ready; its last output:\n" + "\n".join(
            (out + err).splitlines()[-10:])

    def logs(self) -> tuple[str, str]:
        """The main container's (stdout, stderr) since its creation."""
        result = podman("logs", self.name, check=False, text=True)
        return result.stdout, result.stderr

    def _remove_containers(self) -> None:
        for name, _ in self.init_containers:
            podman("rm", "-f", self.init_container_name(name), check=False)
        podman("rm", "-f", self.name, check=False)

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
        except (AssertionError, subprocess.CalledProcessError) as error:
            self.failed = f"pod {self.name}: its volumes could not be set up: {error}"
            return
        for container, args in self.init_containers:
            name = self.init_container_name(container)
            with self._lock:
                if self._stop.is_set():
                    return
                started = time.monotonic()
                podman(*args)
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
            podman(*self.run_args)
            self.main_started = time.monotonic()
        self._probe_loop()

    def _probe_loop(self) -> None:
        self._stop.wait(self.startup.initial_delay)
        failures = 0
        while not self._stop.is_set():  # startup probe: nothing else runs before it passes
            if self.startup.check(self.ip):
                break
            failures += 1
            if failures >= self.startup.failure_threshold:
                self._restart()
                failures = 0
            self._stop.wait(self.startup.period)
        next_ready = next_live = time.monotonic()
        ready_ok = live_fail = ready_fail = 0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_ready:
                if self.readiness.check(self.ip):
                    ready_ok, ready_fail = ready_ok + 1, 0
                    if ready_ok >= self.readiness.success_threshold:
                        self.ready = True
                else:
                    ready_ok, ready_fail = 0, ready_fail + 1
                    if ready_fail >= self.readiness.failure_threshold:
                        self.ready = False
                next_ready = now + self.readiness.period
            if now >= next_live:
                live_fail = 0 if self.liveness.check(self.ip) else live_fail + 1
                if live_fail >= self.liveness.failure_threshold:
                    self._restart()
                    live_fail = 0
                next_live = now + self.liveness.period
            self._stop.wait(0.2)

    def _restart(self) -> None:
        """What the kubelet does after a failed liveness or startup probe: the main
        container restarts; the init containers do not run again, the emptyDirs stay."""
        self.ready = False
        self.restarts += 1
        podman("restart", "-t", str(self.grace), self.name, check=False)


def _unmount(path: Path) -> None:
    if subprocess.run(["mountpoint", "-q", str(path)], check=False).returncode == 0:
        subprocess.run(["umount", str(path)], check=True, capture_output=True)


@dataclass
class PodSpecRun:
    """Every replica of the StatefulSet in ``objects`` (as kustomize built them)."""

    objects: list[dict[str, Any]]
    network: str
    subnet_prefix: str  # e.g. "10.89.231." — the network's own addresses
    scratch: Path
    cluster_domain: str = "cluster.local"  # the kubelet's --cluster-domain
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
        self.pods = [self._pod(ordinal) for ordinal in range(self.replicas)]

    @property
    def min_available(self) -> int:
        """The ready pods the PodDisruptionBudget asks for."""
        spec = self.pdb["spec"]
        if "minAvailable" in spec:
            return spec["minAvailable"]
        return self.replicas - spec["maxUnavailable"]

    def volume(self, ordinal: int) -> str:
        (claim,) = self.statefulset["spec"]["volumeClaimTemplates"]
        return f"{claim['metadata']['name']}-{self.name}-{ordinal}"

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
        ip = f"{self.subnet_prefix}{10 + ordinal}"
        service_suffix = f"{sts_spec['serviceName']}.{self.namespace}.svc"

        # What every container of the pod shares: its address and hostname; and the headless
        # Service's records of every pod of the set, as host entries (addresses are fixed per
        # ordinal here): podman's own DNS (aardvark-dns) is not reliable on a machine where
        # other networks come and go.
        network = ["--hostname", name, "--network", self.network, "--ip", ip]
        for other in range(self.replicas):
            other_name, other_ip = f"{self.name}-{other}", f"{self.subnet_prefix}{10 + other}"
            for host in (f"{other_name}.{service_suffix}", f"{other_name}.{service_suffix}.{self.cluster_domain}"):
                network += ["--add-host", f"{host}:{other_ip}"]

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
                values = {"metadata.name": name, "status.podIP": ip, "metadata.namespace": self.namespace}
                if field_path not in values:
                    raise UnknownField(f"{where} env {item['name']}: fieldRef {field_path} is not translated")
                env[item["name"]] = values[field_path]
            for key, value in env.items():
                args += ["--env", f"{key}={value}"]

            for mount in spec.get("volumeMounts", []):
                _only(mount, {"name", "mountPath", "subPath", "readOnly"}, f"{where} volumeMount {mount['name']}")
                target, read_only = mount["mountPath"], ":ro" if mount.get("readOnly") else ""
                if mount["name"] in claims:
                    volume_name = self.volume(ordinal)
                    prepare.append(functools.partial(self._prepare_volume, volume_name, fs_group, target,
                                                     spec["image"]))
                    args += ["-v", f"{volume_name}:{target}{read_only}"]
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
        return Pod(
            name=name, ip=ip, run_args=run_args, grace=template.get("terminationGracePeriodSeconds", 30),
            init_containers=init_runs, empty_dirs=pod_empty_dirs, prepare=prepare_all,
            pre_stop=_pre_stop_command(container, where),
            startup=Probe.of(container["startupProbe"], ports, f"{where} startupProbe"),
            readiness=Probe.of(container["readinessProbe"], ports, f"{where} readinessProbe"),
            liveness=Probe.of(container["livenessProbe"], ports, f"{where} livenessProbe"),
        )

    def _prepare_volume(self, volume: str, fs_group: int | None, target: str, image: str) -> None:
        """The claim's volume, created once; the kubelet gives it the fsGroup (setgid)."""
        if podman("volume", "exists", volume, check=False).returncode == 0:
            return
        podman("volume", "create", volume)
        if fs_group is not None:
            # busybox's applets by their multi-call name: the stand-in's runtime base and
            # Alpine's both have /bin/busybox.
            podman("run", "--rm", "--pull", "never", "--user", "0:0", "--entrypoint", "/bin/busybox",
                   "-v", f"{volume}:{target}", image, "sh", "-c",
                   f"/bin/busybox chgrp {fs_group} {target} && /bin/busybox chmod 2775 {target}")

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

    def remove(self) -> None:
        """Every pod deleted (at once, each with its grace period), then the claims' volumes."""
        deletions = [threading.Thread(target=pod.delete) for pod in self.pods]
        for deletion in deletions:
            deletion.start()
        for deletion in deletions:
            deletion.join()
        for ordinal in range(self.replicas):
            podman("volume", "rm", "-f", self.volume(ordinal), check=False)
