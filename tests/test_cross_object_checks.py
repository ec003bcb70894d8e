"""The project's own Kubernetes checks can fail: each catches the break it is for."""

from __future__ import annotations

import copy

import checkers
import pytest


@pytest.fixture(scope="module")
def objects(render_scenario):
    findings, built = checkers.kustomize(render_scenario("defaults"))
    assert findings == []
    return built


def _one(objects, kind, name=None):
    return next(o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name))


BREAKS = {
    "StatefulSet selector does not match its pod labels":
        lambda o: _one(o, "StatefulSet")["spec"]["selector"]["matchLabels"].update(app="tokmesh"),
    "is not a headless Service":
        lambda o: _one(o, "Service", "tokmesh-server")["spec"].update(clusterIP="10.0.0.1"),
    "Service tokmesh-server-external port http targets 'web'":
        lambda o: _one(o, "Service", "tokmesh-server-external")["spec"]["ports"][0].update(targetPort="web"),
    "livenessProbe port 'metrics' is not a container port":
        lambda o: _one(o, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
        ["httpGet"].update(port="metrics"),
    "volumeMount config names no volume":
        lambda o: _one(o, "StatefulSet")["spec"]["template"]["spec"]["volumes"][0].update(name="settings"),
    "pod anti-affinity selects no pod":
        lambda o: _one(o, "StatefulSet")["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        ["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["labelSelector"]
        ["matchLabels"].update(app="tokmesh"),
    "NetworkPolicy does not admit peer port gossip-udp from the peers":
        lambda o: _one(o, "NetworkPolicy")["spec"]["ingress"][-1]["ports"].pop(),
    "NetworkPolicy does not admit peer port raft from the peers":
        lambda o: _one(o, "NetworkPolicy")["spec"]["ingress"].pop(),
    "PodDisruptionBudget selects no pod":
        lambda o: _one(o, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"].update(tier="x"),
    "topology spread over kubernetes.io/hostname selects no pod":
        lambda o: _one(o, "StatefulSet")["spec"]["template"]["spec"]["topologySpreadConstraints"][0]
        ["labelSelector"]["matchLabels"].update(app="tokmesh"),
    "serviceAccountName names no ServiceAccount":
        lambda o: _one(o, "StatefulSet")["spec"]["template"]["spec"].update(serviceAccountName="default"),
}


@pytest.mark.parametrize("expected", BREAKS)
def test_cross_object_check_catches(objects, expected: str) -> None:
    broken = copy.deepcopy(objects)
    BREAKS[expected](broken)
    assert any(expected in problem for problem in checkers.cross_object_problems(broken))


@pytest.fixture(scope="module")
def certificate_objects(render_scenario):
    findings, built = checkers.kustomize(render_scenario("kubernetes-cert-manager"))
    assert findings == []
    return built


CERTIFICATE_BREAKS = {
    "fills a Secret no pod mounts": lambda c: c["spec"].update(secretName="other-tls"),
    "does not cover the pods of the headless Service":
        lambda c: c["spec"].update(dnsNames=[n for n in c["spec"]["dnsNames"] if not n.startswith("*")]),
    "does not cover Service tokmesh-server-external":
        lambda c: c["spec"].update(dnsNames=[n for n in c["spec"]["dnsNames"] if n.startswith("*")]),
}


@pytest.mark.parametrize("expected", CERTIFICATE_BREAKS)
def test_certificate_check_catches(certificate_objects, expected: str) -> None:
    broken = copy.deepcopy(certificate_objects)
    CERTIFICATE_BREAKS[expected](_one(broken, "Certificate"))
    assert any(expected in problem for problem in checkers.cross_object_problems(broken))


@pytest.mark.parametrize(
    ("expected", "field", "value"),
    [
        ("allowPrivilegeEscalation is not false", "allowPrivilegeEscalation", True),
        ("capabilities are not all dropped", "capabilities", {"drop": ["NET_RAW"]}),
        ("runAsNonRoot is not true", "runAsNonRoot", False),
        ("root filesystem is writable", "readOnlyRootFilesystem", False),
    ],
)
def test_restricted_pod_security_check_catches(objects, expected: str, field: str, value) -> None:
    broken = copy.deepcopy(objects)
    pod = _one(broken, "StatefulSet")["spec"]["template"]["spec"]
    pod["containers"][0]["securityContext"][field] = value
    if field == "runAsNonRoot":
        pod["securityContext"]["runAsNonRoot"] = False
    assert any(expected in problem for problem in checkers.restricted_pod_security_problems(broken))
