"""scripts/k8s-ops.sh against a recording stand-in of kubectl: the commands it sends
for a staged rollout, an undo and the backups agree with the rendered StatefulSet.
What a real API server and its controllers do with them: test_kubernetes_cluster.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from tokmesh_answers import validate_answers

FAKE_KUBECTL = """#!/bin/sh
# Records each call; keeps what 'apply -f -' reads; 'exec' sends a small tar stream.
printf '%s\\n' "$*" >> "$KUBECTL_LOG"
case " $* " in
  *" apply -f - "*) cat >> "$KUBECTL_LOG.applied"; echo "---" >> "$KUBECTL_LOG.applied" ;;
  *" exec "*) tar -cf - -C "$FAKE_DATA" . ;;
esac
"""


@pytest.fixture
def ops(render, tmp_path: Path):
    answers = {"platforms": ["kubernetes"], "replicas": 3, "k8s_namespace": "cache"}
    tree = render(answers)
    fake = tmp_path / "kubectl"
    fake.write_text(FAKE_KUBECTL)
    fake.chmod(0o755)
    data = tmp_path / "data"
    (data / "wal").mkdir(parents=True)
    (data / "wal" / "000001.log").write_text("entry\n")
    log = tmp_path / "calls"
    env = {**os.environ, "KUBECTL": str(fake), "KUBECTL_LOG": str(log), "FAKE_DATA": str(data)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(tree / "scripts/k8s-ops.sh"), *args], env=env, capture_output=True,
                              text=True, check=False)

    run.calls = lambda: log.read_text().splitlines() if log.exists() else []  # type: ignore[attr-defined]
    run.applied = lambda: [d for d in yaml.safe_load_all(Path(f"{log}.applied").read_text()) if d]  # type: ignore[attr-defined]
    run.model = validate_answers(answers)  # type: ignore[attr-defined]
    run.statefulset = yaml.safe_load((tree / "deployments/kubernetes/statefulset.yaml").read_text())  # type: ignore[attr-defined]
    return run


def test_canary_holds_back_every_pod_but_the_highest_ordinal(ops) -> None:
    result = ops("canary", "2.0.0")
    assert result.returncode == 0, result.stderr
    pod = ops.statefulset["spec"]["template"]["spec"]
    # Every container that runs the server's image, the init container too: the tree
    # renders them alike, so the one the canary leaves behind would roll the pods again.
    changes = " ".join(f"{c['name']}=tokmesh/tokmesh-server:2.0.0" for c in pod["initContainers"] + pod["containers"])
    calls = ops.calls()
    assert '"partition":2' in calls[0] and calls[0].startswith("-n cache patch statefulset tokmesh-server")
    assert calls[1] == f"-n cache set image statefulset/tokmesh-server {changes}"
    assert calls[2].startswith("-n cache rollout status statefulset/tokmesh-server --timeout")
    assert calls[3].startswith("-n cache wait --for condition=Ready pod/tokmesh-server-2")
    assert "tokmesh-server-2 runs tokmesh/tokmesh-server:2.0.0" in result.stdout


def test_canary_takes_a_tag_with_its_digest(ops) -> None:
    digest = "sha256:" + "ab" * 32
    assert ops("canary", f"2.0.0@{digest}").returncode == 0
    assert f"=tokmesh/tokmesh-server:2.0.0@{digest}" in ops.calls()[1]


def test_promote_and_undo_release_the_partition(ops) -> None:
    assert ops("promote").returncode == 0
    assert ops("undo").returncode == 0
    calls = ops.calls()
    assert '"partition":0' in calls[0] and calls[1].startswith("-n cache rollout status")
    assert calls[2].startswith("-n cache get statefulset tokmesh-server -o jsonpath=")
    assert calls[3] == "-n cache rollout undo statefulset/tokmesh-server"
    assert '"partition":0' in calls[4] and calls[5].startswith("-n cache rollout status")


def test_snapshot_asks_for_one_volume_snapshot_per_replica_claim(ops) -> None:
    result = ops("snapshot", "csi-fast")
    assert result.returncode == 0, result.stderr
    (claim,) = ops.statefulset["spec"]["volumeClaimTemplates"]
    snapshots = ops.applied()
    assert [s["kind"] for s in snapshots] == ["VolumeSnapshot"] * 3
    assert [s["spec"]["source"]["persistentVolumeClaimName"] for s in snapshots] == [
        f"{claim['metadata']['name']}-tokmesh-server-{n}" for n in range(3)]
    assert {s["spec"]["volumeSnapshotClassName"] for s in snapshots} == {"csi-fast"}
    assert {s["metadata"]["namespace"] for s in snapshots} == {"cache"}


def test_copy_writes_each_replicas_data_with_a_checksum(ops, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = ops("copy", str(out))
    assert result.returncode == 0, result.stderr
    archives = sorted(out.glob("*.tar.gz"))
    assert [a.name.rsplit("-", 1)[0] for a in archives] == [f"tokmesh-server-{n}" for n in range(3)]
    for archive in archives:
        check = subprocess.run(["sha256sum", "--check", f"{archive.name}.sha256"], cwd=out, capture_output=True)
        assert check.returncode == 0
        listing = subprocess.run(["tar", "-tzf", str(archive)], capture_output=True, text=True).stdout
        assert "./wal/000001.log" in listing


@pytest.mark.parametrize(("args", "message"), [
    (("canary",), "canary needs a VERSION"),
    (("canary", "2.0.0;reboot"), "canary needs a VERSION"),
    (("canary", "2.0.0@sha256:abc"), "canary needs a VERSION"),
    (("apply", "--force"), "apply takes --beside at most"),
    (("snapshot", "Bad_Class"), "snapshot needs the name of a VolumeSnapshotClass"),
    (("promote", "now"), "promote takes no arguments"),
    (("scale",), "apply, expand, canary, promote, undo, snapshot, copy or delete?"),
])
def test_bad_input_is_refused_before_kubectl_is_called(ops, args, message: str) -> None:
    result = ops(*args)
    assert result.returncode == 2 and message in result.stderr  # refused: nothing changed
    assert ops.calls() == []
