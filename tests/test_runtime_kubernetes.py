"""The rendered StatefulSet's pod template, run for real: a pod-spec run, not a cluster.

Each replica of the StatefulSet (3 by default) runs as podman containers translated
field by field from the pod template that kustomize builds (tests/runtime/podspec.py
says which fields and how, and fails on any other): the node-config init container
to completion, then the server, on a podman network whose DNS aliases stand in for
the headless Service. No API server, scheduler, kubelet or StatefulSet controller
takes part: this module plays the kubelet's probes and the controller's ordering from
the manifest's own values. Scheduling (affinity, topology spread), the Services'
virtual IPs, the NetworkPolicy, the PodDisruptionBudget's eviction API and the
restricted Pod Security admission stay checked statically (tests/test_checkers.py).

What the replicas do together is read from the server's own log lines (its cluster
components write text to stderr): which pod founded the Raft cluster, which leads,
which joins the leader completed.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import checkers
import pytest
import yaml
from conftest import require
from runtime.podman import build_image, image_tree, podman
from runtime.podspec import COVERED, Pod, PodSpecRun, UnknownField, expand
from tokmesh_answers import quantity_value

pytestmark = pytest.mark.integration

NETWORK = "tokmesh-podspec"
# The podman network's own addresses: the test's pod network, made by the test.
SUBNET = "10.89.231.0/24"
SUBNET_PREFIX = "10.89.231."
# How long the replicas may take to agree once ready (gossip, then AddVoter on the leader).
SETTLE_SECONDS = 30


def _get(ip: str, port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://{ip}:{port}{path}", timeout=5) as response:
        return response.read().decode()


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


@pytest.fixture(scope="module")
def run(render, tmp_path_factory) -> Iterator[PodSpecRun]:
    """Every replica started (podManagementPolicy Parallel), none yet ready."""
    require(os.geteuid() == 0, "needs root for podman here")
    for tool in ("podman", "go"):
        require(shutil.which(tool) is not None, f"{tool} is not installed")
    require(checkers.tool("kubectl") is not None, "kubectl is not built (bash tests/cluster/build.sh)")
    tree, model = image_tree(render, tmp_path_factory, "podspec-tree", platforms=["kubernetes"],
                             image_repository="localhost/tokmesh-test/podspec", shutdown_timeout_seconds=10)
    build_image(tree, model.image_reference)
    findings, objects = checkers.kustomize(tree)
    assert findings == []
    assert next(o for o in objects if o["kind"] == "StatefulSet")["spec"]["podManagementPolicy"] == "Parallel"

    podman("network", "rm", "-f", NETWORK, check=False)
    podman("network", "create", "--subnet", SUBNET, NETWORK)
    pod_run = PodSpecRun(objects, NETWORK, SUBNET_PREFIX, tmp_path_factory.mktemp("podspec"),
                         cluster_domain=model.cluster_domain)
    pod_run.remove()  # leftovers of an earlier, interrupted run
    pod_run.model = model
    pod_run.started = time.monotonic()
    try:
        for pod in pod_run.pods:  # Parallel: each pod's init container runs as the others start
            pod.start()
        yield pod_run
    finally:
        pod_run.remove()
        podman("network", "rm", "-f", NETWORK, check=False)


def test_the_replicas_form_one_cluster(run, figure) -> None:
    run.wait_ready(seconds=180)
    ready_after = time.monotonic() - run.started
    model = run.model
    assert run.replicas == model.replicas == 3
    for pod in run.pods:
        health = json.loads(_get(pod.ip, model.http_port, model.health_path))
        assert (health["code"], health["data"]["status"]) == ("OK", "healthy"), pod.name

    founder, *joiners = run.pods
    joiner_names = {p.name for p in joiners}
    leaders = lambda: [p.name for p in run.pods if "became leader" in _stderr(p)]  # noqa: E731
    formed = _until(lambda: len(leaders()) == 1 and joiner_names
                    <= set(_node_ids(_stderr(founder), "node join completed successfully")))
    figure("pod-spec run: cluster formed",
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


def test_the_container_runs_as_the_manifest_says(run) -> None:
    run.wait_ready()
    model = run.model
    pod = run.pods[0]
    (inspect,) = json.loads(podman("inspect", pod.name).stdout)
    host = inspect["HostConfig"]
    assert inspect["Config"]["User"] == f"{model.container_uid}:{model.container_uid}"
    assert json.loads(_get(pod.ip, model.http_port, "/standin/whoami"))["uid"] == model.container_uid
    assert host["ReadonlyRootfs"] is True
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["CapDrop"] and not host["CapAdd"]
    assert host["Memory"] == model.memory_limit_bytes
    # The Go runtime's limits, from the pod's (resourceFieldRef): the heap target at the memory
    # limit, the threads at the CPU limit rounded up to whole cores.
    env = dict(item.split("=", 1) for item in inspect["Config"]["Env"])
    assert env["GOMEMLIMIT"] == str(model.memory_limit_bytes)
    assert env["GOMAXPROCS"] == str(math.ceil(quantity_value(model.cpu_limit)))
    mode, _, _, group = podman("exec", pod.name, "/bin/ls", "-ldn", model.data_dir, text=True).stdout.split()[:4]
    assert mode[6] == "s" and group == str(model.container_uid)  # fsGroup: setgid, its group
    write = lambda path: _get(pod.ip, model.http_port, f"/standin/write?path={path}").strip()  # noqa: E731
    assert write(model.config_file).startswith("refused")
    assert write("/etc/tokmesh-server/probe").startswith("refused")
    assert write(f"{model.wal_dir}/probe") == "allowed"
    assert write(f"{model.raft_dir}/probe") == "allowed"


def test_a_deleted_replica_comes_back_with_its_data(run, figure) -> None:
    run.wait_ready()
    model = run.model
    pod, leader = run.pods[1], next(p for p in run.pods if _leads(p))
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
    figure("pod-spec run: a deleted replica back",
           f"ready {time.monotonic() - started:.1f} s after its deletion, a voter again "
           + (f"{rejoined:.1f} s later" if rejoined is not None else "never"))
    assert wal_before < ls(model.wal_dir)  # the old segments, plus the new start's
    assert raft_before <= ls(model.raft_dir)
    # Its Raft store was there: node-config did not wait, and it did not found a cluster.
    assert _init_decision(pod) == (pod.name, "false")
    assert "waiting for a ready peer" not in pod.init_runs[0].output
    assert pod.name in _node_ids(_stderr(leader), "node leave completed successfully")
    assert rejoined is not None, f"{leader.name} did not add {pod.name} back"


def test_a_rolling_restart_in_reverse_order_keeps_one_cluster(run, figure) -> None:
    run.wait_ready()
    model = run.model
    founder = run.pods[0]
    assert "raft-stable.db" in podman("exec", founder.name, "/bin/ls", model.raft_dir, text=True).stdout.split()
    lowest, stop = [run.replicas], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            lowest[0] = min(lowest[0], run.ready_count())
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started, per_pod = time.monotonic(), []
    try:
        for pod in reversed(run.pods):  # the controller's order: highest ordinal first
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
    figure("pod-spec run: rolling restart",
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


def test_an_init_container_that_fails_fails_the_pod_start(run, tmp_path: Path) -> None:
    objects = json.loads(json.dumps(run.objects))
    sts = next(o for o in objects if o["kind"] == "StatefulSet")
    sts["metadata"]["name"] = "tokmesh-broken"
    sts["spec"]["replicas"] = 1
    (init,) = sts["spec"]["template"]["spec"]["initContainers"]
    init["args"] = ["echo node-config: broken on purpose; exit 3"]
    # Its own address on the network (prefix "10.89.231.1" + 10: .110), clear of the replicas'.
    broken = PodSpecRun(objects, NETWORK, f"{SUBNET_PREFIX}1", tmp_path)
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
    assert {"env", "command", "initContainers", "enableServiceLinks"} <= set(COVERED)
