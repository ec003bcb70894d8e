"""A real, throwaway Kubernetes control plane on loopback, for tests.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler run as they would in a
cluster; kwok stands in for the kubelets of three fake nodes.  The programs come from
tests/cluster/build.sh (``build_binaries()``).

    with ControlPlane(build_binaries(), tmp_path) as cp:
        cp.kubectl("apply", "-f", "-", input=manifests)
        subprocess.run(["kubectl", "get", "pods"], env=cp.env(), check=True)

Layout
  * Everything listens on 127.0.0.1 on ports picked free at start(), so two sessions can
    run side by side.  etcd speaks plain http; the rest use TLS from a CA made at start()
    with the openssl CLI (ECDSA P-256).
  * Identities: admin (O=system:masters), system:kube-controller-manager,
    system:kube-scheduler (the roles Kubernetes bootstraps for them), and kwok with
    O=system:masters: kwok plays every kubelet at once and, through its Stages, also writes
    PersistentVolumes and the status of claims; no built-in role covers that (system:node
    is confined to one node by the Node authorizer) and a hand-written ClusterRole would
    only re-list what masters gives a component that is part of the test rig anyway.
  * kube-apiserver: --authorization-mode=Node,RBAC, admission NodeRestriction and
    PodSecurity (on by default in 1.36; namespaces labelled
    pod-security.kubernetes.io/enforce are enforced), --allow-privileged=true so that it is
    PodSecurity, not the API's own validation, that refuses privileged pods in restricted
    namespaces, --service-cluster-ip-range=10.96.0.0/16, service-account issuer and keys.
  * kube-controller-manager: --controllers=*, --use-service-account-credentials, no
    leader election.  kube-scheduler: no leader election.
  * Nodes: NODES below, annotated kwok.x-k8s.io/node=fake, which is what kwok is told to
    manage (--manage-nodes-with-annotation-selector).  They are not tainted: kwok's docs
    taint fake nodes to keep real pods off them, but every node here is fake, and a taint
    would force a toleration into the manifests under test.

kwok (the plain binary, not kwokctl)
  A bare kwok has no Stages built in; kwok-stages.yaml (next to this file) holds the set
  kwokctl uses by default -- node-initialize, node-heartbeat-with-lease, pod-ready,
  pod-complete, pod-delete, verbatim from kwok v0.8.0 -- plus the volume Stages below.
  Flags: --kubeconfig, --config=kwok-stages.yaml,
  --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake,
  --node-lease-duration-seconds=40 (kwok renews the nodes' Leases, which is what the node
  lifecycle controller watches; the heartbeat Stage only refreshes status every ~10 min),
  --cidr for pods of nodes without a podCIDR (ours each have one).  HOME points into
  work_dir so a ~/.kwok/kwok.yaml on the machine is not read.

  What kwok simulates: nodes become Ready and stay so; a pod bound to a node turns Running
  and Ready at once (init containers reported Completed, sidecars running), gets an IP
  from its node's podCIDR; a pod being deleted is removed at once (grace period cut to 0),
  so graceful deletion always finishes; Job pods complete.
  What it does NOT simulate: no container runs, no image is pulled (any image name is
  fine), probes are never run (readiness is always True), no restarts or crashes, no
  resource use, no volume content (claims are bookkeeping only), no networking (pod IPs
  are not reachable, there is no kube-proxy, Services have endpoints but carry nothing),
  no logs/exec/port-forward (no kwok server is started), no DaemonSet-style per-node
  agents beyond what the controllers create as objects, and termination grace periods,
  preStop hooks and PodDisruptionConditions of a real kubelet are not honoured.

Volumes
  There is no storage back end.  kwok provides it, through Stages (kwok-stages.yaml):
  ``pvc-provision`` is a provisioner named ``kwok.x-k8s.io/volume``: for an unbound claim
  of a class with that provisioner it creates a PersistentVolume of the requested size
  (a hostPath that is never touched, no node affinity, like network storage, so a pod can
  move to any node with its claim) and binds the claim to it; ``pv-bind`` marks the volume
  Bound, ``pv-delete`` deletes Released volumes with reclaim policy Delete, and our
  ``pvc-resize`` gives a grown claim its new size at once.  start() creates the default
  StorageClass ``standard`` (volumeBindingMode Immediate, allowVolumeExpansion true), so
  volumeClaimTemplates without storageClassName are bound within a second and the
  scheduler places their pods like any other.  ``storage_class(name)`` adds more classes
  for manifests that name one (e.g. "fast-ssd").  Chosen over pre-created static volumes
  (they need a count and sizes known up front and pin pods to nodes through node
  affinity, which breaks drain) and over a provisioner thread in Python (one more moving
  part to watch and to stop).

Threads: child processes get PR_SET_PDEATHSIG, so they die with the thread that started
them; call start() from a thread that outlives the plane (pytest's main thread does).
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
STAGES = HERE / "kwok-stages.yaml"

SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
KWOK_PROVISIONER = "kwok.x-k8s.io/volume"
DEFAULT_STORAGE_CLASS = "standard"

# (name, zone): two nodes in zone-a, one in zone-b.
NODES: tuple[tuple[str, str], ...] = (
    ("node-a1", "zone-a"),
    ("node-a2", "zone-a"),
    ("node-b1", "zone-b"),
)
NODE_CAPACITY = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "500Gi"}


class ControlPlaneError(RuntimeError):
    """A component did not come up; the message carries its log's tail."""


class KubectlError(subprocess.CalledProcessError):
    """CalledProcessError whose message shows what kubectl printed."""

    def __str__(self) -> str:
        return (f"{super().__str__()}\n--- stdout ---\n{(self.stdout or '').strip()}"
                f"\n--- stderr ---\n{(self.stderr or '').strip()}")


def build_binaries() -> Path:
    """Runs tests/cluster/build.sh (instant once built) and returns the folder it printed.

    Its progress goes to our stderr; TOKMESH_CLUSTER_CACHE picks another cache.
    """
    out = subprocess.run(["bash", str(HERE / "build.sh")], stdout=subprocess.PIPE,
                         text=True, check=True)
    bin_dir = Path(out.stdout.strip().splitlines()[-1])
    if not (bin_dir / "kube-apiserver").is_file():
        raise ControlPlaneError(f"build.sh printed {bin_dir}, which has no kube-apiserver")
    return bin_dir


def _free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1 now (all held open together, so they differ)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - not Linux
    _libc = None


def _die_with_parent() -> None:
    if _libc is not None:
        _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _kubeconfig_flags(kubeconfig: Path) -> list[str]:
    """A controller's identity: one kubeconfig for the API and for its own serving port's
    authentication and authorization."""
    return [f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}"]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"(no log: {e})"
    return "\n".join(text.splitlines()[-lines:])


class ControlPlane:
    """See the module docstring.  start() ... stop(), or use it as a context manager."""

    def __init__(self, bin_dir: Path, work_dir: Path, *,
                 nodes: Sequence[tuple[str, str]] = NODES) -> None:
        self.bin_dir = Path(bin_dir).resolve()
        self.work_dir = Path(work_dir).resolve()
        self.nodes = [name for name, _ in nodes]
        self._node_zones = list(nodes)
        self.pki = self.work_dir / "pki"
        self.kubeconfig = self.work_dir / "admin.kubeconfig"
        self.server = ""
        self.ports: dict[str, int] = {}
        self.timings: dict[str, float] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    # ---- public API -------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """os.environ with KUBECONFIG set and bin_dir first on PATH (this machine also has
        an older kubectl on PATH)."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        # kubectl's discovery cache, per plane (ports differ each time) and out of ~/.kube.
        env["KUBECACHEDIR"] = str(self.work_dir / "kube-cache")
        env["PATH"] = os.pathsep.join([str(self.bin_dir), env.get("PATH", "")])
        return env

    def kubectl(self, *args: str, check: bool = True, input: str | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Our kubectl as admin; text, captured.  check=True raises KubectlError."""
        argv = [str(self.bin_dir / "kubectl"), "--kubeconfig", str(self.kubeconfig), *args]
        proc = subprocess.run(argv, input=input, capture_output=True, text=True,
                              timeout=timeout, env=self.env(), check=False)
        if check and proc.returncode != 0:
            raise KubectlError(proc.returncode, argv, proc.stdout, proc.stderr)
        return proc

    def get_json(self, *args: str) -> Any:
        """`kubectl get ARGS -o json`, parsed."""
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def storage_class(self, name: str, *, default: bool = False,
                      binding_mode: str = "Immediate") -> None:
        """A StorageClass served by kwok's provisioner (see Volumes in the module doc)."""
        self.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": name,
                "annotations": {"storageclass.kubernetes.io/is-default-class":
                                "true" if default else "false"},
            },
            "provisioner": KWOK_PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": binding_mode,
            "allowVolumeExpansion": True,
        }))

    def start(self) -> None:
        """Starts everything and returns once it is ready, else stops and raises."""
        if self._procs:
            raise ControlPlaneError("already started")
        began = time.monotonic()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._make_pki()
            self.timings["pki"] = time.monotonic() - began
            # A port taken between picking and binding (another session) gets one retry.
            for attempt in range(2):
                try:
                    self._start_processes()
                    # The objects go in while the controllers and kwok are still starting.
                    self._create_objects()
                    self._wait_ready()
                    break
                except ControlPlaneError as e:
                    if attempt or "address already in use" not in str(e):
                        raise
                    self.stop()
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        self.timings["start"] = time.monotonic() - began

    def stop(self) -> None:
        """Stops the components, clients first, then kube-apiserver, then etcd: SIGTERM to
        each process group, SIGKILL after 5 s.  Logs and data stay in work_dir."""
        atexit.unregister(self.stop)
        procs, self._procs = self._procs, {}
        for wave in (("kwok", "kube-scheduler", "kube-controller-manager"),
                     ("kube-apiserver",), ("etcd",)):
            group = [procs[name] for name in wave if name in procs]
            for proc in group:
                self._signal(proc, signal.SIGTERM)
            deadline = time.monotonic() + 5
            for proc in group:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self._signal(proc, signal.SIGKILL)
                    proc.wait()
                self._signal(proc, signal.SIGKILL)  # anything left in its group

    def log(self, component: str) -> Path:
        return self.work_dir / f"{component}.log"

    # ---- certificates and kubeconfigs ----------------------------------------------------

    def _openssl(self, *args: str) -> None:
        proc = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
        if proc.returncode:
            raise ControlPlaneError(f"openssl {' '.join(args)} failed:\n{proc.stderr}")

    def _key(self, name: str) -> Path:
        key = self.pki / f"{name}.key"
        self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-out", str(key))
        return key

    def _cert(self, name: str, subject: str, *, server: bool = False,
              sans: Sequence[str] = ()) -> None:
        key = self._key(name)
        csr = self.pki / f"{name}.csr"
        ext = self.pki / f"{name}.ext"
        lines = ["basicConstraints=critical,CA:FALSE",
                 "keyUsage=critical,digitalSignature,keyEncipherment",
                 f"extendedKeyUsage={'serverAuth' if server else 'clientAuth'}"]
        if sans:
            lines.append("subjectAltName=" + ",".join(sans))
        ext.write_text("\n".join(lines) + "\n")
        self._openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr))
        self._openssl("x509", "-req", "-in", str(csr), "-CA", str(self.pki / "ca.crt"),
                      "-CAkey", str(self.pki / "ca.key"),
                      "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
                      "-days", "30", "-sha256", "-extfile", str(ext),
                      "-out", str(self.pki / f"{name}.crt"))

    def _make_pki(self) -> None:
        self.pki.mkdir(parents=True, exist_ok=True)
        ca_key = self._key("ca")
        self._openssl("req", "-x509", "-new", "-key", str(ca_key), "-sha256", "-days", "30",
                      "-subj", f"/CN=tokmesh-test-ca-{os.urandom(4).hex()}",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
                      "-out", str(self.pki / "ca.crt"))
        self._cert("apiserver", "/CN=kube-apiserver", server=True, sans=[
            "IP:127.0.0.1", f"IP:{KUBERNETES_SERVICE_IP}", "DNS:localhost",
            "DNS:kubernetes", "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local"])
        self._cert("admin", "/O=system:masters/CN=kubernetes-admin")
        self._cert("controller-manager", "/CN=system:kube-controller-manager")
        self._cert("scheduler", "/CN=system:kube-scheduler")
        self._cert("kwok", "/O=system:masters/CN=kwok-controller")
        sa = self._key("service-account")
        self._openssl("pkey", "-in", str(sa), "-pubout", "-out",
                      str(self.pki / "service-account.pub"))

    def _write_kubeconfig(self, path: Path, user: str) -> None:
        def b64(p: Path) -> str:
            return base64.b64encode(p.read_bytes()).decode()

        path.write_text(json.dumps({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "tokmesh-test", "cluster": {
                "server": self.server,
                "certificate-authority-data": b64(self.pki / "ca.crt")}}],
            "users": [{"name": user, "user": {
                "client-certificate-data": b64(self.pki / f"{user}.crt"),
                "client-key-data": b64(self.pki / f"{user}.key")}}],
            "contexts": [{"name": "tokmesh-test",
                          "context": {"cluster": "tokmesh-test", "user": user}}],
            "current-context": "tokmesh-test",
        }, indent=1))
        path.chmod(0o600)

    # ---- processes -------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        with open(self.log(name), "ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} {' '.join(argv)}\n".encode())
            log.flush()
            self._procs[name] = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.work_dir, env=env, start_new_session=True,
                preexec_fn=_die_with_parent)

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _fail(self, component: str, what: str) -> ControlPlaneError:
        return ControlPlaneError(
            f"{component}: {what}\n--- last lines of {self.log(component)} ---\n"
            f"{_tail(self.log(component))}")

    def _wait(self, component: str, what: str, ready: Callable[[], bool],
              timeout: float, watch: Sequence[str] = ()) -> None:
        """Polls ready() until true; raises with the log of `component`, or of any process
        in `watch` (default: component) that exits meanwhile."""
        watch = tuple(watch) or (component,)
        deadline = time.monotonic() + timeout
        while True:
            for name in watch:
                proc = self._procs.get(name)
                if proc is not None and proc.poll() is not None:
                    raise self._fail(name, f"exited with {proc.returncode} while waiting "
                                           f"for {what}")
            try:
                if ready():
                    return
            except (OSError, ValueError, subprocess.SubprocessError):
                pass
            if time.monotonic() > deadline:
                raise self._fail(component, f"{what} not ready after {timeout:.0f} s")
            time.sleep(0.25)

    def _https_ok(self, url: str, ctx: ssl.SSLContext) -> bool:
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=5) as r:
                return r.status == 200
        except urllib.error.HTTPError:
            return False

    def _start_processes(self) -> None:
        shutil.rmtree(self.work_dir / "etcd-data", ignore_errors=True)
        names = ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler")
        self.ports = dict(zip(names, _free_ports(len(names))))
        p, pki, b = self.ports, self.pki, self.bin_dir
        self.server = f"https://127.0.0.1:{p['apiserver']}"
        self._write_kubeconfig(self.kubeconfig, "admin")
        for user in ("controller-manager", "scheduler", "kwok"):
            self._write_kubeconfig(self.work_dir / f"{user}.kubeconfig", user)

        t0 = time.monotonic()
        etcd_url = f"http://127.0.0.1:{p['etcd']}"
        peer_url = f"http://127.0.0.1:{p['etcd-peer']}"
        self._spawn("etcd", [
            str(b / "etcd"), "--name=default", f"--data-dir={self.work_dir / 'etcd-data'}",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=default={peer_url}", "--unsafe-no-fsync",
            "--log-level=warn"])

        def etcd_ok() -> bool:
            with urllib.request.urlopen(f"{etcd_url}/health", timeout=5) as r:
                return json.load(r).get("health") == "true"
        self._wait("etcd", "/health", etcd_ok, 30)
        self.timings["etcd"] = time.monotonic() - t0

        t0 = time.monotonic()
        self._spawn("kube-apiserver", [
            str(b / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={p['apiserver']}",
            f"--cert-dir={self.work_dir / 'apiserver-certs'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction,PodSecurity",
            "--allow-privileged=true",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'service-account.pub'}",
            f"--service-account-signing-key-file={pki / 'service-account.key'}",
            # The kubernetes Service still exists; its Endpoints would be 127.0.0.1, which the
            # API refuses (loopback), so the reconciler only logged an error every 10 s.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
        ])
        admin_ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        admin_ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        self._wait("kube-apiserver", "/readyz",
                   lambda: self._https_ok(f"{self.server}/readyz", admin_ctx), 90,
                   watch=("kube-apiserver", "etcd"))
        self.timings["apiserver"] = time.monotonic() - t0

        common = ["--bind-address=127.0.0.1", "--leader-elect=false"]
        kcm_kc = self.work_dir / "controller-manager.kubeconfig"
        self._spawn("kube-controller-manager", [
            str(b / "kube-controller-manager"), *common,
            f"--secure-port={p['controller-manager']}",
            f"--cert-dir={self.work_dir / 'controller-manager-certs'}",
            *_kubeconfig_flags(kcm_kc),
            "--controllers=*", "--use-service-account-credentials",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--service-account-private-key-file={pki / 'service-account.key'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # Node health is checked every second, not every 5 s.
            "--node-monitor-period=1s",
        ])
        sched_kc = self.work_dir / "scheduler.kubeconfig"
        self._spawn("kube-scheduler", [
            str(b / "kube-scheduler"), *common,
            f"--secure-port={p['scheduler']}",
            f"--cert-dir={self.work_dir / 'scheduler-certs'}",
            *_kubeconfig_flags(sched_kc),
        ])
        kwok_home = self.work_dir / "kwok-home"
        kwok_home.mkdir(exist_ok=True)
        self._spawn("kwok", [
            str(b / "kwok"), f"--kubeconfig={self.work_dir / 'kwok.kubeconfig'}",
            f"--config={STAGES}",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--node-lease-duration-seconds=40", "--cidr=10.244.255.0/24",
        ], env={**os.environ, "HOME": str(kwok_home)})

    # ---- objects and readiness -----------------------------------------------------------

    def _create_objects(self) -> None:
        self.storage_class(DEFAULT_STORAGE_CLASS, default=True)
        items = []
        for i, (name, zone) in enumerate(self._node_zones):
            items.append({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {"kwok.x-k8s.io/node": "fake",
                                    "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "topology.kubernetes.io/zone": zone,
                        "topology.kubernetes.io/region": "test",
                        "node-role.kubernetes.io/agent": "",
                        "type": "kwok",
                    },
                },
                "spec": {"podCIDR": f"10.244.{i}.0/24", "podCIDRs": [f"10.244.{i}.0/24"]},
                "status": {
                    "capacity": NODE_CAPACITY,
                    "allocatable": NODE_CAPACITY,
                    "addresses": [{"type": "InternalIP", "address": f"10.1.0.{i + 1}"},
                                  {"type": "Hostname", "address": name}],
                },
            })
        # The status given at creation (capacity, addresses) is kept; kwok adds conditions.
        self.kubectl("create", "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "List", "items": items}))

    def _wait_ready(self) -> None:
        t0 = time.monotonic()
        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        for name, port in (("kube-controller-manager", self.ports["controller-manager"]),
                           ("kube-scheduler", self.ports["scheduler"])):
            self._wait(name, "/healthz",
                       lambda port=port: self._https_ok(
                           f"https://127.0.0.1:{port}/healthz", insecure), 60)

        def nodes_ready() -> bool:
            nodes = self.get_json("nodes")["items"]
            if len(nodes) < len(self._node_zones):
                return False
            for n in nodes:
                conds = {c["type"]: c["status"] for c in n["status"].get("conditions", [])}
                taints = [t for t in n["spec"].get("taints", [])
                          if t["key"].startswith("node.kubernetes.io/")]
                if conds.get("Ready") != "True" or taints:
                    return False
            return True
        self._wait("kwok", "nodes Ready and untainted", nodes_ready, 60,
                   watch=("kwok", "kube-controller-manager"))

        def default_sa() -> bool:
            return self.kubectl("get", "serviceaccount", "default", "-n", "default",
                                check=False).returncode == 0
        self._wait("kube-controller-manager", "the default ServiceAccount", default_sa, 60)
        self.timings["ready"] = time.monotonic() - t0
