"""The rendered StatefulSet's pod template, translated field by field into podman
containers: one per ordinal, on a podman network standing in for the pod network.

This is a pod-spec run, not a cluster: no API server, scheduler, kubelet or
controller takes part. What a field asks of the container runtime is done with
podman's own option for it; what the kubelet does (probes, $(VAR) expansion,
fieldRef values, restarts) this module does on the manifest's own values; what only
a scheduler or controller acts on is listed in SCHEDULING_FIELDS and not run. A field
that is in none of these lists fails the translation, so a manifest that grows a
field the run does not honour cannot pass unnoticed.
"""

from __future__ import annotations

import functools
import re
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .podman import podman

# Fields only a scheduler or the API server acts on: read, and not run here.
SCHEDULING_FIELDS = {"affinity", "topologySpreadConstraints", "serviceAccountName"}
POD_FIELDS = {"containers", "volumes", "securityContext", "terminationGracePeriodSeconds",
              "automountServiceAccountToken", *SCHEDULING_FIELDS}
POD_SECURITY_FIELDS = {"runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "fsGroupChangePolicy",
                       "seccompProfile"}
CONTAINER_FIELDS = {"name", "image", "imagePullPolicy", "args", "ports", "env", "resources",
                    "securityContext", "startupProbe", "livenessProbe", "readinessProbe", "volumeMounts"}
CONTAINER_SECURITY_FIELDS = {"allowPrivilegeEscalation", "readOnlyRootFilesystem", "runAsNonRoot",
                             "capabilities"}
PROBE_FIELDS = {"httpGet", "periodSeconds", "timeoutSeconds", "failureThreshold", "successThreshold",
                "initialDelaySeconds"}
# Translated into podman options: every field above that reaches the container runtime.
COVERED = {
    "image": "the image (pulled never: built locally)",
    "args": "the command's arguments",
    "env": "value, fieldRef metadata.name and status.podIP, $(VAR) expanded as the kubelet does",
    "ports": "named ports, for the probes",
    "resources.limits": "--memory and --cpus (requests only weigh in scheduling)",
    "securityContext (pod)": "runAsUser/runAsGroup as --user, runAsNonRoot checked, fsGroup as the "
                             "data volume's group (setgid) and a supplementary group, seccomp RuntimeDefault",
    "securityContext (container)": "--read-only, --cap-drop ALL, no-new-privileges",
    "volumeMounts": "the ConfigMap key at its subPath read-only, one named volume per ordinal "
                    "(the claim template), emptyDir as tmpfs with its sizeLimit (Memory medium)",
    "probes": "startup, readiness and liveness over HTTP on their period, timeout and thresholds; "
              "a failed liveness or startup probe restarts the container",
    "terminationGracePeriodSeconds": "podman stop -t",
    "serviceName": "a DNS alias per pod: <pod>.<service>.<namespace>.svc.<domain>",
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


def expand(value: str, env: dict[str, str]) -> str:
    """$(VAR) as the kubelet expands it: defined earlier → its value; $$ → $; else kept."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), value)


@dataclass
class Probe:
    path: str
    port: int
    period: float
    timeout: float
    failure_threshold: int
    success_threshold: int = 1
    initial_delay: float = 0

    @classmethod
    def of(cls, spec: dict[str, Any], ports: dict[str, int], where: str) -> Probe:
        _only(spec, PROBE_FIELDS, where)
        http = spec["httpGet"]
        _only(http, {"path", "port"}, f"{where}.httpGet")
        port = http["port"]
        return cls(http["path"], ports[port] if isinstance(port, str) else port,
                   spec.get("periodSeconds", 10), spec.get("timeoutSeconds", 1),
                   spec.get("failureThreshold", 3), spec.get("successThreshold", 1),
                   spec.get("initialDelaySeconds", 0))

    def check(self, ip: str) -> bool:
        try:
            with urllib.request.urlopen(f"http://{ip}:{self.port}{self.path}", timeout=self.timeout) as r:
                return 200 <= r.status < 400
        except OSError:
            return False


@dataclass
class Pod:
    """One replica: its podman run arguments and the kubelet's probe loop."""

    name: str
    ip: str
    run_args: list[str]
    grace: int
    startup: Probe
    readiness: Probe
    liveness: Probe
    prepare: Callable[[], None] = lambda: None  # the claim's volume, before the first start
    ready: bool = False
    restarts: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        podman("rm", "-f", self.name, check=False)
        self.prepare()
        podman(*self.run_args)
        self._stop.clear()
        self.ready = False
        self._thread = threading.Thread(target=self._probe_loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """The kubelet's stop: probes end, SIGTERM, SIGKILL after the grace period."""
        self._stop.set()
        self.ready = False
        if self._thread:
            self._thread.join()
        podman("stop", "-t", str(self.grace), self.name, check=False)

    def delete(self) -> None:
        self.stop()
        podman("rm", "-f", self.name, check=False)

    def _probe_loop(self) -> None:
        time.sleep(self.startup.initial_delay)
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
        """What the kubelet does after a failed liveness or startup probe."""
        self.ready = False
        self.restarts += 1
        podman("restart", "-t", str(self.grace), self.name, check=False)


@dataclass
class PodSpecRun:
    """Every replica of the StatefulSet in ``objects`` (as kustomize built them)."""

    objects: list[dict[str, Any]]
    network: str
    subnet_prefix: str  # e.g. "10.89.231." — the network's own addresses
    scratch: Path
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
        pod_security = template.get("securityContext", {})
        _only(pod_security, POD_SECURITY_FIELDS, "pod securityContext")
        (container,) = template["containers"]
        _only(container, CONTAINER_FIELDS, "container")
        name = f"{self.name}-{ordinal}"
        ip = f"{self.subnet_prefix}{10 + ordinal}"
        domain_suffix = f"{sts_spec['serviceName']}.{self.namespace}.svc"
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}

        args = ["run", "-d", "--name", name, "--hostname", name, "--network", self.network, "--ip", ip,
                "--pull", "never"]
        for alias in (f"{name}.{domain_suffix}", *self._cluster_domain_aliases(container, name)):
            args += ["--network-alias", alias]

        uid, gid = pod_security.get("runAsUser"), pod_security.get("runAsGroup")
        if pod_security.get("runAsNonRoot") and not uid:
            raise UnknownField("runAsNonRoot without a numeric runAsUser: the kubelet could not verify it")
        args += ["--user", f"{uid}:{gid}"]
        fs_group = pod_security.get("fsGroup")
        if fs_group is not None:
            args += ["--group-add", str(fs_group)]
        if pod_security.get("seccompProfile", {}).get("type", "RuntimeDefault") != "RuntimeDefault":
            raise UnknownField("only the RuntimeDefault seccomp profile is translated")

        context = container.get("securityContext", {})
        _only(context, CONTAINER_SECURITY_FIELDS, "container securityContext")
        if context.get("readOnlyRootFilesystem"):
            args.append("--read-only")
        if context.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        for cap in context.get("capabilities", {}).get("drop", []):
            args += ["--cap-drop", cap]
        if context.get("capabilities", {}).get("add"):
            raise UnknownField("added capabilities are not translated")

        limits = container.get("resources", {}).get("limits", {})
        _only(limits, {"cpu", "memory"}, "resources.limits")
        if "memory" in limits:
            args += ["--memory", str(_memory_bytes(limits["memory"]))]
        if "cpu" in limits:
            args += ["--cpus", _cpus(limits["cpu"])]

        env: dict[str, str] = {}
        for item in container.get("env", []):
            if "value" in item:
                env[item["name"]] = expand(item["value"], env)
                continue
            field_path = item["valueFrom"]["fieldRef"]["fieldPath"]
            values = {"metadata.name": name, "status.podIP": ip, "metadata.namespace": self.namespace}
            if field_path not in values:
                raise UnknownField(f"env {item['name']}: fieldRef {field_path} is not translated")
            env[item["name"]] = values[field_path]
        for key, value in env.items():
            args += ["--env", f"{key}={value}"]

        prepare: Callable[[], None] = lambda: None
        volumes = {v["name"]: v for v in template.get("volumes", [])}
        claims = {c["metadata"]["name"] for c in sts_spec.get("volumeClaimTemplates", [])}
        for mount in container.get("volumeMounts", []):
            _only(mount, {"name", "mountPath", "subPath", "readOnly"}, f"volumeMount {mount['name']}")
            target, read_only = mount["mountPath"], ":ro" if mount.get("readOnly") else ""
            if mount["name"] in claims:
                volume = self.volume(ordinal)
                prepare = functools.partial(self._prepare_volume, volume, fs_group, target, container["image"])
                args += ["-v", f"{volume}:{target}{read_only}"]
                continue
            volume = volumes[mount["name"]]
            if "configMap" in volume:
                data = self.configmaps[volume["configMap"]["name"]]["data"]
                key = mount.get("subPath")
                if key is None:
                    raise UnknownField("a whole ConfigMap as a folder is not translated")
                host_file = self.scratch / name / key
                host_file.parent.mkdir(parents=True, exist_ok=True)
                host_file.write_text(data[key])
                host_file.chmod(0o644)
                args += ["-v", f"{host_file}:{target}{read_only or ':ro'}"]
            elif "emptyDir" in volume:
                empty_dir = volume["emptyDir"]
                _only(empty_dir, {"medium", "sizeLimit"}, f"emptyDir {mount['name']}")
                if empty_dir.get("medium") != "Memory":
                    raise UnknownField("only memory-backed emptyDir is translated (as tmpfs)")
                size = _memory_bytes(empty_dir.get("sizeLimit", "64Mi"))
                args += ["--tmpfs", f"{target}:size={size},mode=1777"]
            else:
                raise UnknownField(f"volume {mount['name']} of type {set(volume) - {'name'}} is not translated")

        args.append(container["image"])
        args += [expand(a, env) for a in container.get("args", [])]

        where = f"container {container['name']}"
        return Pod(
            name=name, ip=ip, run_args=args, grace=template.get("terminationGracePeriodSeconds", 30),
            prepare=prepare,
            startup=Probe.of(container["startupProbe"], ports, f"{where} startupProbe"),
            readiness=Probe.of(container["readinessProbe"], ports, f"{where} readinessProbe"),
            liveness=Probe.of(container["livenessProbe"], ports, f"{where} livenessProbe"),
        )

    @staticmethod
    def _cluster_domain_aliases(container: dict[str, Any], name: str) -> list[str]:
        """The pod's full name as the peers list spells it (with the cluster domain)."""
        peers = next((e.get("value", "") for e in container.get("env", []) if e["name"] == "TOKMESH_CLUSTER_PEERS"), "")
        return [p.rsplit(":", 1)[0] for p in peers.split(",") if p.startswith(f"{name}.")]

    def _prepare_volume(self, volume: str, fs_group: int | None, target: str, image: str) -> None:
        """The claim's volume, created once; the kubelet gives it the fsGroup (setgid)."""
        if podman("volume", "exists", volume, check=False).returncode == 0:
            return
        podman("volume", "create", volume)
        if fs_group is not None:
            # The stand-in's runtime base is busybox: its applets by their multi-call name.
            podman("run", "--rm", "--pull", "never", "--user", "0:0", "--entrypoint", "/bin/busybox",
                   "-v", f"{volume}:{target}", image, "sh", "-c",
                   f"/bin/busybox chgrp {fs_group} {target} && /bin/busybox chmod 2775 {target}")

    def ready_count(self) -> int:
        return sum(pod.ready for pod in self.pods)

    def wait_ready(self, pods: list[Pod] | None = None, seconds: float = 90) -> None:
        pods = self.pods if pods is None else pods
        deadline = time.monotonic() + seconds
        while not all(p.ready for p in pods):
            if time.monotonic() > deadline:
                raise AssertionError(f"not ready within {seconds} s: {[p.name for p in pods if not p.ready]}")
            time.sleep(0.2)

    def remove(self) -> None:
        for pod in self.pods:
            pod.delete()
            podman("volume", "rm", "-f", self.volume(self.pods.index(pod)), check=False)
