"""Jinja glue between Copier and the answers model.

Copier loads this file through copier-template-extensions (see copier.yml).  It
gives templates the validated answers model as ``tm`` and three filters:
``answer_problem`` for copier.yml's per-question validators,
``default_after_earlier_answers`` for the defaults that follow earlier answers, and
``sha256`` for checksum annotations.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import re
import shutil
import sys
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType
from typing import Any

from copier.errors import UserMessageError
from copier_template_extensions import ContextHook
import jinja2
from jinja2 import Environment, FileSystemBytecodeCache, pass_context
from jinja2.ext import Extension
from jinja2.runtime import Context



# The answers model's modules, in the order they import each other.
MODEL_MODULES = ("tokmesh_rules", "tokmesh_platforms", "tokmesh_answers")


def _load_answers_module() -> ModuleType:
    """This template version's own answers model, loaded from beside this file.

    `copier update` renders two template versions in one process: a plain import
    would hand the newer version the older version's model from sys.modules.  Each
    module is loaded under a name of its version's own (a hash of the model's files),
    and the plain names point at this version's modules only while they import.
    """
    folder = Path(__file__).parent
    digest = hashlib.sha256(b"".join((folder / f"{m}.py").read_bytes() for m in MODEL_MODULES)).hexdigest()[:16]
    plain = {m: sys.modules.get(m) for m in MODEL_MODULES}
    try:
        for module_name in MODEL_MODULES:
            name = f"{module_name}_{digest}"
            if name not in sys.modules:
                spec = spec_from_file_location(name, folder / f"{module_name}.py")
                module = module_from_spec(spec)
                sys.modules[name] = module  # pydantic resolves annotations through it
                sys.modules[module_name] = module  # what the next module imports by name
                spec.loader.exec_module(module)
            sys.modules[module_name] = sys.modules[name]
        return sys.modules[f"tokmesh_answers_{digest}"]
    finally:
        for module_name, module in plain.items():
            if module is None:
                sys.modules.pop(module_name, None)
            else:
                sys.modules[module_name] = module


_answers = _load_answers_module()
AnswerError = _answers.AnswerError
field_problem = _answers.field_problem
offered_default = _answers.offered_default
sha256_hex = _answers.sha256_hex
validate_answers = _answers.validate_answers


class CompiledOnce(Extension):
    """Each template compiled once: strings once per run, files once per machine.

    Copier compiles every question's default, `when:`, `ask:` and validator, and every
    file and folder name, each time it renders one: about 490 compiles of 140 distinct
    strings in a default copy.  A compiled template holds no render state, so one source
    shares one.  The files' compiled code is kept across runs as Jinja's bytecode cache
    (as Python keeps .pyc files) under the user's cache folder; Jinja recompiles a file
    whose source changed.  TOKMESH_DEPLOY_JINJA_CACHE=off keeps nothing across runs.
    """

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        if os.environ.get("TOKMESH_DEPLOY_JINJA_CACHE", "on") != "off" and environment.bytecode_cache is None:
            environment.bytecode_cache = _CompiledFiles.for_environment(environment)
        compile_string = environment.from_string
        compiled: dict[str, Any] = {}

        def from_string(source, globals=None, template_class=None):  # noqa: A002 (Jinja's name)
            if globals is not None or template_class is not None or not isinstance(source, str):
                return compile_string(source, globals, template_class)
            if source not in compiled:
                compiled[source] = _string_template(environment, source)
            return compiled[source]

        environment.from_string = from_string


def _string_template(environment: Environment, source: str):
    """What Environment.from_string makes, its code kept in the bytecode cache too."""
    cache = environment.bytecode_cache
    if cache is None:
        code = environment.compile(source)
    else:
        name = "<string " + hashlib.sha1(source.encode()).hexdigest() + ">"
        bucket = cache.get_bucket(environment, name, None, source)
        if bucket.code is None:
            bucket.code = environment.compile(source)
            cache.set_bucket(bucket)
        code = bucket.code
    return environment.template_class.from_code(environment, code, environment.make_globals(None), None)


class _CompiledFiles(FileSystemBytecodeCache):
    """Jinja's bytecode cache, keyed by template name and the compiler's settings, not by
    path: Copier renders from a fresh temporary clone each run.  Jinja checks each entry
    against the source's checksum; a cache that cannot be written is no cache."""

    @classmethod
    def for_environment(cls, environment: Environment) -> _CompiledFiles | None:
        settings = repr([getattr(environment, name, None) for name in COMPILER_SETTINGS]
                        + [jinja2.__version__, importlib.metadata.version("copier")])
        folder = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tokmesh-deploy" / "jinja"
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        cache = cls(str(folder))
        cache.settings = hashlib.sha256(settings.encode()).hexdigest()[:16]
        return cache

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        return hashlib.sha1(f"{self.settings}|{name}".encode()).hexdigest()

    def dump_bytecode(self, bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


# The environment's settings that change the code a template compiles to.
COMPILER_SETTINGS = ("block_start_string", "block_end_string", "variable_start_string", "variable_end_string",
                     "comment_start_string", "comment_end_string", "line_statement_prefix", "line_comment_prefix",
                     "trim_blocks", "lstrip_blocks", "newline_sequence", "keep_trailing_newline", "optimized",
                     "autoescape", "is_async")


class AnswersContext(ContextHook):
    """Adds ``tm``, the validated answers model, to every render context.

    The hook runs for every render, question defaults and validators included;
    the whole answer set is complete, and so checked, only in the render phase.
    There a broken rule stops Copier with one clean message before any file is
    written.
    """

    def hook(self, context: dict[str, Any]) -> None:
        if str(context.get("_copier_phase")) != "render":
            return
        try:
            context["tm"] = validate_answers(context)
        except AnswerError as error:
            raise UserMessageError(f"Invalid answers:\n{error}") from None


@pass_context
def answer_problem(context: Context, value: Any, name: str) -> str:
    """copier.yml's validator for question ``name``: the broken rule, or ''.

    Interactively Copier shows the text and asks again.  Without a prompt (an
    answer given with --data, or --defaults) it passes here: Copier would wrap
    the text in a traceback, and the final gate (AnswersContext) reports every
    broken rule in clean lines before anything is written.
    """
    conf = context.get("_copier_conf")
    if conf is not None and (conf.get("defaults") or name in (conf.get("data") or {})):
        return ""
    known = {k: context[k] for k in context.keys() if not k.startswith("_")}
    problem = field_problem(name, value, known)
    return rule_at_prompt(name, value, problem) if problem else ""


# What Copier puts before a refusal on the prompt's one line; it names the question.
COPIER_REFUSAL_PREFIX = "Validation error for question '{name}': "


def rule_at_prompt(name: str, value: Any, problem: str, columns: int | None = None) -> str:
    """``problem`` as the prompt's line shows it after Copier's prefix, which is cut at the
    terminal's edge (``columns``, by default the terminal's): the rule, without question and
    value, in as many of its clauses as fit."""
    columns = columns or shutil.get_terminal_size((80, 24)).columns
    rule = problem.removeprefix(f"{name}: {value!r} ").removeprefix(f"{name}: ")
    return first_clauses(rule, columns - len(COPIER_REFUSAL_PREFIX.format(name=name)))


def first_clauses(text: str, width: int) -> str:
    """``text`` if it fits ``width`` columns, else its longest start that fits and ends a
    clause (at ': ', '; ' or ' (', else at ', '); else its start, cut with an ellipsis."""
    if len(text) <= width:
        return text
    for boundary in (r": |; | \(", r", "):
        ends = [m.start() for m in re.finditer(boundary, text) if m.start() <= width]
        if ends:
            return text[:ends[-1]]
    return text[:width - 1] + "…"


@pass_context
def default_after_earlier_answers(context: Context, name: str) -> Any:
    """copier.yml's default for question ``name``: its usual default, or, where that would
    clash with an earlier answer, one that does not (Enter is always accepted)."""
    known = {k: context[k] for k in context.keys() if not k.startswith("_")}
    return offered_default(name, known)


def copier_install(tool: str) -> str:
    """copier.yml's closing message: how to install what an update needs, with ``tool``
    (pipx, uv or pip), the same command the tree's README gives (the model's)."""
    model = validate_answers({})
    return {"pipx": model.copier_install_pipx, "uv": model.copier_install_uv, "pip": model.copier_install_command}[tool]


def _name_the_rule_of_an_unreadable_answer() -> None:
    """Copier answers a text its type cannot read (no int, no YAML) with a bare "Invalid
    input", before any validator runs (copier/_user_data.py,
    Question.get_questionary_structure).  The prompt's check is wrapped here so that such a
    text gets what any other refusal gets: the question and its rule, in Copier's own
    wording.  Without that method (another Copier), nothing changes."""
    from copier import _user_data

    question = getattr(_user_data, "Question", None)
    structure = getattr(question, "get_questionary_structure", None)
    if structure is None or getattr(structure, "names_the_rule", False):
        return

    def get_questionary_structure(self):  # noqa: ANN001, ANN202 (Copier's signature)
        result = structure(self)
        check = result.get("validate")
        if check is None or self.var_name not in _answers.Answers.model_fields:
            return result

        def validate(text: str):  # noqa: ANN202
            verdict = check(text)
            if verdict != "Invalid input":
                return verdict
            problem = field_problem(self.var_name, text)
            if not problem:
                return verdict
            return COPIER_REFUSAL_PREFIX.format(name=self.var_name) + rule_at_prompt(self.var_name, text, problem)

        result["validate"] = validate
        return result

    get_questionary_structure.names_the_rule = True
    question.get_questionary_structure = get_questionary_structure


class AnswersFilters(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        _name_the_rule_of_an_unreadable_answer()
        environment.filters["answer_problem"] = answer_problem
        environment.filters["default_after_earlier_answers"] = default_after_earlier_answers
        environment.filters["sha256"] = sha256_hex
        environment.filters["copier_install"] = copier_install
