"""Each generated artifact's own field's checker, run on a rendered tree.

Every function takes the tree and returns its findings as lines of text: an empty
list is a clean bill.  The scenario tests and the fuzz tests share these.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import powershell
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
# The oldest (the spec's kubectl 1.25) and the newest schema kubernetes-validate bundles.
KUBERNETES_VERSIONS = ("1.25.0", "1.37.0")
CHECKOV = os.environ.get("CHECKOV", str(REPO_ROOT / ".venv-checkov" / "bin" / "checkov"))


# tests/cluster/build.sh builds these once per pin set; the checkers take its kubectl.
CLUSTER_BUILD = Path(__file__).parent / "cluster" / "build.sh"
CLUSTER_PROGRAMS = {"kubectl"}
# Applied before the kustomization and left out of it, so that removing the tree with
# 'kubectl delete -k' keeps the namespace and the volume claims in it.
APPLIED_ON_THEIR_OWN = {"namespace.yaml"}


def cluster_bin_dir() -> Path | None:
    """The pinned control plane's programs (kubectl among them), if .ci/setup built them."""
    result = _run(["bash", str(CLUSTER_BUILD), "--find"])
    return Path(result.stdout.strip()) if result.returncode == 0 else None


def tool(name: str) -> str | None:
    """The checker's path: this venv's (the pinned PyPI builds) first, then the pinned control
    plane's (kubectl), then PATH."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    bin_dir = cluster_bin_dir() if name in CLUSTER_PROGRAMS else None
    if bin_dir is not None:
        return str(bin_dir / name)
    return shutil.which(name)


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False)


def _output(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


# ---- shell -------------------------------------------------------------------------


def shell_scripts(tree: Path) -> list[Path]:
    return sorted(tree.glob("scripts/*.sh"))


def shellcheck(tree: Path) -> list[str]:
    scripts = shell_scripts(tree)
    result = _run([tool("shellcheck"), "-S", "style", "-f", "gcc", *map(str, scripts)])
    return _output(result) if result.returncode else []


def bash_syntax(tree: Path) -> list[str]:
    findings = []
    for script in shell_scripts(tree):
        result = _run(["bash", "-n", str(script)])
        findings += [f"{script.name}: {line}" for line in _output(result)]
    return findings


# ---- systemd -------------------------------------------------------------------------


def unit_files(tree: Path) -> list[Path]:
    return sorted(tree.glob("deployments/linux/*.service"))


def systemd_verify(tree: Path, scratch: Path) -> list[str]:
    """systemd-analyze verify, with ExecStart's binary stubbed: verify insists that it
    exists, and warns (exit 0) on unknown keys and bad values, so any output fails."""
    findings = []
    for unit in unit_files(tree):
        text = unit.read_text()
        binary = re.search(r"^ExecStart=(\S+)", text, re.M).group(1)
        stub = scratch / "stub-server"
        stub.write_text("#!/bin/sh\n")
        stub.chmod(0o755)
        copy = scratch / unit.name
        copy.write_text(text.replace(f"ExecStart={binary} ", f"ExecStart={stub} "))
        result = _run(["systemd-analyze", "verify", str(copy)])
        findings += _output(result)
        if result.returncode:
            findings.append(f"systemd-analyze verify exited {result.returncode}")
    return findings


def exposure_score(unit: Path) -> float:
    result = _run(["systemd-analyze", "security", "--offline=true", str(unit)])
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout + result.stderr)
    if match is None:
        raise AssertionError(f"no exposure score from systemd-analyze:\n{result.stdout}{result.stderr}")
    return float(match.group(1))


# ---- containers ---------------------------------------------------------------------------


def hadolint(tree: Path) -> list[str]:
    result = _run([tool("hadolint"), "--no-color", "--failure-threshold", "info", "Dockerfile"], cwd=tree)
    return _output(result) if result.returncode or result.stdout.strip() else []


def compose_config(tree: Path) -> list[str]:
    compose = tree / "deployments/docker/docker-compose.yaml"
    result = _run(["docker-compose", "-f", str(compose), "config", "-q"])
    return _output(result) if result.returncode or result.stderr.strip() else []


def checkov(tree: Path) -> dict[str, list[str]]:
    """checkov's Kubernetes and Dockerfile checks: {"failed": [...], "skipped": [...]}."""
    result = _run(
        [CHECKOV, "-d", str(tree), "--framework", "kubernetes", "dockerfile",
         "--skip-download", "--compact", "-o", "json"]
    )
    if result.returncode not in (0, 1):
        raise AssertionError(f"checkov failed to run:\n{result.stderr}")
    reports = json.loads(result.stdout)
    if isinstance(reports, dict):
        reports = [reports] if "results" in reports else []
    found: dict[str, list[str]] = {"failed": [], "skipped": []}
    for report in reports:
        for kind in ("failed", "skipped"):
            for check in report["results"].get(f"{kind}_checks", []):
                where = f"{check['file_path']} {check['resource']}"
                reason = f" ({check['suppress_comment']})" if check.get("suppress_comment") else ""
                found[kind].append(f"{check['check_id']} {where}{reason}")
    return found


# ---- Kubernetes -------------------------------------------------------------------------


def manifest_files(tree: Path) -> list[Path]:
    return sorted(p for p in tree.glob("deployments/kubernetes/*.yaml") if p.name != "kustomization.yaml")


def kubernetes_validate(tree: Path, version: str) -> list[str]:
    files = manifest_files(tree)
    result = _run([tool("kubernetes-validate"), "--strict", "-k", version, "--quiet", *map(str, files)])
    return _output(result) if result.returncode else []


def kustomize(tree: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """kubectl kustomize's findings, and what the tree applies: the Namespace, then the
    objects kustomize built."""
    result = _run([tool("kubectl") or "kubectl", "kustomize", str(tree / "deployments/kubernetes")])
    if result.returncode:
        return _output(result), []
    applied_alone = [doc for name in sorted(APPLIED_ON_THEIR_OWN)
                     for doc in yaml.safe_load_all((tree / "deployments/kubernetes" / name).read_text()) if doc]
    return [], applied_alone + [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def kustomization_lists_every_manifest(tree: Path) -> list[str]:
    """kubernetes-validate only warns on a Kustomization: check its resources here."""
    kustomization = yaml.safe_load((tree / "deployments/kubernetes/kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    present = {p.name for p in manifest_files(tree)}
    return [f"kustomization.yaml: {name} not listed" for name in sorted(present - listed - APPLIED_ON_THEIR_OWN)] + [
        f"kustomization.yaml: {name} listed but missing" for name in sorted(listed - present)
    ] + [
        f"kustomization.yaml: {name} listed: 'kubectl delete -k' would delete it, and the claims in it"
        for name in sorted(listed & APPLIED_ON_THEIR_OWN)
    ]


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def cross_object_problems(objects: list[dict[str, Any]]) -> list[str]:
    """What no schema catches: the objects must agree with each other."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    problems: list[str] = []
    (sts,) = by_kind["StatefulSet"]
    pod = sts["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    pod_spec = pod["spec"]
    (container,) = pod_spec["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}

    if not _matches(sts["spec"]["selector"]["matchLabels"], pod_labels):
        problems.append("StatefulSet selector does not match its pod labels")
    namespaces = {obj["metadata"].get("namespace") for obj in objects if obj["kind"] != "Namespace"}
    if len(namespaces) != 1:
        problems.append(f"objects are spread over namespaces {namespaces}")
    for namespace in by_kind.get("Namespace", []):
        if {namespace["metadata"]["name"]} != namespaces:
            problems.append(f"the Namespace object {namespace['metadata']['name']} holds none of the objects")

    services = {svc["metadata"]["name"]: svc for svc in by_kind["Service"]}
    headless = services.get(sts["spec"]["serviceName"])
    if headless is None:
        problems.append(f"serviceName {sts['spec']['serviceName']} names no Service")
    elif headless["spec"].get("clusterIP") != "None":
        problems.append("the StatefulSet's serviceName is not a headless Service")
    elif not headless["spec"].get("publishNotReadyAddresses"):
        problems.append("the headless Service does not publish not-ready addresses")
    for name, svc in services.items():
        if not _matches(svc["spec"]["selector"], pod_labels):
            problems.append(f"Service {name} selects no pod")
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            if (target not in ports) if isinstance(target, str) else (target not in ports.values()):
                problems.append(f"Service {name} port {port['name']} targets {target!r}, not a container port")

    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        port = container.get(probe, {}).get("httpGet", {}).get("port")
        if port is None:
            problems.append(f"container has no {probe}")
        elif port not in ports and port not in ports.values():
            problems.append(f"{probe} port {port!r} is not a container port")

    volumes = {v["name"] for v in pod_spec.get("volumes", [])}
    claims = {c["metadata"]["name"] for c in sts["spec"].get("volumeClaimTemplates", [])}
    for mount in container["volumeMounts"]:
        if mount["name"] not in volumes | claims:
            problems.append(f"volumeMount {mount['name']} names no volume or claim")
    config_volumes = [v for v in pod_spec.get("volumes", []) if "configMap" in v]
    configmaps = {cm["metadata"]["name"] for cm in by_kind["ConfigMap"]}
    for volume in config_volumes:
        if volume["configMap"]["name"] not in configmaps:
            problems.append(f"volume {volume['name']} names a missing ConfigMap")

    accounts = {sa["metadata"]["name"] for sa in by_kind["ServiceAccount"]}
    if pod_spec.get("serviceAccountName") not in accounts:
        problems.append("serviceAccountName names no ServiceAccount")

    (pdb,) = by_kind["PodDisruptionBudget"]
    if not _matches(pdb["spec"]["selector"]["matchLabels"], pod_labels):
        problems.append("PodDisruptionBudget selects no pod")

    affinity = pod_spec.get("affinity", {}).get("podAntiAffinity", {})
    for term in affinity.get("preferredDuringSchedulingIgnoredDuringExecution", []):
        if not _matches(term["podAffinityTerm"]["labelSelector"]["matchLabels"], pod_labels):
            problems.append("pod anti-affinity selects no pod")

    for term in pod_spec.get("topologySpreadConstraints", []):
        if not _matches(term["labelSelector"]["matchLabels"], pod_labels):
            problems.append(f"topology spread over {term['topologyKey']} selects no pod")

    for certificate in by_kind.get("Certificate", []):
        secrets = {v["secret"]["secretName"] for v in pod_spec.get("volumes", []) if "secret" in v}
        if certificate["spec"]["secretName"] not in secrets:
            problems.append(f"Certificate {certificate['metadata']['name']} fills a Secret no pod mounts")
        names = certificate["spec"].get("dnsNames", [])
        headless_suffix = f".{sts['spec']['serviceName']}.{sts['metadata']['namespace']}.svc."
        if not any(n.startswith("*" + headless_suffix) for n in names):
            problems.append("the Certificate does not cover the pods of the headless Service")
        for name in services:
            if name != sts["spec"]["serviceName"] and name not in names:
                problems.append(f"the Certificate does not cover Service {name}")

    (policy,) = by_kind["NetworkPolicy"]
    if not _matches(policy["spec"]["podSelector"]["matchLabels"], pod_labels):
        problems.append("NetworkPolicy selects no pod")
    admitted: dict[str, list[dict[str, Any]]] = {}
    for rule in policy["spec"].get("ingress", []):
        for port in rule.get("ports", []):
            admitted.setdefault(port["port"], []).append(rule)
    client_ports = {p["targetPort"] for p in services[f"{sts['metadata']['name']}-external"]["spec"]["ports"]}
    for name in client_ports:
        if name not in admitted:
            problems.append(f"NetworkPolicy does not admit client port {name}")
    # Raft and gossip, where clustering is on: from the peers (the other replicas) only.
    container = pod_spec["containers"][0]
    peer_ports = {p["name"] for p in container["ports"]} - client_ports
    for name in peer_ports:
        if not any(_matches(peer.get("podSelector", {}).get("matchLabels", {"": None}), pod_labels)
                   for rule in admitted.get(name, []) for peer in rule.get("from", [])):
            problems.append(f"NetworkPolicy does not admit peer port {name} from the peers")
    return problems


# ---- YAML, PowerShell, everything ----------------------------------------------------------


def yaml_files(tree: Path) -> list[Path]:
    return sorted(p for p in tree.rglob("*") if p.suffix in {".yaml", ".yml"})


def yamllint(tree: Path) -> list[str]:
    files = yaml_files(tree)
    # The tree's own config, the one `make verify` uses.
    config = tree / ".yamllint.yaml"
    result = _run([tool("yamllint"), "-s", "-f", "parsable", "-c", str(config), *map(str, files)])
    return _output(result) if result.returncode else []


def powershell_scripts(tree: Path) -> list[Path]:
    return sorted(tree.glob("scripts/*.ps1"))


def powershell_problems(tree: Path) -> list[str]:
    """tree-sitter-powershell must parse each script with no ERROR or MISSING node,
    and the scripts must be ASCII, so Windows PowerShell 5.1 reads them right."""
    problems = []
    for script in powershell_scripts(tree):
        data = script.read_bytes()
        if not data.isascii():
            problems.append(f"{script.name}: not ASCII")
        stack = [powershell.parser().parse(data).root_node]
        while stack:
            node = stack.pop()
            if node.type == "ERROR" or node.is_missing:
                problems.append(f"{script.name}:{node.start_point.row + 1}: {node.type} node")
            stack.extend(node.children)
    return problems


def powershell_strict_mode_problems(tree: Path) -> list[str]:
    """Variables read before they are assigned: errors under Set-StrictMode -Version Latest."""
    return [p for script in powershell_scripts(tree)
            for p in powershell.strict_mode_problems(script.name, script.read_bytes())]


def powershell_broad_grant_problems(tree: Path) -> list[str]:
    """Access granted to Users, Authenticated Users or Everyone: write anywhere, read
    outside the program folder."""
    return [p for script in powershell_scripts(tree)
            for p in powershell.broad_grant_problems(script.name, script.read_bytes())]


def powershell_unwaited_copy_problems(tree: Path) -> list[str]:
    """Copies onto the service's executable not preceded by a stop that waited for its process."""
    return [p for script in powershell_scripts(tree)
            for p in powershell.unwaited_copy_problems(script.name, script.read_bytes())]


def powershell_unrestored_stop_problems(tree: Path) -> list[str]:
    """Stops of the service that no finally undoes."""
    return [p for script in powershell_scripts(tree)
            for p in powershell.unrestored_stop_problems(script.name, script.read_bytes())]


def text_problems(tree: Path) -> list[str]:
    """Everywhere: nothing left unrendered, LF line endings, no trailing whitespace."""
    problems = []
    for path in sorted(p for p in tree.rglob("*") if p.is_file()):
        text = path.read_text()
        name = path.relative_to(tree)
        # "{{." is a Go template's field (docker inspect --format), which no Jinja expression
        # starts with.
        if re.search(r"\{\{(?!\.)|\{%", text):
            problems.append(f"{name}: unrendered Jinja")
        if "\r" in text:
            problems.append(f"{name}: CR line ending")
        for number, line in enumerate(text.splitlines(), 1):
            if line != line.rstrip():
                problems.append(f"{name}:{number}: trailing whitespace")
        if text and not text.endswith("\n"):
            problems.append(f"{name}: no newline at the end")
    return problems


def silenced_findings(tree: Path) -> list[str]:
    """Every inline silencing of a checker in the tree, with the reason next to it."""
    patterns = (r"#\s*shellcheck (disable|source)=.*", r"#\s*hadolint ignore=.*", r"checkov\.io/skip\d+: .*",
                r"#\s*checkov:skip=.*", r"#\s*yamllint disable.*", r"#\s*noqa.*")
    found = []
    for path in sorted(p for p in tree.rglob("*") if p.is_file()):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for pattern in patterns:
                match = re.search(pattern, line)
                if match:
                    found.append(f"{path.relative_to(tree)}:{number}: {match.group(0).strip()}")
    return found


# Volume types the "restricted" Pod Security Standard admits.
RESTRICTED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                           "persistentVolumeClaim", "projected", "secret"}


def restricted_pod_security_problems(objects: list[dict[str, Any]]) -> list[str]:
    """The "restricted" Pod Security Standard, checked on each pod template (the
    namespace enforces it, so a pod that breaks it would never start)."""
    problems = []
    for obj in objects:
        template = obj.get("spec", {}).get("template")
        if not template:
            continue
        pod = template["spec"]
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        pod_context = pod.get("securityContext", {})
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.get(flag):
                problems.append(f"{where}: {flag}")
        for volume in pod.get("volumes", []):
            kinds = set(volume) - {"name"}
            if not kinds <= RESTRICTED_VOLUME_TYPES:
                problems.append(f"{where}: volume {volume['name']} of type {kinds}")
        for container in pod.get("initContainers", []) + pod["containers"]:
            context = container.get("securityContext", {})
            name = f"{where} container {container['name']}"
            if not (context.get("runAsNonRoot") or pod_context.get("runAsNonRoot")):
                problems.append(f"{name}: runAsNonRoot is not true")
            if context.get("runAsUser", pod_context.get("runAsUser")) == 0:
                problems.append(f"{name}: runs as uid 0")
            if context.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{name}: allowPrivilegeEscalation is not false")
            if context.get("privileged"):
                problems.append(f"{name}: privileged")
            capabilities = context.get("capabilities", {})
            if "ALL" not in capabilities.get("drop", []):
                problems.append(f"{name}: capabilities are not all dropped")
            if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
                problems.append(f"{name}: adds capabilities {capabilities['add']}")
            seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {})).get("type")
            if seccomp not in {"RuntimeDefault", "Localhost"}:
                problems.append(f"{name}: seccomp profile {seccomp!r}")
            if any(port.get("hostPort") for port in container.get("ports", [])):
                problems.append(f"{name}: hostPort")
            if not context.get("readOnlyRootFilesystem"):
                problems.append(f"{name}: root filesystem is writable")  # beyond the standard
    return problems
