"""Answers no one wrote by hand: random valid sets render trees every checker accepts;
random invalid and hostile values end in the clear error with nothing written."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from unittest import mock

import checkers
import pytest
import yaml
from copier import run_copy
from copier.errors import UserMessageError
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from tokmesh_answers import PLATFORMS, YAML_KEYWORDS, AnswerError, Answers, field_problem, validate_answers
from tokmesh_rules import SYSTEM_ACCOUNTS, linux_system_folder

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
# No shrinking: each example renders a tree and runs every checker (seconds each).
# Under CI the examples are derived from the test's name, so a run is repeatable;
# locally each run draws new ones.
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate], database=None,
    derandomize=os.environ.get("CI", "").lower() in {"1", "true", "yes"},
)

segment = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,11}", fullmatch=True)
# A folder of the service's own: no system folder (/etc/ssl, /var/lib/dpkg, /run/user).
own_folder = lambda parent: segment.map(lambda s: f"{parent}/{s}").filter(lambda p: not linux_system_folder(p))  # noqa: E731
label = st.from_regex(r"[a-z]([a-z0-9-]{0,18}[a-z0-9])?", fullmatch=True).filter(lambda s: s not in YAML_KEYWORDS)
image_component = st.from_regex(r"[a-z0-9]{1,8}([._-][a-z0-9]{1,8}){0,2}", fullmatch=True)
account = st.from_regex(r"[a-z_][a-z0-9_-]{0,15}", fullmatch=True).filter(lambda a: a not in SYSTEM_ACCOUNTS)
windows_folder = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9 ._()-]{0,14}[A-Za-z0-9_)]", fullmatch=True).filter(
    lambda s: ".." not in s
)


@st.composite
def valid_answers(draw) -> dict:
    # The usual defaults among them, so that a later question's usual default clashes.
    http_port, cluster_port, gossip_port, redis_port = draw(
        st.lists(st.sampled_from([5343, 5344, 6379]) | st.integers(1024, 65535), min_size=4, max_size=4, unique=True))
    name = draw(label)
    tls_folder = draw(segment)
    config_dir = draw(own_folder("/etc"))
    memory_limit = draw(st.sampled_from(["64Mi", "100Mi", "512Mi", "1G", "2Gi"]))
    cpu_limit = draw(st.sampled_from(["50m", "100m", "500m", "1", "2"]))
    chosen = draw(st.sets(st.sampled_from(PLATFORMS), min_size=1))
    answers = {
        "service_name": name,
        "platforms": [p for p in PLATFORMS if p in chosen],
        "http_port": http_port,
        "cluster_port": cluster_port,
        "gossip_port": gossip_port,
        "redis_enabled": draw(st.booleans()),
        "redis_port": redis_port,
        "listen_address": draw(st.sampled_from(["0.0.0.0", "127.0.0.1", "::", "192.0.2.10"])),
        "tls_enabled": draw(st.booleans()),
        "config_dir": config_dir,
        "tls_cert_file": f"{config_dir}/{tls_folder}/{draw(segment)}.crt",
        "tls_key_file": f"{config_dir}/{tls_folder}/{draw(segment)}.key",
        "data_dir": draw(own_folder(draw(st.sampled_from(["/var/lib", "/srv", "/data/tokmesh"])))),
        "install_dir": draw(st.sampled_from(["/usr/local/bin", "/opt/tokmesh/bin", "/usr/bin"])),
        "run_dir": draw(own_folder(draw(st.sampled_from(["/run", "/var/run"])))),
        "service_user": draw(account),
        "service_group": draw(account),
        "shutdown_timeout_seconds": draw(st.integers(1, 600)),
        "log_level": draw(st.sampled_from(["debug", "info", "warn", "error"])),
        "windows_install_dir": "C:\\" + "\\".join(draw(st.lists(windows_folder, min_size=1, max_size=3))),
        "windows_data_dir": "D:\\" + "\\".join(draw(st.lists(windows_folder, min_size=1, max_size=3))),
        # Without a registry, a first component with a '.' would name one (distribution spec).
        "image_repository": draw(st.sampled_from(["", "registry.example.com:5000/", "ghcr.io/"]))
        + draw(image_component).replace(".", "-") + f"/{draw(image_component)}",
        "image_tag": draw(st.from_regex(r"v?[0-9]{1,2}\.[0-9]{1,2}\.[0-9]{1,2}", fullmatch=True)),
        "container_uid": draw(st.integers(10000, 2**31 - 1)),
        "replicas": draw(st.integers(1, 9)),
        # Namespaces the cluster owns are refused (kube-*, default).
        "k8s_namespace": draw(label.filter(lambda n: n != "default" and not n.startswith("kube-"))),
        "k8s_service_type": draw(st.sampled_from(["ClusterIP", "LoadBalancer", "NodePort"])),
        "storage_size": f"{draw(st.integers(1, 999))}Gi",
        "memory_limit": memory_limit,
        "memory_request": draw(st.sampled_from(["32Mi", "64Mi", memory_limit])),
        "cpu_limit": cpu_limit,
        "cpu_request": draw(st.sampled_from(["10m", "50m", cpu_limit])),
    }
    return answers


def _render(answers: dict, dst: Path, template: Path) -> None:
    run_copy(str(template), dst, data=answers, defaults=True, unsafe=True, quiet=True, vcs_ref="HEAD")


def _all_findings(tree: Path, scratch: Path, answers: Answers) -> list[str]:
    findings = checkers.shellcheck(tree) + checkers.bash_syntax(tree) + checkers.yamllint(tree)
    findings += checkers.text_problems(tree) + checkers.powershell_problems(tree)
    if answers.linux:
        findings += checkers.systemd_verify(tree, scratch)
        (unit,) = checkers.unit_files(tree)
        if checkers.exposure_score(unit) > 1.1:
            findings.append(f"exposure {checkers.exposure_score(unit)} above 1.1")
    if answers.image_build:
        findings += checkers.hadolint(tree)
        if Path(checkers.CHECKOV).exists():
            findings += checkers.checkov(tree)["failed"]
    if answers.docker and checkers.tool("docker-compose"):
        findings += checkers.compose_config(tree)
    if answers.kubernetes:
        for version in checkers.KUBERNETES_VERSIONS:
            findings += checkers.kubernetes_validate(tree, version)
        kustomize_findings, objects = checkers.kustomize(tree)
        findings += kustomize_findings + checkers.cross_object_problems(objects)
        findings += checkers.restricted_pod_security_problems(objects)
    return findings


@pytest.mark.checkers
@FUZZ
@given(answers=valid_answers())
def test_random_valid_answers_render_a_tree_every_checker_accepts(copier_template: Path, answers: dict) -> None:
    model = validate_answers(answers)
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "tree"
        _render(answers, tree, copier_template)
        assert _all_findings(tree, Path(scratch), model) == []


# ---- invalid and hostile answers ------------------------------------------------------------

FREE_TEXT = [name for name, field in Answers.model_fields.items() if field.annotation is str]

HOSTILE = [
    "$(touch /tmp/pwned)",
    "`touch /tmp/pwned`",
    "a; rm -rf /",
    "a && reboot",
    "a || true",
    "it's",
    'say "hi"',
    "a\nExecStartPre=/bin/sh -c 'id'",
    "a\nmalicious: true",
    "a\r\nUser=root",
    "$(Invoke-Expression 'calc')",
    "${env:SystemRoot}",
    "a\u2028b",
    "a\u2029b",
    "a\u0085b",
    "../../etc/passwd",
    "/var/lib/../../etc",
    "C:\\Data\\..\\Windows",
    "x" * 300,
    "/" + "x" * 300,
    "C:\\" + "x" * 300,
    "a|b",
    "a>b",
    "a{{ 7*7 }}",
    "%PATH%",
    "a#b",
    "a: b",
    "- a",
    "*alias",
    "a\tb",
    "a b",
    "a\x00b",
]


@pytest.mark.parametrize("name", FREE_TEXT)
def test_every_hostile_value_is_rejected_naming_the_question(name: str) -> None:
    accepted = []
    for value in HOSTILE:
        try:
            validate_answers({name: value})
        except AnswerError as error:
            assert f"{name}:" in str(error)
        else:
            accepted.append(value)
    assert accepted == []
    assert all(field_problem(name, value) for value in HOSTILE)


@pytest.mark.parametrize("name", FREE_TEXT)
def test_hostile_value_on_the_command_line_writes_nothing(copier_template: Path, tmp_path: Path, name: str) -> None:
    dst = tmp_path / "deploy"
    value = "a\nExecStartPre=/bin/sh -c '$(id)'; `id`"
    with pytest.raises(UserMessageError, match=f"{name}: "):
        _render({name: value}, dst, copier_template)
    assert not dst.exists()


@FUZZ
@given(data=st.data())
def test_random_invalid_answers_end_in_the_clear_error_with_nothing_written(copier_template: Path, data) -> None:
    name = data.draw(st.sampled_from(FREE_TEXT))
    value = data.draw(st.text(min_size=0, max_size=40).filter(lambda v: field_problem(name, v) != ""))
    with tempfile.TemporaryDirectory() as scratch:
        dst = Path(scratch) / "deploy"
        with pytest.raises(UserMessageError, match=f"{name}: "):
            _render({name: value}, dst, copier_template)
        assert not dst.exists()


# ---- an interactive run: answers typed in the order Copier asks --------------------------


class Operator:
    """Copier's prompt, answered as an operator at the terminal: each planned answer typed
    at its question, Enter (the offered default) at the others, and Enter again after a
    refusal.  Records what each prompt refused."""

    def __init__(self, planned: dict) -> None:
        self.planned = planned
        self.refused: list[tuple[str, str, str]] = []
        self.defaults_refused: list[tuple[str, str, str]] = []

    def __call__(self, questions: list[dict], answers: dict) -> dict:
        (question,) = questions
        name, default = question["name"], question.get("default")
        if question["type"] != "input":  # yes/no, a choice, the platforms' checkboxes
            return {name: self.planned.get(name, answers[name])}
        planned = self.planned.get(name)
        text = default if planned is None else planned if isinstance(planned, str) else json.dumps(planned)
        verdict = question["validate"](text)
        if verdict is not True:
            self.refused.append((name, text, verdict))
            text = default
            verdict = question["validate"](text)
            if verdict is not True:
                self.defaults_refused.append((name, text, verdict))
        return {name: question["filter"](text)}


def _run_interactively(template: Path, dst: Path, operator: Operator) -> None:
    with mock.patch("copier._main.unsafe_prompt", operator), mock.patch.dict(os.environ, {"COLUMNS": "80"}):
        run_copy(str(template), dst, defaults=False, unsafe=True, quiet=True, vcs_ref="HEAD")


@FUZZ
@given(answers=valid_answers())
def test_valid_answers_typed_in_order_are_each_accepted_at_their_prompt(copier_template: Path, answers: dict) -> None:
    operator = Operator({**answers, "customise": True})
    with tempfile.TemporaryDirectory() as scratch:
        _run_interactively(copier_template, Path(scratch) / "deploy", operator)
        assert operator.refused == [] and operator.defaults_refused == []
        recorded = yaml.safe_load((Path(scratch) / "deploy" / ".copier-answers.yml").read_text())
    assert {k: recorded[k] for k in answers if k in recorded} == {k: answers[k] for k in answers if k in recorded}


@FUZZ
@given(answers=valid_answers(), data=st.data())
def test_any_valid_answers_typed_with_enter_between_complete_the_run(copier_template: Path, answers: dict, data) -> None:
    """Some questions left at their offered default: each default is accepted, whatever the
    answers before it; an answer that clashes with a default before it is refused at its own
    prompt (then Enter); the run ends with a tree, never a traceback."""
    typed = data.draw(st.sets(st.sampled_from(sorted(answers))))
    operator = Operator({**{k: answers[k] for k in typed}, "customise": True})
    with tempfile.TemporaryDirectory() as scratch:
        _run_interactively(copier_template, Path(scratch) / "deploy", operator)
        assert (Path(scratch) / "deploy" / ".copier-answers.yml").is_file()
    assert operator.defaults_refused == []
    too_wide = [(name, message) for name, _, message in operator.refused if len(message) > 80]
    assert too_wide == []
