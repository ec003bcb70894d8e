"""The rendered StatefulSet's pod template, run for real: a pod-spec run, not a cluster.

Each replica of the StatefulSet (3 by default) runs as a podman container translated
field by field from the pod template that kustomize builds (tests/runtime/podspec.py
says which fields and how, and fails on any other), on a podman network whose DNS
aliases stand in for the headless Service. No API server, scheduler, kubelet or
StatefulSet controller takes part: this module plays the kubelet's probes and the
controller's ordering from the manifest's own values. Scheduling (affinity, topology
spread), the Services' virtual IPs, the NetworkPolicy, the PodDisruptionBudget's
eviction API and the restricted Pod Security admission stay checked statically
(tests/test_checkers.py).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import checkers
import pytest
from conftest import require
from runtime.podman import build_image, image_tree, podman
from runtime.podspec import COVERED, PodSpecRun, UnknownField, expand

pytestmark = pytest.mark.integration

NETWORK = "tokmesh-podspec"
# The podman network's own addresses: the test's pod network, made by the test.
SUBNET = "10.89.231.0/24"
SUBNET_PREFIX = "10.89.231."


def _get(ip: str, port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://{ip}:{port}{path}", timeout=5) as response:
        return response.read().decode()


@pytest.fixture(scope="module")
def run(render, tmp_path_factory) -> Iterator[PodSpecRun]:
    """Every replica started (podManagementPolicy Parallel), none yet ready."""
    require(os.geteuid() == 0, "needs root for podman here")
    for tool in ("podman", "go", "kubectl"):
        require(shutil.which(tool) is not None, f"{tool} is not installed")
    tree, model = image_tree(render, tmp_path_factory, "podspec-tree", platforms=["kubernetes"],
                             image_repository="localhost/tokmesh-test/podspec", shutdown_timeout_seconds=10)
    build_image(tree, model.image_reference)
    findings, objects = checkers.kustomize(tree)
    assert findings == []

    podman("network", "rm", "-f", NETWORK, check=False)
    podman("network", "create", "--subnet", SUBNET, NETWORK)
    pod_run = PodSpecRun(objects, NETWORK, SUBNET_PREFIX, tmp_path_factory.mktemp("podspec"))
    pod_run.remove()  # leftovers of an earlier, interrupted run
    pod_run.model = model
    pod_run.started = time.monotonic()
    try:
        for pod in pod_run.pods:
            pod.start()
        yield pod_run
    finally:
        pod_run.remove()
        podman("network", "rm", "-f", NETWORK, check=False)


def test_every_replica_becomes_ready(run, figure) -> None:
    run.wait_ready()
    figure("pod-spec run: replicas ready", f"{run.replicas} within {time.monotonic() - run.started:.1f} s of their start")
    assert run.replicas == run.model.replicas == 3
    for pod in run.pods:
        health = json.loads(_get(pod.ip, run.model.http_port, run.model.health_path))
        assert health["uid"] == run.model.container_uid


def test_each_replica_reaches_every_peer_on_the_cluster_port(run) -> None:
    run.wait_ready()
    for pod in run.pods:
        reached = json.loads(_get(pod.ip, run.model.http_port, "/peers"))
        assert reached == {peer: "ok" for peer in run.model.cluster_peers}, pod.name


def test_the_container_runs_as_the_manifest_says(run) -> None:
    run.wait_ready()
    pod = run.pods[0]
    inspect = json.loads(podman("inspect", pod.name).stdout)[0]
    host = inspect["HostConfig"]
    assert inspect["Config"]["User"] == f"{run.model.container_uid}:{run.model.container_uid}"
    assert host["ReadonlyRootfs"] is True
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["CapDrop"] and not host["CapAdd"]
    assert host["Memory"] == run.model.memory_limit_bytes
    mode, _, _, group = podman("exec", pod.name, "/bin/ls", "-ldn", run.model.data_dir, text=True).stdout.split()[:4]
    assert mode[6] == "s" and group == str(run.model.container_uid)  # fsGroup: setgid, its group
    assert _get(pod.ip, run.model.http_port, f"/write?path={run.model.config_file}").startswith("refused")
    assert _get(pod.ip, run.model.http_port, f"/write?path={run.model.wal_dir}/probe").strip() == "allowed"


def test_a_deleted_replica_comes_back_with_its_data(run) -> None:
    run.wait_ready()
    pod = run.pods[1]
    ls = lambda: set(podman("exec", pod.name, "/bin/ls", run.model.wal_dir, text=True).stdout.split())  # noqa: E731
    before = ls()
    assert any(name.startswith("standin-") for name in before)
    pod.delete()  # kubectl delete pod: the controller makes it again, on the same claim
    pod.start()
    run.wait_ready([pod])
    after = ls()
    assert before < after  # the old markers, plus the new start's and the flush's


def test_a_rolling_restart_in_reverse_order_keeps_what_the_budget_asks(run, figure) -> None:
    run.wait_ready()
    lowest, stop = [run.replicas], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            lowest[0] = min(lowest[0], run.ready_count())
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.monotonic()
    try:
        for pod in reversed(run.pods):  # the controller's order: highest ordinal first
            pod.delete()
            pod.start()
            run.wait_ready([pod])
    finally:
        stop.set()
        watcher.join()
    figure("pod-spec run: rolling restart",
           f"{time.monotonic() - started:.1f} s, lowest ready {lowest[0]} of {run.replicas} "
           f"(budget: at least {run.min_available})")
    assert lowest[0] >= run.min_available
    assert run.ready_count() == run.replicas


def test_a_field_the_translation_does_not_know_fails_it(run, tmp_path: Path) -> None:
    objects = json.loads(json.dumps(run.objects))
    sts = next(o for o in objects if o["kind"] == "StatefulSet")
    sts["spec"]["template"]["spec"]["hostAliases"] = [{"ip": "127.0.0.1", "hostnames": ["x"]}]
    with pytest.raises(UnknownField, match="hostAliases"):
        PodSpecRun(objects, NETWORK, SUBNET_PREFIX, tmp_path)


def test_env_is_expanded_as_the_kubelet_does() -> None:
    env = {"POD_NAME": "tokmesh-server-0"}
    assert expand("$(POD_NAME).svc:5343", env) == "tokmesh-server-0.svc:5343"
    assert expand("$(UNSET)/$$(POD_NAME)", env) == "$(UNSET)/$(POD_NAME)"
    assert "env" in COVERED
