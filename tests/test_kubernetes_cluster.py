"""The Kubernetes trees on a real control plane: etcd, kube-apiserver (with Pod Security
admission), kube-controller-manager and kube-scheduler, built from the pinned modules of
tests/cluster, and three kwok nodes in two zones.  Every Kubernetes scenario is applied,
scheduled, drained and removed; the staged rollout runs against the real StatefulSet
controller; every answer is changed by copier update and applied again.

kwok runs no containers: a pod on its nodes is Running and Ready once scheduled, and gone
as soon as it is deleted (no probes, no grace period, no image pulls, no volume contents,
no network).  What runs inside the pods is the pod-spec run's (test_runtime_kubernetes.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import checkers
import pytest
import yaml
from conftest import SCENARIOS, require, scenario_answers
from template_versions import copy_project, update
from tokmesh_answers import validate_answers

pytestmark = pytest.mark.integration

KUBERNETES_SCENARIOS = [s for s in SCENARIOS if validate_answers(scenario_answers(s)).kubernetes]
DIGEST = "sha256:" + "5e" * 32


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Any]:
    from cluster.control_plane import ControlPlane

    bin_dir = checkers.cluster_bin_dir()
    require(bin_dir is not None, "the control plane is not built: bash tests/cluster/build.sh")
    require(shutil.which("openssl") is not None, "openssl makes the control plane's certificates")
    plane = ControlPlane(bin_dir, tmp_path_factory.mktemp("control-plane"))
    try:
        plane.start()
        # What the scenarios ask of the cluster beyond its own: a storage class by name, and
        # cert-manager's Certificate kind (its API only: no cert-manager runs here).
        plane.storage_class("fast-ssd")
        plane.kubectl("apply", "-f", str(Path(__file__).parent / "cluster" / "cert-manager-certificate-crd.yaml"))
        yield plane
    finally:
        plane.stop()


class Tree:
    """A rendered tree and the cluster it is applied to."""

    def __init__(self, path: Path, cluster: Any) -> None:
        self.path, self.cluster = path, cluster
        self.model = validate_answers(yaml.safe_load((path / ".copier-answers.yml").read_text()))

    @property
    def namespace(self) -> str:
        return self.model.k8s_namespace

    @property
    def name(self) -> str:
        return self.model.service_name

    def ops(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([str(self.path / "scripts/k8s-ops.sh"), *args], env=self.cluster.env(),
                                capture_output=True, text=True, check=False, timeout=600)
        if check:
            assert result.returncode == 0, f"k8s-ops.sh {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.cluster.kubectl("-n", self.namespace, *args, check=check)

    def get(self, *args: str) -> dict[str, Any]:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def statefulset(self) -> dict[str, Any]:
        return self.get("statefulset", self.name)

    def pods(self) -> list[dict[str, Any]]:
        items = self.get("pods", "-l", f"app.kubernetes.io/instance={self.name}")["items"]
        return sorted(items, key=lambda pod: int(pod["metadata"]["name"].rsplit("-", 1)[1]))

    def claims(self) -> dict[str, dict[str, Any]]:
        items = self.get("pvc", "-l", f"app.kubernetes.io/instance={self.name}")["items"]
        return {claim["metadata"]["name"]: claim for claim in items}

    def wait_rolled_out(self, seconds: float = 120) -> dict[str, Any]:
        """Every replica on the StatefulSet's update revision and Ready."""
        def done() -> dict[str, Any] | None:
            sts = self.statefulset()
            status, replicas = sts.get("status", {}), sts["spec"]["replicas"]
            if (status.get("observedGeneration") == sts["metadata"]["generation"]
                    and status.get("readyReplicas") == replicas == status.get("updatedReplicas")
                    and status.get("currentRevision") == status.get("updateRevision")
                    and len(self.pods()) == replicas):
                return sts
            return None
        return wait_for(done, seconds, f"{self.namespace}/{self.name} rolled out")


def wait_for(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.5)


def cluster_nodes(cluster: Any) -> list[dict[str, Any]]:
    return json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]


def remove_namespace(cluster: Any, namespace: str) -> None:
    """The namespace and all in it gone.  Its workload is deleted first, the pods without
    grace: the namespace controller otherwise waits out their grace period (kwok has
    already removed them) before it looks again."""
    if cluster.kubectl("get", "namespace", namespace, check=False).returncode == 0:
        for kind in ("statefulset", "pods", "pvc"):
            cluster.kubectl("-n", namespace, "delete", kind, "--all", "--grace-period=0", "--force",
                            "--wait=true", "--timeout=60s", check=False)
    cluster.kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=true", "--timeout=120s")


def ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return pod["metadata"].get("deletionTimestamp") is None and any(
        c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def images(pod: dict[str, Any]) -> set[str]:
    spec = pod["spec"]
    return {c["image"] for c in spec.get("initContainers", []) + spec["containers"]}


@pytest.fixture
def applied(cluster, render_scenario) -> Iterator[Callable[[str], Tree]]:
    """apply(scenario): the scenario's tree applied to a cluster holding nothing of it and
    rolled out; its namespace removed afterwards."""
    namespaces: list[str] = []

    def apply(scenario: str) -> Tree:
        tree = Tree(render_scenario(scenario), cluster)
        remove_namespace(cluster, tree.namespace)
        namespaces.append(tree.namespace)
        tree.ops("apply")
        tree.wait_rolled_out()
        return tree

    yield apply
    for namespace in namespaces:
        remove_namespace(cluster, namespace)


# ---- every scenario: applied, admitted, scheduled, drained, removed --------------------------


@pytest.mark.parametrize("scenario", KUBERNETES_SCENARIOS)
def test_the_tree_is_applied_server_side_and_its_namespace_enforces_restricted(applied, scenario) -> None:
    tree = applied(scenario)
    labels = tree.cluster.kubectl("get", "namespace", tree.namespace, "-o", "json").stdout
    assert json.loads(labels)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    privileged = tree.kubectl("run", "privileged", "--image=busybox", "--privileged", "--dry-run=server",
                              check=False)
    assert privileged.returncode != 0 and "violates PodSecurity" in privileged.stderr
    # Clients keep their address where the NetworkPolicy admits them by it (the API server
    # takes Local only for a Service that nodes forward to).
    client = tree.get("service", tree.model.client_service_name)["spec"]
    if tree.model.k8s_service_type != "ClusterIP":
        expected = "Local" if tree.model.client_networks else "Cluster"
        assert client["externalTrafficPolicy"] == expected
    # The server applied every object of the tree: each carries the field manager of
    # server-side apply.
    kinds = ("statefulset", "service", "configmap", "poddisruptionbudget", "networkpolicy", "serviceaccount")
    assert sum(len(tree.get(kind, "-l", "app.kubernetes.io/managed-by=copier")["items"]) for kind in kinds) >= 7
    for kind in kinds:
        for item in tree.get(kind, "-l", "app.kubernetes.io/managed-by=copier", "--show-managed-fields")["items"]:
            managers = {(entry["manager"], entry["operation"]) for entry in item["metadata"]["managedFields"]}
            assert ("kubectl", "Apply") in managers, f"{kind}/{item['metadata']['name']}: {managers}"


@pytest.mark.parametrize("scenario", KUBERNETES_SCENARIOS)
def test_the_replicas_are_scheduled_across_nodes_and_zones_and_ready(applied, scenario) -> None:
    tree = applied(scenario)
    pods = tree.pods()
    assert [p["metadata"]["name"] for p in pods] == [f"{tree.name}-{n}" for n in range(tree.model.replicas)]
    assert all(ready(p) for p in pods)
    nodes = {n["metadata"]["name"]: n["metadata"]["labels"] for n in cluster_nodes(tree.cluster)}
    per_node = Counter(p["spec"]["nodeName"] for p in pods)
    counts = [per_node.get(name, 0) for name in nodes]
    assert max(counts) - min(counts) <= 1, per_node  # anti-affinity and the spread over nodes
    zones = {nodes[p["spec"]["nodeName"]]["topology.kubernetes.io/zone"] for p in pods}
    assert len(zones) == min(len(pods), 2), zones  # the spread over zones
    for name, claim in tree.claims().items():
        assert claim["status"]["phase"] == "Bound", name


@pytest.mark.parametrize("scenario", KUBERNETES_SCENARIOS)
def test_a_drain_evicts_no_more_replicas_than_the_budget_allows(applied, scenario) -> None:
    """Every node cordoned, then drained one after the other: an evicted replica cannot be
    placed again, so each drain may take only what the PodDisruptionBudget still allows; the
    one that would take more waits for it and gives up."""
    tree = applied(scenario)
    budget = tree.get("pdb", tree.name)["spec"]["maxUnavailable"]
    nodes = [n["metadata"]["name"] for n in cluster_nodes(tree.cluster)]
    try:
        for node in nodes:
            tree.cluster.kubectl("cordon", node)
        refused = []
        for node in nodes:
            drain = tree.cluster.kubectl("drain", node, "--ignore-daemonsets", "--delete-emptydir-data",
                                         "--timeout=6s", check=False)
            unavailable = tree.model.replicas - sum(ready(p) for p in tree.pods())
            assert unavailable <= budget, f"after draining {node}: {unavailable} replicas down, budget {budget}"
            if drain.returncode:
                assert "disruption budget" in drain.stderr, drain.stderr
                refused.append(node)
        down_at_most = min(budget, tree.model.replicas)
        assert tree.model.replicas - sum(ready(p) for p in tree.pods()) == down_at_most
        if tree.model.replicas > budget:
            assert refused, "no drain was held back by the budget"
    finally:
        for node in nodes:
            tree.cluster.kubectl("uncordon", node)
    tree.wait_rolled_out()


@pytest.mark.parametrize("scenario", KUBERNETES_SCENARIOS)
def test_removal_keeps_the_namespace_and_the_claims_and_a_new_apply_takes_them_again(applied, scenario) -> None:
    tree = applied(scenario)
    claims = {name: claim["metadata"]["uid"] for name, claim in tree.claims().items()}
    assert len(claims) == tree.model.replicas
    result = tree.ops("delete")
    assert "kept the namespace" in result.stdout
    wait_for(lambda: not tree.pods(), 60, "the pods gone")
    assert tree.kubectl("get", "statefulset", tree.name, check=False).returncode != 0
    assert json.loads(tree.cluster.kubectl("get", "namespace", tree.namespace, "-o", "json").stdout)[
        "status"]["phase"] == "Active"
    assert {name: claim["metadata"]["uid"] for name, claim in tree.claims().items()} == claims
    tree.ops("apply")
    tree.wait_rolled_out()
    assert {p["metadata"]["name"]: [v["persistentVolumeClaim"]["claimName"] for v in p["spec"]["volumes"]
                                    if "persistentVolumeClaim" in v] for p in tree.pods()} == {
        f"{tree.name}-{n}": [f"data-{tree.name}-{n}"] for n in range(tree.model.replicas)}
    assert {name: claim["metadata"]["uid"] for name, claim in tree.claims().items()} == claims


# ---- the staged rollout, against the real StatefulSet controller ----------------------------


@pytest.fixture(scope="module")
def released_tree(template_repo, tmp_path_factory) -> Path:
    """A Kubernetes-only tree copied from the template's latest release into a git
    repository of its own, as an operator's; each test takes a clone of it."""
    return copy_project(template_repo, tmp_path_factory.mktemp("released") / "deploy", "v0.2.1",
                        {"platforms": ["kubernetes"]})


@pytest.fixture
def project(cluster, released_tree, tmp_path) -> Iterator[Callable[[], Tree]]:
    """project(): the released tree, applied and rolled out; its namespaces removed afterwards."""
    trees: list[Tree] = []

    def make() -> Tree:
        path = tmp_path / f"deploy-{len(trees)}"
        subprocess.run(["git", "clone", "-q", str(released_tree), str(path)], check=True)
        tree = Tree(path, cluster)
        remove_namespace(cluster, tree.namespace)
        trees.append(tree)
        tree.ops("apply")
        tree.wait_rolled_out()
        return tree

    yield make
    for namespace in {t.namespace for t in trees} | {Tree(t.path, cluster).namespace for t in trees}:
        remove_namespace(cluster, namespace)


def updated(tree: Tree, **answers: Any) -> Tree:
    """copier update of the tree with these answers: the same tree, re-read."""
    update(tree.path, *[arg for name, value in answers.items() for arg in ("--data", f"{name}={value}")])
    return Tree(tree.path, tree.cluster)


def revisions(tree: Tree) -> set[str]:
    return {r["metadata"]["name"] for r in tree.get("controllerrevisions")["items"]
            if r["metadata"]["name"].startswith(f"{tree.name}-")}


@pytest.mark.parametrize("version", ["2.0.0", f"2.0.0@{DIGEST}"])
def test_canary_promote_and_the_recorded_answers_roll_out_once_and_undo_goes_back(project, version) -> None:
    tree = project()
    first = tree.statefulset()["status"]["currentRevision"]
    old_image = tree.model.image_reference
    new_image = f"{tree.model.image_repository}:{version}"

    result = tree.ops("canary", version)
    sts = tree.statefulset()
    assert sts["spec"]["updateStrategy"]["rollingUpdate"]["partition"] == tree.model.canary_ordinal
    pods = tree.pods()
    assert images(pods[-1]) == {new_image}, "the canary runs the new image in every container"
    assert all(images(p) == {old_image} for p in pods[:-1]), "the others wait"
    assert sts["status"]["updateRevision"] != sts["status"]["currentRevision"] == first
    assert pods[-1]["metadata"]["labels"]["controller-revision-hash"] == sts["status"]["updateRevision"]

    result = tree.ops("promote")
    canary_revision = tree.wait_rolled_out()["status"]["currentRevision"]
    assert all(images(p) == {new_image} for p in tree.pods())
    tag, _, digest = version.partition("@")
    assert f"--data image_tag={tag} --data image_digest='{digest}'" in result.stdout

    # Recorded as promote says: the tree now renders what runs, and applying it rolls nothing.
    pods_before = {p["metadata"]["name"]: p["metadata"]["uid"] for p in tree.pods()}
    known_revisions = revisions(tree)
    tree = updated(tree, image_tag=tag, image_digest=digest)
    assert tree.model.image_reference == new_image
    tree.ops("apply")
    sts = tree.wait_rolled_out()
    assert sts["status"]["updateRevision"] == sts["status"]["currentRevision"] == canary_revision
    assert revisions(tree) == known_revisions
    assert {p["metadata"]["name"]: p["metadata"]["uid"] for p in tree.pods()} == pods_before

    tree.ops("undo")
    sts = tree.wait_rolled_out()
    assert sts["status"]["currentRevision"] == first
    assert all(images(p) == {old_image} for p in tree.pods())


# ---- every answer, changed by copier update and applied again -------------------------------

# A new value for every answer that reaches the Kubernetes tree (the first tree: Kubernetes
# only, TLS off).  The refused ones name what the API server would refuse or what would
# silently create a second StatefulSet, and the procedure to follow instead.
CHANGES: dict[str, Any] = {
    "service_name": "tokmesh-cache",
    "log_level": "debug",
    "http_port": 6080,
    "tls_enabled": True,
    "redis_enabled": True,
    "replicas": 5,
    "shutdown_timeout_seconds": 20,
    "image_repository": "registry.example.com/cache/tokmesh",
    "image_tag": "1.1.0",
    "client_networks": ["10.0.0.0/8"],
    "client_namespaces": ["apps"],
    "config_dir": "/etc/tokmesh",
    "data_dir": "/var/lib/tokmesh",
    "image_digest": DIGEST,
    "container_uid": 20001,
    "memory_limit": "1Gi",
    "k8s_namespace": "cache",
    "k8s_service_type": "LoadBalancer",
    "cluster_port": 6343,
    "gossip_port": 6344,
    "storage_size": "20Gi",
    "storage_class": "fast-ssd",
    "cluster_domain": "example.internal",
    "cpu_limit": "1",
    "cpu_request": "200m",
    "memory_request": "256Mi",
}
# Given with the answers that turn them on, which the first tree does not have.
WITH: dict[str, dict[str, Any]] = {
    "redis_port": {"redis_enabled": True, "redis_port": 7379},
    "tls_cert_file": {"tls_enabled": True, "tls_cert_file": "/etc/tokmesh-server/tls/server.crt"},
    "tls_key_file": {"tls_enabled": True, "tls_key_file": "/etc/tokmesh-server/tls/server.key"},
    "cert_manager_issuer": {"tls_enabled": True, "cert_manager_issuer": "internal-ca"},
    "cert_manager_issuer_kind": {"tls_enabled": True, "cert_manager_issuer": "internal-ca",
                                 "cert_manager_issuer_kind": "Issuer"},
    # Asked with Linux only; the pods' run folder follows it.
    "run_dir": {"platforms": ["linux", "kubernetes"], "run_dir": "/run/tokmesh"},
}
REFUSED = {
    "service_name": ["this tree would create tokmesh/tokmesh-cache beside it", "apply --beside"],
    "k8s_namespace": ["this tree would create cache/tokmesh-server beside it", "apply --beside"],
    "storage_size": ["storage_size grew from 10Gi to 20Gi", "scripts/k8s-ops.sh expand"],
    "storage_class": ["storage_class changed from 'the default' to 'fast-ssd'", "move the data to new claims"],
}
# Questions that do not reach the Kubernetes tree, each with where it goes instead.
NOT_KUBERNETES = {
    "platforms": "which trees exist at all (the Kubernetes one is on throughout)",
    "customise": "the gate that asks the rest; not recorded",
    "listen_address": "Linux and Windows hosts: containers listen on every interface",
    "compose_publish_address": "Compose",
    "compose_project_name": "Compose",
    "install_dir": "Linux", "service_user": "Linux", "service_group": "Linux",
    "windows_install_dir": "Windows", "windows_data_dir": "Windows",
    "builder_image": "the Dockerfile (the image the pods run is image_repository:image_tag)",
    "runtime_image": "the Dockerfile",
    "server_glue": "server-glue/ for tokmesh-go's source",
}


def copier_questions() -> list[str]:
    spec = yaml.safe_load((Path(__file__).parent.parent / "copier.yml").read_text())
    return [name for name in spec if not name.startswith("_")]


def test_every_question_is_changed_on_the_cluster_or_said_not_to_reach_it() -> None:
    covered = set(CHANGES) | set(WITH) | set(NOT_KUBERNETES)
    assert set(copier_questions()) == covered


@pytest.mark.parametrize("answer", [*CHANGES, *WITH])
def test_an_answer_changed_by_update_is_applied_or_refused_with_the_procedure(project, answer) -> None:
    tree = project()
    before = tree.statefulset()
    changes = {answer: CHANGES[answer]} if answer in CHANGES else WITH[answer]
    changed = updated(tree, **{k: json.dumps(v) if isinstance(v, list) else v for k, v in changes.items()})
    assert all(getattr(changed.model, k) == v for k, v in changes.items())
    result = changed.ops("apply", check=False)
    if answer in REFUSED:
        assert result.returncode == 2, result.stdout + result.stderr
        for text in REFUSED[answer]:
            assert text in result.stderr
        # Nothing changed: the StatefulSet is the one applied before, and no other was made.
        assert tree.statefulset()["metadata"]["generation"] == before["metadata"]["generation"]
        assert changed.kubectl("get", "statefulset", changed.name, check=False).returncode != 0 or (
            changed.namespace, changed.name) == (tree.namespace, tree.name)
        return
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stderr, result.stderr
    sts = changed.wait_rolled_out()
    assert sts["spec"]["replicas"] == changed.model.replicas


def test_grown_claims_are_expanded_around_the_running_pods(project) -> None:
    tree = project()
    pods = {p["metadata"]["name"]: p["metadata"]["uid"] for p in tree.pods()}
    changed = updated(tree, storage_size="20Gi")
    assert changed.ops("apply", check=False).returncode == 2
    changed.ops("expand")
    sts = changed.wait_rolled_out()
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "20Gi"
    for name, claim in changed.claims().items():
        assert claim["spec"]["resources"]["requests"]["storage"] == "20Gi", name
    assert {p["metadata"]["name"]: p["metadata"]["uid"] for p in changed.pods()} == pods, "no pod restarted"
    changed.ops("apply")  # the tree and the cluster agree again


def test_the_same_size_in_other_units_is_no_change(project) -> None:
    """The API server writes 10240Mi back as 10Gi; the check compares what it writes back."""
    tree = project()
    changed = updated(tree, storage_size="10240Mi")
    changed.ops("apply")
    assert changed.statefulset()["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"][
        "storage"] == changed.model.storage_size_canonical == "10Gi"


def test_a_second_cache_beside_the_first_is_applied_only_when_asked(project) -> None:
    tree = project()
    changed = updated(tree, service_name="tokmesh-cache")
    assert changed.ops("apply", check=False).returncode == 2
    changed.ops("apply", "--beside")
    assert changed.wait_rolled_out()["metadata"]["name"] == "tokmesh-cache"
    assert tree.wait_rolled_out()["metadata"]["name"] == "tokmesh-server"
