"""copier.yml and the answers model agree: no stray key becomes a question, each
validator checks its own question, and every answer the model knows is asked: the
essentials always, the rest when the operator chooses to customise.  Each help fits the
prompt's one line; what it leaves out is in docs/question-notes.yml."""

from __future__ import annotations

import re

import yaml
from conftest import REPO_ROOT
from tokmesh_answers import Answers, offered_default
from wcwidth import wcswidth  # prompt_toolkit's own measure of the prompt

QUESTIONS = {
    name: spec
    for name, spec in yaml.safe_load((REPO_ROOT / "copier.yml").read_text()).items()
    if not name.startswith("_")
}
# The yes/no question that opens the rest; a choice of the run, not an answer of the tree.
GATE = "customise"
ANSWERS = {name: spec for name, spec in QUESTIONS.items() if name != GATE}
# Asked on every run, in this order (issue 12); platform questions only for their platforms.
ESSENTIALS = ["service_name", "platforms", "http_port", "tls_enabled",
              "replicas", "k8s_namespace", "image_repository", "image_tag"]
# Copier 9.19 prints a help as the prompt's first line, after the qmark and a space, in a
# window that does not wrap: past 80 columns the line is cut off.
PROMPT_COLUMNS = 80
NOTES = yaml.safe_load((REPO_ROOT / "docs" / "question-notes.yml").read_text())


def test_every_question_is_an_answer_of_the_model_and_every_answer_is_asked() -> None:
    assert set(ANSWERS) == set(Answers.model_fields)


def test_every_question_has_a_type_a_help_and_a_default() -> None:
    for name, spec in QUESTIONS.items():
        assert isinstance(spec, dict), f"{name} is a stray key, not a question"
        assert {"type", "help", "default"} <= set(spec), name


def test_each_validator_checks_its_own_question() -> None:
    for name, spec in QUESTIONS.items():
        validator = spec.get("validator")
        if validator is None:
            assert "choices" in spec or spec["type"] == "bool", f"{name} has no validator"
            continue
        assert validator == f"{{{{ {name} | answer_problem('{name}') }}}}", name


def test_defaults_match_the_model() -> None:
    defaults = Answers()
    for name, spec in ANSWERS.items():
        default = spec["default"]
        if default == f"{{{{ '{name}' | default_after_earlier_answers }}}}":
            # Follows earlier answers; with the earlier answers at their defaults, the model's.
            default = offered_default(name, defaults.model_dump())
        elif isinstance(default, str) and "{{" in default:
            continue  # derived from an earlier answer
        assert default == getattr(defaults, name), name


def test_platform_questions_are_asked_only_for_their_platforms() -> None:
    for name in ("install_dir", "run_dir", "service_user", "service_group"):
        assert re.fullmatch(r"\{\{ 'linux' in platforms \}\}", QUESTIONS[name]["when"]), name
    for name in ("windows_install_dir", "windows_data_dir"):
        assert QUESTIONS[name]["when"] == "{{ 'windows' in platforms }}", name
    for name in ("replicas", "k8s_namespace", "storage_size", "storage_class"):
        assert QUESTIONS[name]["when"] == "{{ 'kubernetes' in platforms }}", name


def test_the_essentials_come_first_then_the_gate_opens_the_rest() -> None:
    names = list(QUESTIONS)
    assert names[:len(ESSENTIALS) + 1] == [*ESSENTIALS, GATE]
    for name in ESSENTIALS:
        assert "ask" not in QUESTIONS[name], f"{name} is an essential: always asked"
    for name in names[len(ESSENTIALS) + 1:]:
        # `ask:`, never a `when:` on the gate: an unasked question must still record its answer.
        assert QUESTIONS[name].get("ask") == f"{{{{ {GATE} }}}}", name
        assert GATE not in QUESTIONS[name].get("when", ""), name


def test_the_gate_is_a_yes_no_question_kept_out_of_the_answers_file() -> None:
    gate = QUESTIONS[GATE]
    assert gate["type"] == "bool" and gate["default"] is False
    assert gate["secret"] is True  # Copier records no secret question's answer


def test_every_choice_has_a_readable_label() -> None:
    for name, spec in QUESTIONS.items():
        if "choices" in spec:
            assert isinstance(spec["choices"], dict), f"{name}: choices without labels"
            assert all(label != value for label, value in spec["choices"].items()), name


def prompt_line(spec: dict) -> str:
    """The line Copier shows for a question's help: its qmark (Copier's default, 🎤, or
    🕵️ for a secret), a space, the help."""
    qmark = spec.get("qmark") or ("🕵️" if spec.get("secret") else "🎤")
    return f"{qmark} {spec['help']}"


def test_every_help_is_one_line_that_fits_the_prompt() -> None:
    too_long = {}
    for name, spec in QUESTIONS.items():
        assert "\n" not in spec["help"].strip(), f"{name}: the help is more than one line"
        width = wcswidth(prompt_line(spec))
        assert width >= 0, f"{name}: the help has a character a terminal cannot show"
        if width > PROMPT_COLUMNS:
            too_long[name] = width
    assert not too_long, f"cut off past {PROMPT_COLUMNS} columns (put the detail in docs/question-notes.yml): {too_long}"


def test_every_question_has_its_notes_entry_in_order() -> None:
    """A note per question, in copier.yml's order: Markdown, or null where the help says it all."""
    assert list(NOTES) == list(QUESTIONS)
    for name, note in NOTES.items():
        assert note is None or (isinstance(note, str) and note.strip()), f"{name}: a note is text or null"
