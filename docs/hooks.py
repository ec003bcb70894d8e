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
import subprocess
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
from tokmesh_answers import PLATFORMS, Answers, answer_rule, offered_default, validate_answers  # noqa: E402

# The figures the pages show, each with the run that measured it (date, commit, machine):
# kept in the repository, refreshed by `make figures` (bench/figures.py).
FIGURES_FILE = Path(os.environ.get("TOKMESH_FIGURES", REPO / "docs" / "figures.json"))
# Each script message's cause and fix, written by hand (a message without one fails the build).
SCRIPT_MESSAGES_FILE = REPO / "docs" / "script-messages.yml"
# The template's address, in Copier's short form for GitHub.
TEMPLATE_ADDRESS = "gh:yndnr/tokmesh-deploy"
TEMPLATE = REPO / "template"
# What each question's one-line help cannot say (a prompt line is cut at 80 columns).
NOTES_FILE = REPO / "docs" / "question-notes.yml"
# What the figures measure: a commit that changed none of these leaves them current.
MEASURED_CODE = ("copier.yml", "template", "extensions")
MARKER = re.compile(r"<!-- tokmesh:(?P<name>[a-z-]+)(?: (?P<arg>[a-z]+))? -->")
# Every file any answer can render: all platforms, TLS through cert-manager, the glue.
EVERYTHING = {"server_glue": True, "tls_enabled": True, "cert_manager_issuer": "letsencrypt"}


def on_page_markdown(markdown: str, page, config, files) -> str:
    return MARKER.sub(lambda m: GENERATED[m["name"]](m["arg"]), markdown)


def on_files(files, config):
    """The question notes, the script messages and the figures are read into the pages,
    not published beside them."""
    for source in (NOTES_FILE, SCRIPT_MESSAGES_FILE, REPO / "docs" / "figures.json"):
        found = files.get_file_from_path(source.name)
        if found is not None:
            files.remove(found)
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


# The answers under which every question is asked, so that each shows its own default.
ASKED_ALL = {"tls_enabled": True, "redis_enabled": True}
# A question's type as the operator types the answer.
TYPE_WORDS = {"str": "text", "int": "a whole number", "bool": "yes or no", "yaml": "a list in brackets, such as [a, b]"}


def shown(value) -> str:
    """A value as the operator types or reads it: yes/no, a list in brackets, text as is."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def default_cell(name: str, q: dict) -> str:
    """The default the operator is offered, as the default answers render it; one that
    follows an earlier answer says which."""
    if name == "customise":
        value = q["default"]
    else:
        value = getattr(validate_answers({k: v for k, v in ASKED_ALL.items() if k != name}), name)
    text = _code(shown(value))
    followed = [n for n in re.findall(r"\{\{\s*(\w+)", str(q["default"])) if n in questions()]
    if followed:
        text += " (follows " + ", ".join(f"`{n}`" for n in followed) + ")"
    if "default_after_earlier_answers" in str(q["default"]):
        text += ", or the next that does not clash with an earlier answer"
    return text


def type_words(q: dict) -> str:
    if q.get("multiselect"):
        return "one or more of the choices (with --data: a list, such as [linux, docker])"
    if "choices" in q:
        return "one of the choices"
    return TYPE_WORDS[q["type"]]


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
    reads: dict[str, set[str]] = {name: {name} for name in Answers.model_fields}
    direct: dict[str, set[str]] = {}
    # What a helper class such as ServerConfig reads from the answers it is handed.
    handed: dict[str, set[str]] = {}
    for name, cls in inspect.getmembers(tokmesh_answers, inspect.isclass):
        if cls.__module__ == "tokmesh_answers" and "__init__" in vars(cls) and not issubclass(cls, Answers):
            init = ast.parse(textwrap.dedent(inspect.getsource(cls.__init__))).body[0]
            if len(init.args.args) > 1:
                param = init.args.args[1].arg
                handed[name] = {n.attr for n in ast.walk(init) if isinstance(n, ast.Attribute)
                                and isinstance(n.value, ast.Name) and n.value.id == param}
    # The model and the platforms' mixins (tokmesh_platforms), whose values read answers too.
    for cls in (c for c in Answers.__mro__ if c.__module__.startswith("tokmesh_")):
        for node in ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body:
            if isinstance(node, ast.FunctionDef):
                used = direct.setdefault(node.name, set())
                used.update(n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
                            and isinstance(n.value, ast.Name) and n.value.id == "self")
                for call in (n for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)):
                    if any(isinstance(a, ast.Name) and a.id == "self" for a in call.args):
                        used.update(handed.get(call.func.id, ()))

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
    """Text for a table cell or a list item: no HTML, no column break, no emphasis."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def code(text: str) -> str:
    """A code span that holds any text, backticks included, in a table cell too."""
    return "`` " + text.replace("|", "\\|") + " ``"


def _code(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, list) else str(value)
    return f"`{text}`" if text != "" else "empty"


PLATFORM_NAMES = {"linux": "Linux", "windows": "Windows", "docker": "Docker", "kubernetes": "Kubernetes"}
GLUE_GROUP = "the server glue (server_glue: yes)"


@functools.cache
def file_groups() -> dict[str, str]:
    """Each file of the full tree -> the group the reference lists it under: the platforms
    whose tree has it, every tree, or the server glue."""
    model = validate_answers(EVERYTHING)
    groups = {}
    for path in template_files():
        name = rendered_name(path, model)
        if not name:
            continue
        platforms = path_platforms(path)
        if name.startswith("server-glue/"):
            groups[name] = GLUE_GROUP
        elif len(platforms) == len(PLATFORMS):
            groups[name] = "every tree"
        else:
            groups[name] = ", ".join(PLATFORM_NAMES[p] for p in platforms)
    return groups


def reaches(name: str) -> str:
    """The files an answer reaches, folded, grouped by platform."""
    files = files_reached()[name]
    if not files:
        return "**Reaches:** no file directly.\n"
    grouped: dict[str, list[str]] = {}
    for file in files:
        grouped.setdefault(file_groups().get(file, "every tree"), []).append(file)
    order = ["every tree", *PLATFORM_NAMES.values()]
    lines = []
    for group in sorted(grouped, key=lambda g: (g == GLUE_GROUP, order.index(g) if g in order else len(order), g)):
        names = grouped[group]
        listed = (f"{len(names)} files below `server-glue/`" if group == GLUE_GROUP and len(names) > 3
                  else ", ".join(f"`{n}`" for n in names))
        lines.append(f"    - **{group}:** {listed}")
    noun = "file" if len(files) == 1 else "files"
    return f'??? abstract "Reaches {len(files)} {noun} (a full tree: every platform, TLS, the glue)"\n\n' \
        + "\n".join(lines) + "\n"


def questions_reference(_: str | None) -> str:
    out = []
    essentials = list(questions())[:list(questions()).index("customise")]
    for name, q in questions().items():
        when = q.get("when", "")
        platforms = sorted(set(re.findall(r"'(\w+)' in platforms", str(when))), key=list(PLATFORMS).index)
        asked = "always" if name in essentials or name == "customise" else "when customising"
        if "tls_enabled" in str(when):
            asked += ", with TLS"
        if "redis_enabled" in str(when):
            asked += ", with Redis"
        out.append(f"### `{name}`\n\n{cell(q['help'])}\n")
        if question_notes().get(name):
            out.append(question_notes()[name] + "\n")
        facts = [f"**Type:** {type_words(q)}", f"**Default:** {default_cell(name, q)}", f"**Asked:** {asked}",
                 "**Platforms:** " + (", ".join(PLATFORM_NAMES[p] for p in platforms) or "every platform")]
        out.append("- " + "\n- ".join(facts) + "\n")
        if "choices" in q:
            out.append("**Choices:** " + "; ".join(f"`{v}`: {label}" for label, v in q["choices"].items()) + "\n")
        if name == "customise":
            out.append("**Rule:** yes or no. A choice of the run, not an answer of the tree: "
                       "it is not recorded, and every question below it is answered anyway "
                       "(by its default, `--data` or the tree's earlier answer).\n")
            continue
        out.append(f"**Rule:** {cell(answer_rule(name))}.\n")
        out.append(reaches(name))
    return "\n".join(out)


def platform_files(platform: str) -> str:
    defaults = validate_answers({})
    tree = default_tree()
    rows = []
    for path in template_files():
        name = rendered_name(path, defaults)
        if name and platform in path_platforms(path) and (tree / name).is_file():
            rows.append(f"| `{name}` | {(tree / name).stat().st_size:,}&nbsp;B |")  # a size on one line
    shared = sorted(n for n in (rendered_name(p, defaults) for p in template_files()
                                if path_platforms(p) == list(PLATFORMS)) if n)
    return ("| file | size |\n|---|---|\n" + "\n".join(row for row in rows if not any(f"`{s}`" in row for s in shared))
            + "\n\nBeside them, in every tree: " + ", ".join(f"`{s}`" for s in shared) + ".")


# ---- figures, with the run each comes from ------------------------------------------------

def figures() -> dict:
    if not FIGURES_FILE.is_file():
        return {"runs": {}, "figures": {}, "bench": []}
    return json.loads(FIGURES_FILE.read_text())


def template_changes_since(commit: str) -> list[str] | None:
    """The commits after ``commit`` that changed the template (what the figures measure),
    newest first; None where this copy's history cannot tell (no git, no such commit)."""
    try:
        return subprocess.run(["git", "log", "--format=%h %s", f"{commit}..HEAD", "--", *MEASURED_CODE],
                              cwd=REPO, capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return None


def provenance(run: dict) -> str:
    """Where a run's figures come from, and whether the template changed since."""
    commit = run["commit"]
    said = (f"Measured {run['date']} at commit `{commit[:10]}`"
            + (" with changes not yet committed" if run.get("uncommitted changes") else "")
            + f", on {run['machine']}, by `{run['command']}`." + (f" {run['note']}" if run.get("note") else ""))
    changed = template_changes_since(commit)
    if changed is None:
        return (f'!!! warning "Measured at a commit this copy does not have"\n    {said} Whether the template '
                "changed since cannot be told here.\n")
    if changed or run.get("uncommitted changes"):
        newest = f" (the newest: `{changed[0].split()[0]}`)" if changed else ""
        count = f"{len(changed)} commit{'s' if len(changed) != 1 else ''}" if changed else "no commit"
        return (f'!!! warning "Older than the code"\n    {said} Since then {count} changed the template'
                f"{newest}: these figures may not hold for it. `make figures` measures them again.\n")
    return f'!!! info "Measured at the current template"\n    {said} No commit since has changed the template.\n'


def figures_by_run(names: tuple[str, ...]) -> str:
    kept = figures()
    chosen = {n: f for n, f in kept["figures"].items() if n.startswith(names)}
    if not chosen:
        return ('!!! note "Not measured yet"\n    No run has measured these figures yet: `make figures` '
                "measures them and keeps them, dated, in `docs/figures.json`.\n")
    out = []
    for run in sorted({f["run"] for f in chosen.values()}, reverse=True):
        out.append(provenance(kept["runs"][run]))
        out.extend(f"- **{cell(n)}:** {cell(f['value'])}" for n, f in sorted(chosen.items()) if f["run"] == run)
        out.append("")
    return "\n".join(out)


def security_figures(_: str | None) -> str:
    return figures_by_run(("exposure", "checkov", "silenced", "image size"))


def service_figures(_: str | None) -> str:
    """What the runtime tests measured of the image and the running service."""
    return figures_by_run(("image size", "podman stop", "systemctl stop", "restart after kill", "a hung stop",
                           "pod-spec run"))


def bench_table(_: str | None) -> str:
    kept = figures()
    if not kept["bench"]:
        return figures_by_run(("no bench row",))
    out = []
    for run in sorted({row["run"] for row in kept["bench"]}, reverse=True):
        out.append(provenance(kept["runs"][run]))
        # A list, not a four-column table: a row reads whole on a phone too.
        out.extend(f"- **{cell(r['measurement'])}:** {r['median']} against {cell(r['reference'])}, "
                   f"ratio **{r['ratio']}**" for r in kept["bench"] if r["run"] == run)
        out.append("")
    return "\n".join(out)


def silenced_findings(_: str | None) -> str:
    """Every checker finding the default tree silences, with the reason written beside it,
    as the checker tests find them (tests/checkers.py)."""
    rows = []
    for finding in checkers.silenced_findings(default_tree()):
        where, directive = finding.split(": ", 1)
        rows.append(f"- `{where}`: {code(directive.removeprefix('# '))}")
    return "\n".join(rows)


def pod_security(_: str | None) -> str:
    namespace = yaml.safe_load((default_tree() / "deployments/kubernetes/namespace.yaml").read_text())
    labels = namespace["metadata"]["labels"]
    return "\n".join(f"- `{k}: {v}`" for k, v in sorted(labels.items()) if k.startswith("pod-security"))


# ---- refused answers ---------------------------------------------------------------------

def accepted_fix(question: str, answers: dict) -> str:
    """What to do, proved by the model: the question's default with the rest given, or
    leaving out the answer that clashes."""
    rest = {k: v for k, v in answers.items() if k != question}
    candidate = offered_default(question, rest)
    try:
        validate_answers({**rest, question: candidate})
        return (f"answer `{question}` so that it meets the rule (where the message suggests a value, that one); "
                f"its default, {_code(shown(candidate))}, is accepted with the other answers given")
    except tokmesh_answers.AnswerError:
        pass
    for other in rest:
        try:
            validate_answers({k: v for k, v in answers.items() if k != other})
            return f"change `{other}` (its default is accepted beside this `{question}`), or `{question}`"
        except tokmesh_answers.AnswerError:
            continue
    return "give values that meet each rule named in the message"


def copier_choice_message(question: str, answers: dict) -> str | None:
    """A value outside a question's choices meets Copier's own check first (a ValueError,
    as Copier 9.19.1 words it, at the end of a traceback), before the model's rule."""
    choices = list(questions()[question].get("choices", {}).values())
    given = answers.get(question)
    bad = next((v for v in (given if isinstance(given, list) else [given]) if v not in choices), None)
    if not choices or bad is None:
        return None
    return f"ValueError: Invalid choice for '{question}': {bad!r} is not in {choices!r}"


def answer_errors(_: str | None) -> str:
    """Each refusal the answer-rule tests prove, by question: what was given, the whole
    message the model gives, the rule, and what to do."""
    spec = importlib.util.spec_from_file_location("answer_rule_cases", REPO / "tests" / "test_answer_rules.py")
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    by_question: dict[str, dict[str, dict]] = {}
    for answers, _expected in cases.BROKEN_RULES:
        try:
            validate_answers(answers)
        except tokmesh_answers.AnswerError as error:
            for message in str(error).splitlines():
                named = message.strip().split(":", 1)[0]
                question = named if named in Answers.model_fields else next(iter(answers))
                by_question.setdefault(question, {}).setdefault(copier_choice_message(question, answers)
                                                                or message.strip(), answers)
    out = []
    for question in (q for q in questions() if q in by_question):
        out.append(f"### `{question}` refused\n\n**The rule:** {cell(answer_rule(question))}. "
                   f"[All about `{question}`](questions.md#{question}).\n")
        for message, answers in by_question[question].items():
            given = ", ".join(f"{k}: {shown(v)}" for k, v in answers.items())
            out.append(f"- **Given** `{given}`, Copier stops with:\n\n    {code(message)}\n\n"
                       f"    **What to do:** {accepted_fix(question, answers)}.\n")
    return "\n".join(out)


# ---- what the scripts stop with ----------------------------------------------------------

def quoted_messages(text: str, opener: str, escape: str) -> list[str]:
    """The double-quoted string after each ``opener`` (a regex), read as the shell reads it:
    quotes inside $(...) do not end it, ``escape`` escapes the next character."""
    messages = []
    for match in re.finditer(opener, text):
        i, depth, out = match.end(), 0, []
        while i < len(text):
            if text[i] == escape:
                out.append(text[i:i + 2])
                i += 2
                continue
            if text[i] == "(" and (depth or text[i - 1] == "$"):
                depth += 1
            elif text[i] == ")" and depth:
                depth -= 1
            elif text[i] == '"' and not depth:
                break
            out.append(text[i])
            i += 1
        messages.append("".join(out))
    return messages


def script_values(text: str, powershell: bool) -> dict[str, str]:
    """The script's own constants (what the tree rendered into it): NAME="value" in bash,
    $Name = 'value' in PowerShell."""
    if powershell:  # the script's own, unindented, and its parameters' defaults (not a function's locals)
        pairs = re.findall(r"^(?:\$(\w+)\s*=\s*'([^']*)'()|\s*\[\w+\]\$(\w+)\s*=\s*(?:'([^']*)'|(\d+))\s*,?)\s*$",
                           text, re.M)
        pairs = [(a or d, b or e, c or f) for a, b, c, d, e, f in pairs]
    else:
        pairs = re.findall(r"""(?:^|\s)([A-Z][A-Z0-9_]*)=(?:"([^"$`]*)"|(\d+))(?=\s|$)""", text, re.M)
    return {name: quoted or number for name, quoted, number in pairs}


# PowerShell expressions in messages, in an operator's words.
POWERSHELL_EXPRESSIONS = [
    (r"\$\(\$_\.Exception\.Message\)", "<the error Windows gave>"),
    (r"\$\(\[ComponentModel\.Win32Exception\].*?\.Message\)", "<the Windows error>"),
    (r"\$\(\$(\w+) -join ' '\)", r"<\1>"),
    (r"\$\(\$\w+\.(\w+)\)", r"<\1>"),
]


def filled(message: str, script: Path, values: dict[str, str]) -> str:
    """A message as the default tree's script says it: its constants filled in, the rest
    (an argument, a file found at run time) named in angle brackets."""
    powershell = script.suffix == ".ps1"
    if powershell:
        for pattern, words in POWERSHELL_EXPRESSIONS:
            message = re.sub(pattern, words, message)
        message = re.sub(r"`(.)", r"\1", message)
    else:
        message = message.replace("$0", f"scripts/{script.name}").replace("$1", "<argument>")
    message = re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m[1], f"<{m[1]}>"), message)
    message = re.sub(r'\$\(dirname "([^"]+)"\)', lambda m: os.path.dirname(m[1]), message)
    return message if powershell else f"{script.name}: {message}"


@functools.cache
def script_messages_catalog() -> list[dict[str, str]]:
    return yaml.safe_load(SCRIPT_MESSAGES_FILE.read_text())


def script_refusals(_: str | None) -> str:
    """What each script of the default tree stops with, as it says it, with its cause and
    its fix (docs/script-messages.yml; a message without them fails the build)."""
    out, missing = [], []
    for script in sorted((default_tree() / "scripts").iterdir()):
        text = script.read_text()
        powershell = script.suffix == ".ps1"
        raw = (quoted_messages(text, r'\bthrow "', "`") if powershell
               else quoted_messages(text, r'\bdie(?: \d+)? "', "\\"))
        messages = dict.fromkeys(filled(m, script, script_values(text, powershell)) for m in raw)
        if not messages:
            continue
        out.append(f"### `scripts/{script.name}`\n")
        for message in messages:
            entry = next((e for e in script_messages_catalog() if re.search(e["match"], message)), None)
            if entry is None:
                missing.append(message)
                continue
            out.append(f"- {code(message)}\n\n    **Cause:** {entry['cause']}\n\n    **Fix:** {entry['fix']}\n")
    if missing:
        raise ValueError(f"{SCRIPT_MESSAGES_FILE.name} gives no cause and fix for:\n" + "\n".join(missing))
    return "\n".join(out)


# ---- installing Copier -------------------------------------------------------------------

def install_command(_: str | None) -> str:
    """What to install to copy and update, at the versions the template is tested with."""
    model = validate_answers({})
    return (f"With [pipx](https://pipx.pypa.io/):\n\n```sh\n{model.copier_install_pipx.replace(' && ', chr(10))}\n```\n\n"
            f"With [uv](https://docs.astral.sh/uv/):\n\n```sh\n{model.copier_install_uv}\n```\n\n"
            f"Or with pip, in a virtual environment of its own:\n\n```sh\n{model.copier_install_command}\n```")


def template_address(_: str | None) -> str:
    return f"`{TEMPLATE_ADDRESS}`"


GENERATED = {
    "install": install_command,
    "address": template_address,
    "questions": questions_reference,
    "files": platform_files,
    "security-figures": security_figures,
    "bench": bench_table,
    "service-figures": service_figures,
    "silenced": silenced_findings,
    "pod-security": pod_security,
    "answer-errors": answer_errors,
    "script-refusals": script_refusals,
}
