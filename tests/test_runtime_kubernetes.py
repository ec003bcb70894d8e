"""The rendered StatefulSet's pod template, run for real: a pod-spec run, not a cluster.

For each Kubernetes scenario with its own data path (the defaults, and HTTPS with a
cert-manager certificate under a cluster domain of its own), each replica of the
StatefulSet (3) runs as podman containers translated field by field from the pod
template that kustomize builds (tests/runtime/podspec.py says which fields and how, and
fails on any other): the node-config init container to completion, then the server, on
a podman network whose DNS is the run's cluster DNS, answering the headless Service's
names for the pods that exist now. Each pod gets a new address when it is made again;
each claim starts as an empty folder owned by root, as a new volume does. The kubelet's
part (probes, restarts with back-off, fsGroup) and the controller's (a deleted pod made
again, the rolling update's order) are played from the manifest's own values; evictions
go through the PodDisruptionBudget's rule. No API server, scheduler or kubelet takes
part: tests/test_kubernetes_cluster.py applies the trees to a real control plane.

What the replicas do together is read from the server's own log lines (its cluster
components write text to stderr): which pod founded the Raft cluster, which leads,
which joins the leader completed.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import checkers
import pytest
import yaml
from conftest import require, scenario_answers
from runtime.cluster_dns import ClusterDNS
from runtime.podman import build_image, image_tree, podman
from runtime.podspec import COVERED, Pod, PodSpecRun, UnknownField, expand, next_backoff
from tokmesh_answers import quantity_value

pytestmark = pytest.mark.integration

NETWORK = "tokmesh-podspec"
# The podman network's own addresses: the test's pod network, made by the test.
SUBNET = "10.89.231.0/24"
SUBNET_PREFIX = "10.89.231."
GATEWAY = f"{SUBNET_PREFIX}1"
# The scenarios whose pods differ in what runs: plain HTTP, and HTTPS from a cert-manager
# Secret with a cluster domain of its own.
SCENARIOS = ["defaults", "kubernetes-cert-manager"]
# How long the replicas may take to agree once ready (gossip, then AddVoter on the leader).
SETTLE_SECONDS = 30


def _get(run: PodSpecRun, pod: Pod, path: str) -> str:
    """GET on the pod's HTTP listener: HTTPS checked against the test's CA when the tree has TLS."""
    url = f"{run.model.http_scheme}://{pod.ip}:{run.model.http_port}{path}"
    with urllib.request.urlopen(url, timeout=5, context=run.client_tls) as response:
        return response.read().decode()


def _issue_certificate(objects: list[dict], scratch: Path) -> tuple[dict, Path]:
    """What cert-manager would put in the Certificate's Secret: a key and a certificate for
    its dnsNames, signed by a CA of the test's (openssl). Returns (Secret, the CA's file)."""
    (certificate,) = [o for o in objects if o["kind"] == "Certificate"]
    spec = certificate["spec"]
    folder = scratch / "ca"
    folder.mkdir()
    openssl = lambda *args: subprocess.run(["openssl", *args], cwd=folder, check=True,  # noqa: E731
                                           capture_output=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=tokmesh test CA", "-keyout", "ca.key", "-out", "ca.crt")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-subj", f"/CN={spec['dnsNames'][0]}", "-keyout", "tls.key", "-out", "tls.csr")
    (folder / "san.ext").write_text("subjectAltName=" + ",".join(f"DNS:{n}" for n in spec["dnsNames"]) + "\n")
    openssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "tls.crt")
    data = {key: base64.b64encode((folder / key).read_bytes()).decode() for key in ("tls.crt", "tls.key", "ca.crt")}
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
              "metadata": {"name": spec["secretName"], "namespace": certificate["metadata"]["namespace"]},
              "data": data}
    return secret, folder / "ca.crt"


def _free_subnet() -> None:
    """The run's network and anything left holding its subnet (an earlier, interrupted run's
    bridge), so that creating the network again cannot fail on "subnet already used"."""
    podman("network", "rm", "-f", NETWORK, check=False)
    addresses = json.loads(subprocess.run(["ip", "-j", "-4", "addr", "show"], check=True, capture_output=True,
                                          text=True).stdout)
    for link in addresses:
        if any(a.get("local", "").startswith(SUBNET_PREFIX) for a in link.get("addr_info", [])):
            subprocess.run(["ip", "link", "delete", link["ifname"]], check=False, capture_output=True)


def _stderr(pod: Pod) -> str:
    """The server's component lines (cluster, Raft, storage) of the pod's current container."""
    return pod.logs()[1]


def _node_ids(log: str, message: str) -> list[str]:
    """node_id of every line carrying ``message``, in order."""
    return re.findall(rf"{re.escape(message)}\b.*?\bnode_id=\"?([\w.-]+)", log)


def _leads(pod: Pod) -> bool:
    """Whether the pod's last leadership line says it leads."""
    events = re.findall(r"\b(became leader|lost leadership)\b", _stderr(pod))
    return bool(events) and events[-1] == "became leader"


def _init_decision(pod: Pod) -> tuple[str, str]:
    """(pod, bootstrap) as the latest node-config run of the pod printed them."""
    (run,) = [r for r in pod.init_runs if r.container == "node-config"]
    match = re.search(r"node-config: (\S+) bootstrap=(\w+)", run.output)
    assert match, f"{pod.name}: node-config said nothing about bootstrap:\n{run.output}"
    return match.group(1), match.group(2)


def _voters(leader: Pod) -> list[str]:
    """The voters of the Raft configuration the leader last committed (Raft's own
    "updating configuration" line lists every server with its suffrage)."""
    changes = re.findall(r"updating configuration .*", _stderr(leader))
    assert changes, f"{leader.name} logged no configuration change"
    return sorted(re.findall(r"Suffrage:Voter ID:([\w.-]+)", changes[-1]))


def _until(condition, seconds: float = SETTLE_SECONDS) -> float | None:
    """Seconds until ``condition()`` holds, or None when it did not within ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.5)
    return None


@pytest.fixture(scope="module", params=SCENARIOS)
def run(request, render, tmp_path_factory) -> Iterator[PodSpecRun]:
    """Every replica of the scenario's StatefulSet started (podManagementPolicy Parallel),
    none yet ready."""
    require(os.geteuid() == 0, "needs root for podman here")
    for tool in ("podman", "go", "openssl", "ip"):
        require(shutil.which(tool) is not None, f"{tool} is not installed")
    require(checkers.tool("kubectl") is not None, "kubectl is not built (bash tests/cluster/build.sh)")
    answers = {**scenario_answers(request.param), "platforms": ["kubernetes"],
               "image_repository": "localhost/tokmesh-test/podspec", "shutdown_timeout_seconds": 10}
    tree, model = image_tree(render, tmp_path_factory, f"podspec-tree-{request.param}", **answers)
    build_image(tree, model.image_reference)
    findings, objects = checkers.kustomize(tree)
    assert findings == []
    assert next(o for o in objects if o["kind"] == "StatefulSet")["spec"]["podManagementPolicy"] == "Parallel"
    scratch = tmp_path_factory.mktemp(f"podspec-{request.param}")
    client_tls = None
    if model.cert_manager:
        secret, ca_file = _issue_certificate(objects, scratch)
        objects.append(secret)
        client_tls = ssl.create_default_context(cafile=str(ca_file))
        client_tls.check_hostname = False  # by address here; the names are checked on the certificate

    _free_subnet()
    # No aardvark-dns: the run's own cluster DNS answers on the gateway.
    podman("network", "create", "--disable-dns", "--subnet", SUBNET, NETWORK)
    dns = ClusterDNS(GATEWAY)
    dns.start()
    pod_run = PodSpecRun(objects, NETWORK, SUBNET_PREFIX, scratch, cluster_domain=model.cluster_domain, dns=dns)
    pod_run.model, pod_run.client_tls, pod_run.scenario = model, client_tls, request.param
    pod_run.started = time.monotonic()
    try:
        for pod in pod_run.pods:  # Parallel: each pod's init container runs as the others start
            pod.start()
        yield pod_run
    finally:
        try:
            pod_run.remove()
        finally:
            dns.stop()
            _free_subnet()


def test_the_replicas_form_one_cluster(run, figure) -> None:
    run.wait_ready(seconds=180)
    ready_after = time.monotonic() - run.started
    model = run.model
    assert run.replicas == model.replicas == 3
    for pod in run.pods:
        health = json.loads(_get(run, pod, model.health_path))
        assert (health["code"], health["data"]["status"]) == ("OK", "healthy"), pod.name

    founder, *joiners = run.pods
    joiner_names = {p.name for p in joiners}
    leaders = lambda: [p.name for p in run.pods if "became leader" in _stderr(p)]  # noqa: E731
    formed = _until(lambda: len(leaders()) == 1 and joiner_names
                    <= set(_node_ids(_stderr(founder), "node join completed successfully")))
    figure(f"pod-spec run ({run.scenario}): cluster formed",
           f"{run.replicas} replicas ready {ready_after:.1f} s after their creation, three voters "
           + (f"{ready_after + formed:.1f} s after" if formed is not None else f"not within {SETTLE_SECONDS} s more"))

    # One founder: ordinal 0, by the init containers' decision, and only it bootstrapped Raft.
    assert {p.name: _init_decision(p) for p in run.pods} == {
        p.name: (p.name, "true" if p is founder else "false") for p in run.pods}
    assert [p.name for p in run.pods if "raft cluster bootstrapped" in _stderr(p)] == [founder.name]
    # The joiners joined by gossip (their init container let them start once a peer was ready).
    for pod in joiners:
        assert "joined cluster" in _stderr(pod), pod.name
    # One leader, the founder, which added both others as voters: one cluster of three.
    assert leaders() == [founder.name]
    assert sorted(_node_ids(_stderr(founder), "node join completed successfully")) == sorted(joiner_names)
    assert _voters(founder) == sorted(p.name for p in run.pods)
    assert not any("lost leadership" in _stderr(p) for p in run.pods)


def test_each_pod_runs_its_own_config_on_its_own_address(run) -> None:
    run.wait_ready()
    model = run.model
    configmap = yaml.safe_load(next(o for o in run.objects if o["kind"] == "ConfigMap")["data"]["config.yaml"])
    for pod in run.pods:
        (inspect,) = json.loads(podman("inspect", pod.name).stdout)
        address = inspect["NetworkSettings"]["Networks"][NETWORK]["IPAddress"]
        assert address == pod.ip
        # The main container runs the file its init container wrote into the pod's run folder.
        assert inspect["Args"][-2:] == ["--config", model.k8s_node_config_file]
        config = yaml.safe_load(podman("exec", pod.name, "/bin/cat", model.k8s_node_config_file, text=True).stdout)
        cluster = config.pop("cluster")
        assert config == configmap, pod.name
        assert cluster["node_id"] == pod.name
        assert (cluster["raft_addr"], cluster["gossip_addr"]) == (f"{address}:{model.cluster_port}", address)
        assert cluster["data_dir"] == model.raft_dir
        assert ("seeds" in cluster) == (pod is not run.pods[0])
        if "seeds" in cluster:
            assert sorted(cluster["seeds"]) == sorted(f"{host}:{model.gossip_port}" for host in model.cluster_peer_hosts
                                                      if not host.startswith(f"{pod.name}."))
    # Those names resolve in the pods, through the cluster DNS, to the addresses the pods have now.
    for pod, host in zip(run.pods, model.cluster_peer_hosts, strict=True):
        answer = podman("exec", run.pods[-1].name, "/bin/busybox", "nslookup", host, check=False, text=True)
        assert answer.returncode == 0 and pod.ip in answer.stdout, answer.stdout + answer.stderr


def test_the_container_runs_as_the_manifest_says(run) -> None:
    run.wait_ready()
    model = run.model
    pod = run.pods[0]
    (inspect,) = json.loads(podman("inspect", pod.name).stdout)
    host = inspect["HostConfig"]
    assert inspect["Config"]["User"] == f"{model.container_uid}:{model.container_uid}"
    assert json.loads(_get(run, pod, "/standin/whoami"))["uid"] == model.container_uid
    assert host["ReadonlyRootfs"] is True
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["CapDrop"] and not host["CapAdd"]
    assert host["Memory"] == model.memory_limit_bytes
    # The Go runtime's limits, from the pod's (resourceFieldRef): the heap target at the memory
    # limit, the threads at the CPU limit rounded up to whole cores.
    env = dict(item.split("=", 1) for item in inspect["Config"]["Env"])
    assert env["GOMEMLIMIT"] == str(model.memory_limit_bytes)
    assert env["GOMAXPROCS"] == str(math.ceil(quantity_value(model.cpu_limit)))
    # The claim started as a new volume does (root's, 0755, lost+found); the kubelet's fsGroup
    # made it the container's: group-owned, group-writable, setgid.
    listing = podman("exec", pod.name, "/bin/ls", "-lan", model.data_dir, text=True).stdout.splitlines()
    root = next(line.split() for line in listing if line.endswith(" ."))
    assert (root[0], root[2], root[3]) == ("drwxrwsr-x", "0", str(model.container_uid)), listing
    assert any(line.endswith(" lost+found") for line in listing), listing
    if model.tls_enabled:
        # The Secret's keys as files of the volume's mode, readable through the fsGroup only.
        for name in (model.tls_cert_name, model.tls_key_name):
            mode, _, uid, gid = podman("exec", pod.name, "/bin/ls", "-lnL", f"{model.tls_dir}/{name}",
                                       text=True).stdout.split()[:4]
            assert (mode, uid, gid) == ("-r--r-----", "0", str(model.container_uid)), name
        with socket.create_connection((pod.ip, model.http_port), timeout=5) as raw, \
                run.client_tls.wrap_socket(raw) as tls:
            names = {value for kind, value in tls.getpeercert()["subjectAltName"] if kind == "DNS"}
        assert names == set(model.certificate_dns_names)
    write = lambda path: _get(run, pod, f"/standin/write?path={path}").strip()  # noqa: E731
    assert write(model.config_file).startswith("refused")
    assert write("/etc/tokmesh-server/probe").startswith("refused")
    assert write(f"{model.wal_dir}/probe") == "allowed"
    assert write(f"{model.raft_dir}/probe") == "allowed"


def test_a_deleted_replica_comes_back_with_its_data(run, figure) -> None:
    run.wait_ready()
    model = run.model
    pod, leader = run.pods[1], next(p for p in run.pods if _leads(p))
    address_before = pod.ip
    ls = lambda folder: set(podman("exec", pod.name, "/bin/ls", folder, text=True).stdout.split())  # noqa: E731
    wal_before, raft_before = ls(model.wal_dir), ls(model.raft_dir)
    assert any(re.fullmatch(r"wal-\d{8}\.log", name) for name in wal_before), wal_before
    assert "raft-stable.db" in raft_before
    joins_before = _node_ids(_stderr(leader), "node join completed successfully").count(pod.name)
    started = time.monotonic()
    pod.delete()  # kubectl delete pod: the controller makes it again, on the same claim
    pod.start()
    run.wait_ready([pod])
    rejoined = _until(lambda: _node_ids(_stderr(leader), "node join completed successfully").count(pod.name)
                      > joins_before)
    figure(f"pod-spec run ({run.scenario}): a deleted replica back",
           f"ready {time.monotonic() - started:.1f} s after its deletion, a voter again "
           + (f"{rejoined:.1f} s later" if rejoined is not None else "never"))
    assert pod.ip != address_before  # a new pod, a new address; its DNS name follows
    assert run.dns.addresses(f"{pod.name}.{run.service_fqdn}") == [pod.ip]
    assert wal_before < ls(model.wal_dir)  # the old segments, plus the new start's
    assert raft_before <= ls(model.raft_dir)
    # Its Raft store was there: node-config did not wait, and it did not found a cluster.
    assert _init_decision(pod) == (pod.name, "false")
    assert "waiting for a ready peer" not in pod.init_runs[0].output
    assert pod.name in _node_ids(_stderr(leader), "node leave completed successfully")
    assert rejoined is not None, f"{leader.name} did not add {pod.name} back"


def _watch_ready(run: PodSpecRun) -> tuple[list[int], threading.Event, threading.Thread]:
    """The lowest number of ready pods seen until the returned event is set."""
    lowest, stop = [run.replicas], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            lowest[0] = min(lowest[0], run.ready_count())
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return lowest, stop, watcher


def test_a_rolling_update_in_the_controllers_order_keeps_one_cluster(run, figure) -> None:
    run.wait_ready()
    model = run.model
    founder = run.pods[0]
    assert "raft-stable.db" in podman("exec", founder.name, "/bin/ls", model.raft_dir, text=True).stdout.split()
    lowest, stop, watcher = _watch_ready(run)
    started, per_pod = time.monotonic(), []
    try:
        # The StatefulSet controller's RollingUpdate: highest ordinal first, each pod Ready
        # before the next is deleted.
        for pod in reversed(run.pods):
            pod_started = time.monotonic()
            pod.delete()  # stopped with its grace period, then made again: init container included
            pod.start()
            run.wait_ready([pod])
            per_pod.append(f"{pod.name} {time.monotonic() - pod_started:.1f} s")
    finally:
        stop.set()
        watcher.join()
    rolled = time.monotonic() - started
    leaders = lambda: [p.name for p in run.pods if _leads(p)]  # noqa: E731
    settled = _until(lambda: len(leaders()) == 1 and run.ready_count() == run.replicas)
    figure(f"pod-spec run ({run.scenario}): rolling update",
           f"{rolled:.1f} s ({', '.join(per_pod)}), lowest ready {lowest[0]} of {run.replicas} "
           f"(budget: at least {run.min_available}), one leader "
           + (f"{settled:.1f} s after" if settled is not None else f"not within {SETTLE_SECONDS} s"))
    assert lowest[0] >= run.min_available
    assert run.ready_count() == run.replicas
    assert len(leaders()) == 1, {p.name: re.findall(r"became leader|lost leadership", _stderr(p)) for p in run.pods}
    (leader,) = [p for p in run.pods if _leads(p)]
    # Every pod ran its init container again; none founded a cluster: their Raft stores were on their volumes.
    assert {p.name: _init_decision(p) for p in run.pods} == {p.name: (p.name, "false") for p in run.pods}
    assert not any("raft cluster bootstrapped" in _stderr(p) for p in run.pods)
    assert "joined cluster" in _stderr(founder)
    # The founder, restarted last, is a voter again: the leader that followed it added it back
    # (a join seen while no node leads is dropped by the server, and never retried).
    if leader is not founder:
        assert founder.name in _node_ids(_stderr(leader), "node join completed successfully"), (
            f"{founder.name} rejoined gossip but {leader.name} did not add it back to Raft:\n"
            + "\n".join(line for p in run.pods for line in _stderr(p).splitlines()
                         if re.search(r"became leader|joined cluster|not part of a stable configuration", line)))
        assert _voters(leader) == sorted(p.name for p in run.pods)


def test_evicting_every_pod_at_once_keeps_the_budget(run, figure) -> None:
    """kubectl drain of every node at once: all evictions asked together and retried every
    5 s as kubectl does; the PodDisruptionBudget's rule decides which go, not the test."""
    run.wait_ready()
    addresses_before = {p.name: p.ip for p in run.pods}
    lowest, stop, watcher = _watch_ready(run)
    pending, refused, started = list(run.pods), 0, time.monotonic()
    try:
        while pending and time.monotonic() - started < 300:
            for pod in list(pending):
                if run.evict(pod):
                    pending.remove(pod)
                else:
                    refused += 1
            if pending:
                time.sleep(5)
        run.wait_evictions()
        run.wait_ready(seconds=180)
    finally:
        stop.set()
        watcher.join()
    leaders = lambda: [p.name for p in run.pods if _leads(p)]  # noqa: E731
    settled = _until(lambda: len(leaders()) == 1)
    figure(f"pod-spec run ({run.scenario}): every pod evicted",
           f"{time.monotonic() - started:.1f} s, {refused} evictions refused, lowest ready {lowest[0]} of "
           f"{run.replicas} (budget: at least {run.min_available})")
    assert not pending
    assert refused > 0  # three at once cannot all go while two must stay
    assert lowest[0] >= run.min_available
    assert all(p.ip != addresses_before[p.name] for p in run.pods)
    assert settled is not None, {p.name: re.findall(r"became leader|lost leadership", _stderr(p)) for p in run.pods}
    (leader,) = [p for p in run.pods if _leads(p)]
    assert _voters(leader) == sorted(p.name for p in run.pods)


def test_a_killed_server_is_restarted_in_place(run, figure) -> None:
    run.wait_ready()
    pod = run.pods[-1]
    address, restarts = pod.ip, pod.restarts
    started = time.monotonic()
    podman("kill", pod.name)  # SIGKILL: the process ends, the pod stays
    assert _until(lambda: pod.restarts > restarts, 30) is not None, pod.status()
    run.wait_ready([pod])
    figure(f"pod-spec run ({run.scenario}): a killed server back", f"ready {time.monotonic() - started:.1f} s later")
    assert pod.exit_codes[-1] == 137
    assert pod.restart_delays == [0.0]  # the first restart is immediate; later ones back off
    assert pod.ip == address  # the same pod: same address, same emptyDirs, no init container again


def test_the_kubelets_back_off_doubles_to_five_minutes() -> None:
    delays = [0.0]
    for _ in range(7):
        delays.append(next_backoff(delays[-1]))
    assert delays == [0, 10, 20, 40, 80, 160, 300, 300]


def test_a_claim_without_fs_group_is_a_crash_loop(run, tmp_path: Path, figure) -> None:
    """Without the pod's fsGroup a new claim stays root's: the server cannot write its data
    and exits; the kubelet restarts it with growing delays and it is never ready."""
    objects = json.loads(json.dumps(run.objects))
    sts = next(o for o in objects if o["kind"] == "StatefulSet")
    sts["metadata"]["name"] = "tokmesh-no-fsgroup"
    sts["spec"]["replicas"] = 1
    for key in ("fsGroup", "fsGroupChangePolicy"):
        del sts["spec"]["template"]["spec"]["securityContext"][key]
    crashing = PodSpecRun(objects, NETWORK, SUBNET_PREFIX, tmp_path, dns=run.dns, first_host=200)
    try:
        (pod,) = crashing.pods
        pod.start()
        looped = _until(lambda: len(pod.restart_delays) >= 3, 90)
        figure("pod-spec run: crash loop without fsGroup",
               f"restart delays {pod.restart_delays}, exits {pod.exit_codes}")
        assert looped is not None, pod.status()
        assert pod.restart_delays[:3] == [0, 10, 20]
        assert not pod.ready and all(code != 0 for code in pod.exit_codes)
        assert "permission denied" in "".join(pod.logs()).lower()
    finally:
        crashing.remove()


def test_an_init_container_that_fails_fails_the_pod_start(run, tmp_path: Path) -> None:
    objects = json.loads(json.dumps(run.objects))
    sts = next(o for o in objects if o["kind"] == "StatefulSet")
    sts["metadata"]["name"] = "tokmesh-broken"
    sts["spec"]["replicas"] = 1
    (init,) = sts["spec"]["template"]["spec"]["initContainers"]
    init["args"] = ["echo node-config: broken on purpose; exit 3"]
    # Its own addresses on the network, clear of the replicas'.
    broken = PodSpecRun(objects, NETWORK, SUBNET_PREFIX, tmp_path, dns=run.dns, first_host=220)
    try:
        (pod,) = broken.pods
        pod.start()
        with pytest.raises(AssertionError, match=r"(?s)init container node-config exited 3:.*broken on purpose"):
            broken.wait_ready(seconds=60)
        assert podman("container", "exists", pod.name, check=False).returncode != 0  # no main container
    finally:
        broken.remove()


@pytest.mark.parametrize("change, field", [
    (lambda pod: pod.update(hostAliases=[{"ip": "127.0.0.1", "hostnames": ["x"]}]), "hostAliases"),
    (lambda pod: pod.update(enableServiceLinks=True), "enableServiceLinks"),
    (lambda pod: pod.pop("enableServiceLinks"), "enableServiceLinks"),
    (lambda pod: pod["initContainers"][0].update(restartPolicy="Always"), "restartPolicy"),
    (lambda pod: pod["containers"][0]["ports"][0].update(protocol="SCTP"), "SCTP"),
    (lambda pod: pod["containers"][0]["readinessProbe"]["httpGet"].update(host="x"), "host"),
    (lambda pod: pod["containers"][0]["lifecycle"].update(postStart={"exec": {"command": ["true"]}}), "postStart"),
    (lambda pod: pod["containers"][0]["env"][0]["valueFrom"]["resourceFieldRef"].update(resource="requests.cpu"),
     "requests.cpu"),
])
def test_a_field_the_translation_does_not_know_fails_it(run, tmp_path: Path, change, field) -> None:
    objects = json.loads(json.dumps(run.objects))
    sts = next(o for o in objects if o["kind"] == "StatefulSet")
    change(sts["spec"]["template"]["spec"])
    with pytest.raises(UnknownField, match=field):
        PodSpecRun(objects, NETWORK, SUBNET_PREFIX, tmp_path)


def test_env_is_expanded_as_the_kubelet_does() -> None:
    env = {"POD_NAME": "tokmesh-server-0"}
    assert expand("$(POD_NAME).svc:5343", env) == "tokmesh-server-0.svc:5343"
    assert expand("$(UNSET)/$$(POD_NAME)", env) == "$(UNSET)/$(POD_NAME)"
    assert {"env", "command", "initContainers", "enableServiceLinks", "restartPolicy"} <= set(COVERED)


def test_the_cluster_dns_answers_the_pods_that_exist() -> None:
    """The records of a headless Service: each pod's name and the Service's, NXDOMAIN once deleted."""
    from dnslib import DNSRecord

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dns = ClusterDNS("127.0.0.1", port)
    service = ClusterDNS.service_fqdn("tm-headless", "tm", "k8s.example")
    dns.add_service(service)
    dns.register(service, "tm-0", "10.0.0.5")
    dns.register(service, "tm-1", "10.0.0.6")
    dns.start()
    try:
        ask = lambda name, kind="A": DNSRecord.parse(  # noqa: E731
            DNSRecord.question(name, kind).send("127.0.0.1", port, timeout=5))
        answer = ask("TM-0.tm-headless.tm.svc.k8s.example.")
        assert [str(r.rdata) for r in answer.rr] == ["10.0.0.5"]
        assert sorted(str(r.rdata) for r in ask("tm-headless.tm.svc.k8s.example").rr) == ["10.0.0.5", "10.0.0.6"]
        aaaa = ask("tm-0.tm-headless.tm.svc.k8s.example", "AAAA")
        assert (aaaa.header.rcode, aaaa.rr) == (0, [])  # the name exists, without IPv6
        dns.unregister(service, "tm-0")
        assert ask("tm-0.tm-headless.tm.svc.k8s.example").header.rcode == 3  # NXDOMAIN
        assert ask("tm-0.tm-headless.tm.svc.cluster.local").header.rcode == 3  # another domain
    finally:
        dns.stop()
