"""Every generated artifact passes its own field's checker, for every scenario."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import checkers
import pytest
import yaml
from conftest import SCENARIOS, require, scenario_answers
from tokmesh_answers import Answers, validate_answers

pytestmark = pytest.mark.checkers

# Silenced findings, each with its reason in the tree; the tests print them.
ALLOWED_SILENCED = {
    # The installer reads the host's /etc/os-release; shellcheck cannot follow it.
    "shellcheck source=/dev/null",
    # No digest is known until the operator gives image_digest.
    'checkov.io/skip1: "CKV_K8S_43=',
}


def scenarios_where(condition) -> list[str]:
    """The scenarios whose answers meet ``condition`` (a platform's files exist)."""
    return [name for name in SCENARIOS if condition(validate_answers(scenario_answers(name)))]


def for_scenarios(condition):
    return pytest.mark.parametrize("scenario", scenarios_where(condition))


def test_shell_scripts_pass_shellcheck_and_bash(tree: Path) -> None:
    assert checkers.shell_scripts(tree), "every tree has scripts/verify.sh"
    assert checkers.shellcheck(tree) == []
    assert checkers.bash_syntax(tree) == []
    for script in checkers.shell_scripts(tree):
        assert script.stat().st_mode & stat.S_IXUSR, f"{script.name} is not executable"


@for_scenarios(lambda a: a.linux)
def test_systemd_unit_verifies_clean(scenario: str, tree: Path, tmp_path: Path) -> None:
    answers = validate_answers(scenario_answers(scenario))
    require(checkers.tool("systemd-analyze") is not None, "systemd-analyze is not installed")
    assert checkers.systemd_verify(tree, tmp_path) == []


@for_scenarios(lambda a: a.linux)
def test_systemd_unit_exposure_is_at_most_1_1(scenario: str, tree: Path, figure) -> None:
    answers = validate_answers(scenario_answers(scenario))
    require(checkers.tool("systemd-analyze") is not None, "systemd-analyze is not installed")
    (unit,) = checkers.unit_files(tree)
    score = checkers.exposure_score(unit)
    figure(f"exposure, offline [{scenario}]", score)
    assert score <= 1.1
    if answers.clients_restricted:  # IPAddressDeny=any with the clients' allow list
        assert score < 1.1


@for_scenarios(lambda a: a.image_build)
def test_dockerfile_passes_hadolint(scenario: str, tree: Path) -> None:
    assert checkers.hadolint(tree) == []


@for_scenarios(lambda a: a.image_build)
def test_dockerfile_and_manifests_pass_checkov(scenario: str, tree: Path, figure) -> None:
    answers = validate_answers(scenario_answers(scenario))
    require(Path(checkers.CHECKOV).exists(), f"checkov is not installed at {checkers.CHECKOV}")
    found = checkers.checkov(tree)
    figure(f"checkov failed / skipped [{scenario}]", f"{len(found['failed'])} / {found['skipped']}")
    assert found["failed"] == []
    expected_skips = 1 if answers.kubernetes and not answers.image_digest else 0
    assert len(found["skipped"]) == expected_skips


@for_scenarios(lambda a: a.docker)
def test_compose_file_passes_docker_compose_config(scenario: str, tree: Path) -> None:
    answers = validate_answers(scenario_answers(scenario))
    require(checkers.tool("docker-compose") is not None, "docker-compose is not installed")
    assert checkers.compose_config(tree) == []


@pytest.mark.parametrize("version", checkers.KUBERNETES_VERSIONS)
@for_scenarios(lambda a: a.kubernetes)
def test_manifests_pass_strict_schema_validation(scenario: str, tree: Path, version: str) -> None:
    answers = validate_answers(scenario_answers(scenario))
    assert checkers.kubernetes_validate(tree, version) == []


@for_scenarios(lambda a: a.kubernetes)
def test_kustomize_builds_consistent_objects(scenario: str, tree: Path) -> None:
    answers = validate_answers(scenario_answers(scenario))
    require(checkers.tool("kubectl") is not None, "kubectl is not installed")
    assert checkers.kustomization_lists_every_manifest(tree) == []
    findings, objects = checkers.kustomize(tree)
    assert findings == []
    assert checkers.cross_object_problems(objects) == []
    assert checkers.restricted_pod_security_problems(objects) == []


def test_yaml_passes_yamllint(tree: Path) -> None:
    assert checkers.yaml_files(tree)
    assert checkers.yamllint(tree) == []


@for_scenarios(lambda a: a.windows)
def test_powershell_scripts_parse_and_are_ascii(scenario: str, tree: Path) -> None:
    answers = validate_answers(scenario_answers(scenario))
    assert checkers.powershell_problems(tree) == []


@for_scenarios(lambda a: a.windows)
def test_powershell_scripts_read_no_variable_before_assigning_it(scenario: str, tree: Path) -> None:
    assert checkers.powershell_scripts(tree)
    assert checkers.powershell_strict_mode_problems(tree) == []


@for_scenarios(lambda a: a.windows)
def test_powershell_scripts_grant_nothing_to_users_or_everyone(scenario: str, tree: Path) -> None:
    assert checkers.powershell_broad_grant_problems(tree) == []


@for_scenarios(lambda a: a.windows)
def test_powershell_scripts_replace_the_executable_only_after_its_process_exited(scenario: str, tree: Path) -> None:
    # The rule has something to check: install and upgrade copy onto the executable.
    assert sum("-Destination $ServerExe" in s.read_text() for s in checkers.powershell_scripts(tree)) >= 2
    assert checkers.powershell_unwaited_copy_problems(tree) == []


@for_scenarios(lambda a: a.windows)
def test_powershell_scripts_start_the_service_again_in_finally(scenario: str, tree: Path) -> None:
    # The rule has something to check: every script stops the service somewhere.
    called = [s.name for s in checkers.powershell_scripts(tree) if re.search(r"Stop-ServiceAndWait\s*[\n}]", s.read_text())]
    assert len(called) == 5, called
    assert checkers.powershell_unrestored_stop_problems(tree) == []


def test_text_is_fully_rendered_with_lf_and_no_trailing_whitespace(tree: Path) -> None:
    assert checkers.text_problems(tree) == []


def test_silenced_findings_are_few_and_explained(scenario: str, tree: Path, figure) -> None:
    silenced = checkers.silenced_findings(tree)
    figure(f"silenced findings [{scenario}]", "; ".join(silenced) or "none")
    for line in silenced:
        assert any(allowed in line for allowed in ALLOWED_SILENCED), line
        # the reason stands on the same line, after the directive
        assert len(line.split(":", 2)[2]) > 40, f"no reason given: {line}"


# Answers that are not distinctive enough to search for as text.
NOT_SEARCHABLE = {"tls_enabled", "platforms", "replicas", "log_level", "k8s_service_type", "shutdown_timeout_seconds",
                  "server_glue"}


def _text_without_answers_file(tree: Path) -> str:
    return "\n".join(
        p.read_text() for p in sorted(tree.rglob("*")) if p.is_file() and p.name != ".copier-answers.yml"
    )


def _occurs(value: str, text: str) -> bool:
    """``value`` as a whole token: not part of a longer name, number or path."""
    return re.search(rf"(?<![\w.\\/-]){re.escape(value)}(?![\w\\-]|\.\w)", text) is not None


# How an answer shows in the tree where its bare value is not the form to look for.
RENDERED_FORMS = {
    "memory_limit": lambda a: [a.memory_limit, str(a.memory_limit_bytes)],  # Compose takes bytes
    "k8s_namespace": lambda a: [f"namespace: {a.k8s_namespace}", f".{a.k8s_namespace}.svc"],
    "cluster_domain": lambda a: [f"$host.{a.cluster_domain_suffix}"],  # the peers, in node-config
    "service_user": lambda a: [f"User={a.service_user}", f'SERVICE_USER="{a.service_user}"'],
    "service_group": lambda a: [f"Group={a.service_group}", f'SERVICE_GROUP="{a.service_group}"'],
    "client_networks": lambda a: a.client_networks[:1],  # every one, on every platform: below
    "client_namespaces": lambda a: [f'kubernetes.io/metadata.name: "{n}"' for n in a.client_namespaces[:1]],
    "compose_publish_address": lambda a: [f"Published on {a.compose_publish_address} (compose_publish_address)"],
}


def _forms(name: str, answers: Answers) -> list[str]:
    if name in RENDERED_FORMS:
        return RENDERED_FORMS[name](answers)
    return [str(getattr(answers, name))]


def test_changed_answers_reach_the_tree_and_their_defaults_do_not(scenario: str, tree: Path) -> None:
    text = _text_without_answers_file(tree)
    answers, defaults = validate_answers(scenario_answers(scenario)), Answers()
    for name in scenario_answers(scenario):
        if name in NOT_SEARCHABLE:
            continue
        assert any(_occurs(form, text) for form in _forms(name, answers)), f"{name} is nowhere in the tree"
        for default_form in _forms(name, defaults):
            if default_form and default_form not in _forms(name, answers):
                assert not _occurs(default_form, text), f"the default {default_form!r} of {name} leaked"


def _verify(tree: Path, path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["/bin/sh", "scripts/verify.sh"], cwd=tree, capture_output=True, text=True,
                          env={**os.environ, "PATH": path}, check=False)


def test_make_verify_runs_the_installed_checkers(render_scenario) -> None:
    tree = render_scenario("defaults")
    path = os.pathsep.join([str(checkers.VENV_BIN), str(Path(checkers.CHECKOV).parent), os.environ["PATH"]])
    result = _verify(tree, path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all installed checkers passed" in result.stdout


def test_make_verify_names_the_checkers_it_skipped(render_scenario, tmp_path: Path) -> None:
    tree = render_scenario("defaults")
    bare = tmp_path / "bin"  # a PATH with only what the script itself needs
    bare.mkdir()
    (bare / "dirname").symlink_to(shutil.which("dirname"))
    result = _verify(tree, str(bare))
    assert result.returncode == 0
    assert ("skipped (not installed): shellcheck systemd-analyze yamllint hadolint docker-compose "
            "kubectl-kustomize kubernetes-validate checkov") in result.stdout


def test_make_verify_fails_on_a_finding(render_scenario, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(render_scenario("defaults"), tree)
    (tree / "scripts/install-linux.sh").write_text("#!/bin/sh\necho $1\n")
    result = _verify(tree, os.pathsep.join([str(checkers.VENV_BIN), os.environ["PATH"]]))
    assert result.returncode == 1
    assert "FAILED: shellcheck" in result.stdout


@for_scenarios(lambda a: a.clients_restricted or a.client_namespaces)
def test_every_client_network_reaches_every_platform_that_filters(scenario: str, tree: Path) -> None:
    answers = validate_answers(scenario_answers(scenario))
    if answers.linux:
        (unit,) = checkers.unit_files(tree)
        lines = unit.read_text().splitlines()
        assert "IPAddressDeny=any" in lines
        assert f"IPAddressAllow=localhost {' '.join(answers.client_networks)}" in lines
    if answers.kubernetes:
        policy = yaml.safe_load((tree / "deployments/kubernetes/networkpolicy.yaml").read_text())
        clients = policy["spec"]["ingress"][0]["from"]
        assert [c["ipBlock"]["cidr"] for c in clients if "ipBlock" in c] == answers.client_networks
        assert [c["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                for c in clients if "namespaceSelector" in c] == answers.client_namespaces
        if answers.k8s_service_type == "LoadBalancer":
            services = yaml.safe_load_all((tree / "deployments/kubernetes/service.yaml").read_text())
            (client,) = [s for s in services if s and s["metadata"]["name"] == answers.client_service_name]
            assert client["spec"].get("loadBalancerSourceRanges", []) == answers.client_networks
    if answers.windows:
        script = (tree / "scripts/install-windows.ps1").read_text()
        assert "$clientNetworks = @(" + ", ".join(f"'{n}'" for n in answers.client_networks) + ")" in script
        # One rule per client listener, made again at each install (no Set- of an old one).
        assert script.count("-RemoteAddress $clientNetworks") == len(answers.client_ports)
