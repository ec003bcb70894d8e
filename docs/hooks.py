"""MkDocs hooks: the parts of the documentation that are produced, not written.

A page asks for a part with a marker, ``<!-- tokmesh:NAME [ARG] -->``; the build replaces
it with what the template, the answers model, a default render and the last test run
say now, so the reference, the file lists, the figures and the error messages cannot
drift from them. An unknown marker fails the build.
"""

from __future__ import annotations

import ast
import functools
import html
import importlib.util
import inspect
import json
import os
import re
import sys
import tempfile
import textwrap
from pathlib import Path

import jinja2
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "extensions"), str(REPO / "tests")]  # the model; the tests' conftest

import checkers  # noqa: E402  (found through the path above)
import tokmesh_answers  # noqa: E402
from tokmesh_answers import PLATFORMS, Answers, answer_rule, validate_answers  # noqa: E402

# The figures the test run measured (conftest's `figure`): kept by every run in .cache/,
# and handed to the build by tests/test_docs.py, which runs last.
FIGURES_FILE = Path(os.environ.get("TOKMESH_FIGURES", REPO / ".cache" / "test-figures.json"))
TEMPLATE = REPO / "template"
# What each question's one-line help cannot say (a prompt line is cut at 80 columns).
NOTES_FILE = REPO / "docs" / "question-notes.yml"
MARKER = re.compile(r"<!-- tokmesh:(?P<name>[a-z-]+)(?: (?P<arg>[a-z]+))? -->")
# Every file any answer can render: all platforms, TLS through cert-manager, the glue.
EVERYTHING = {"server_glue": True, "tls_enabled": True, "cert_manager_issuer": "letsencrypt"}


def on_page_markdown(markdown: str, page, config, files) -> str:
    return MARKER.sub(lambda m: GENERATED[m["name"]](m["arg"]), markdown)


def on_files(files, config):
    """The question notes are read into the questions page, not published beside it."""
    notes = files.get_file_from_path(NOTES_FILE.name)
    if notes is not None:
        files.remove(notes)
    return files


# ---- the template, read and rendered ---------------------------------------------------

@functools.cache
def questions() -> dict[str, dict]:
    spec = yaml.safe_load((REPO / "copier.yml").read_text())
    return {name: q for name, q in spec.items() if not name.startswith("_")}


@functools.cache
def question_notes() -> dict[str, str | None]:
    """question -> the detail its help leaves out (Markdown), or None where the help says it all."""
    return yaml.safe_load(NOTES_FILE.read_text())


def default_cell(name: str, q: dict) -> str:
    """The default as the table shows it: a default that follows earlier answers shows its
    usual value (the model's)."""
    if "default_after_earlier_answers" in str(q["default"]):
        return _code(getattr(Answers(), name)) + ", or another where that clashes with an earlier answer"
    return _code(q["default"])


@functools.cache
def default_tree() -> Path:
    """The tree the default answers render, once a build."""
    from copier import run_copy

    dst = Path(tempfile.mkdtemp(prefix="tokmesh-docs-")) / "my-deploy"
    run_copy(str(REPO), dst, defaults=True, unsafe=True, quiet=True)
    return dst


def rendered_name(template_path: Path, model: Answers) -> str:
    """Where a template file lands for ``model``'s answers ('' when its condition is false)."""
    env = jinja2.Environment()
    parts = [env.from_string(part).render(tm=model, _copier_conf={"answers_file": ".copier-answers.yml"})
             for part in template_path.relative_to(TEMPLATE).parts]
    if not all(parts):
        return ""
    return "/".join(parts).removesuffix(".jinja")


def template_files() -> list[Path]:
    return sorted(p for p in TEMPLATE.rglob("*") if p.is_file() and "_macros" not in p.parts
                  and "__pycache__" not in p.parts)


def path_platforms(template_path: Path) -> list[str]:
    """The platforms a template file belongs to: those whose tree (everything else on)
    meets its path's conditions, as the answers model reads them."""
    conditions = re.findall(r"\{% if tm\.(\w+) %\}", str(template_path.relative_to(TEMPLATE)))
    return [platform for platform in PLATFORMS
            if all(getattr(validate_answers({**EVERYTHING, "platforms": [platform]}), c) for c in conditions)]


@functools.cache
def answers_read_by_attribute() -> dict[str, set[str]]:
    """For each attribute of the model (an answer or a derived value), the answers it
    reads, through every derived value it uses (read from the model's source)."""
    source = textwrap.dedent(inspect.getsource(Answers))
    reads: dict[str, set[str]] = {name: {name} for name in Answers.model_fields}
    direct: dict[str, set[str]] = {}
    for node in ast.parse(source).body[0].body:
        if isinstance(node, ast.FunctionDef):
            direct[node.name] = {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
                                 and isinstance(n.value, ast.Name) and n.value.id == "self"}

    def resolve(name: str, seen: frozenset[str]) -> set[str]:
        if name in Answers.model_fields:
            return {name}
        return {a for used in direct.get(name, ()) if used not in seen for a in resolve(used, seen | {used})}

    for name in direct:
        reads[name] = resolve(name, frozenset({name}))
    return reads


@functools.cache
def files_reached() -> dict[str, list[str]]:
    """answer -> the files (as the full-featured tree names them) whose name or text reads it."""
    model = validate_answers(EVERYTHING)
    macros = {p.name: p.read_text() for p in (TEMPLATE / "_macros").glob("*")}
    reached: dict[str, set[str]] = {name: set() for name in Answers.model_fields}
    for path in template_files():
        text = str(path.relative_to(TEMPLATE)) + path.read_text()
        text += "".join(body for name, body in macros.items() if name in text)
        name = rendered_name(path, model)
        for attribute in set(re.findall(r"\btm\.(\w+)", text)):
            for answer in answers_read_by_attribute().get(attribute, ()):
                reached[answer].add(name)
    return {answer: sorted(names) for answer, names in reached.items()}


# ---- the parts --------------------------------------------------------------------------

def cell(text: str) -> str:
    """Text for a table cell: no HTML, no column break, no emphasis."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def code(text: str) -> str:
    """A code span that holds any text, backticks included, in a table cell too."""
    return "`` " + text.replace("|", "\\|") + " ``"


def _code(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, list) else str(value)
    return f"`{text}`" if text != "" else "empty"


def questions_reference(_: str | None) -> str:
    out = []
    essentials = list(questions())[:list(questions()).index("customise")]
    for name, q in questions().items():
        when = q.get("when", "")
        platforms = sorted(set(re.findall(r"'(\w+)' in platforms", str(when)))) or ["all"]
        asked = "always" if name in essentials or name == "customise" else "when customising"
        if "tls_enabled" in str(when):
            asked += ", with TLS"
        out.append(f"### `{name}`\n\n{cell(q['help'])}\n")
        if question_notes().get(name):
            out.append(question_notes()[name] + "\n")
        out.append("| type | default | asked | platforms |\n|---|---|---|---|")
        out.append(f"| {q['type']} | {default_cell(name, q)} | {asked} | {', '.join(platforms)} |\n")
        if "choices" in q:
            out.append("**Choices:** " + "; ".join(f"`{v}`: {label}" for label, v in q["choices"].items()) + "\n")
        if name == "customise":
            out.append("**Rule:** yes or no. A choice of the run, not an answer of the tree: "
                       "it is not recorded, and every question below it is answered anyway "
                       "(by its default, `--data` or the tree's earlier answer).\n")
            continue
        out.append(f"**Rule:** {cell(answer_rule(name))}.\n")
        files = files_reached()[name]
        out.append("**Reaches:** " + (", ".join(f"`{f}`" for f in files) or "no file directly") + "\n")
    return "\n".join(out)


def platform_files(platform: str) -> str:
    defaults = validate_answers({})
    tree = default_tree()
    rows = []
    for path in template_files():
        name = rendered_name(path, defaults)
        if name and platform in path_platforms(path) and (tree / name).is_file():
            rows.append(f"| `{name}` | {(tree / name).stat().st_size:,} B |")
    shared = sorted(n for n in (rendered_name(p, defaults) for p in template_files()
                                if path_platforms(p) == list(PLATFORMS)) if n)
    return ("| file | size |\n|---|---|\n" + "\n".join(row for row in rows if not any(f"`{s}`" in row for s in shared))
            + "\n\nBeside them, in every tree: " + ", ".join(f"`{s}`" for s in shared) + ".")


def figures() -> dict[str, str]:
    if not FIGURES_FILE.is_file():
        return {}
    return json.loads(FIGURES_FILE.read_text())


def security_figures(_: str | None) -> str:
    measured = figures()
    if not measured:
        return ('!!! note "No test run yet"\n    These figures are written by the test run '
                '(`make test`); CI builds this site after its run.\n')
    keep = ("exposure", "checkov", "silenced", "image size", "pod-spec run")
    rows = [f"| {cell(name)} | {cell(value)} |" for name, value in sorted(measured.items())
            if name.startswith(keep)]
    return "| figure | measured |\n|---|---|\n" + "\n".join(rows)


def silenced_findings(_: str | None) -> str:
    """Every checker finding the default tree silences, with the reason written beside it,
    as the checker tests find them (tests/checkers.py)."""
    rows = []
    for finding in checkers.silenced_findings(default_tree()):
        where, directive = finding.split(": ", 1)
        rows.append(f"| `{where}` | {code(directive.removeprefix('# '))} |")
    return "| where | silenced, and why |\n|---|---|\n" + "\n".join(rows)


def pod_security(_: str | None) -> str:
    namespace = yaml.safe_load((default_tree() / "deployments/kubernetes/namespace.yaml").read_text())
    labels = namespace["metadata"]["labels"]
    return "\n".join(f"- `{k}: {v}`" for k, v in sorted(labels.items()) if k.startswith("pod-security"))


def answer_errors(_: str | None) -> str:
    """Each refusal the answer-rule tests prove, with the whole message the model gives."""
    spec = importlib.util.spec_from_file_location("answer_rule_cases", REPO / "tests" / "test_answer_rules.py")
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    rows = []
    for answers, _expected in cases.BROKEN_RULES:
        try:
            validate_answers(answers)
        except tokmesh_answers.AnswerError as error:
            for message in str(error).splitlines():
                given = ", ".join(f"{k}={v!r}" for k, v in answers.items())
                rows.append(f"| {code(given)} | {cell(message.strip())} |")
    return "| given | message |\n|---|---|\n" + "\n".join(dict.fromkeys(rows))


def script_refusals(_: str | None) -> str:
    """What each script of the default tree stops with, as it says it."""
    out = []
    for script in sorted((default_tree() / "scripts").iterdir()):
        text = script.read_text()
        messages = re.findall(r'\bdie "([^"]+)"', text) + re.findall(r'\bthrow "([^"]+)"', text)
        if messages:
            out.append(f"**`scripts/{script.name}`**\n")
            out.extend(f"- {code(m)}" for m in dict.fromkeys(messages))
            out.append("")
    return "\n".join(out)


def install_command(_: str | None) -> str:
    """What to install to copy and update, at the versions the template is tested with."""
    return f"```sh\n{validate_answers({}).copier_install_command}\n```"


GENERATED = {
    "install": install_command,
    "questions": questions_reference,
    "files": platform_files,
    "security-figures": security_figures,
    "silenced": silenced_findings,
    "pod-security": pod_security,
    "answer-errors": answer_errors,
    "script-refusals": script_refusals,
}
