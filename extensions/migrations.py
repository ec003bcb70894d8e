"""Migrations of a rendered tree between template versions (copier.yml's _migrations).

Copier runs these in the operator's tree, before the update renders, so the new
template version reads the answers under their new names.

    python migrations.py rename-answer OLD NEW ANSWERS_FILE
    python migrations.py keep-answer NAME VALUE ANSWERS_FILE [--platform P]
    python migrations.py drop-answer NAME ANSWERS_FILE --why TEXT
    python migrations.py replace-default NAME OLD NEW ANSWERS_FILE
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml


def _write(answers_file: Path, text: str, answers: dict) -> None:
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    answers_file.write_text(header + yaml.safe_dump(answers, sort_keys=True, allow_unicode=False))


def rename_answer(answers_file: Path, old: str, new: str) -> str:
    """Rename answer ``old`` to ``new``; a file without ``old`` is left alone."""
    text = answers_file.read_text()
    answers = yaml.safe_load(text) or {}
    if old not in answers:
        return f"no answer {old} to rename"
    if new not in answers:
        answers[new] = answers[old]
    del answers[old]
    _write(answers_file, text, answers)
    return f"renamed answer {old} to {new}"


def keep_answer(answers_file: Path, name: str, value: str, platform: str | None) -> str:
    """Record ``name: value``, what the tree was rendered with before the answer existed,
    so that a new, different default does not change the tree behind the operator's back;
    only for trees with ``platform``, and never over an answer already given."""
    text = answers_file.read_text()
    answers = yaml.safe_load(text) or {}
    if name in answers:
        return f"{name} is answered already ({answers[name]!r})"
    if platform and platform not in answers.get("platforms", [platform]):
        return f"no {platform} in this tree: {name} not needed"
    answers[name] = yaml.safe_load(value)
    _write(answers_file, text, answers)
    return (f"recorded {name}: {value}, what this tree was rendered with before the answer existed "
            f"(the new default differs; change it with copier update --data {name}=...)")


def drop_answer(answers_file: Path, name: str, why: str) -> str:
    """Remove answer ``name``, whose question is gone; ``why`` tells the operator what
    took its place."""
    text = answers_file.read_text()
    answers = yaml.safe_load(text) or {}
    if name not in answers:
        return f"no answer {name} to remove"
    value = answers.pop(name)
    _write(answers_file, text, answers)
    return f"removed answer {name} ({value!r}): {why}"


def replace_default(answers_file: Path, name: str, old: str, new: str) -> str:
    """Move ``name`` from an old default that no longer works to the new default; an answer
    the operator chose (anything but ``old``) is left alone."""
    text = answers_file.read_text()
    answers = yaml.safe_load(text) or {}
    if answers.get(name) != yaml.safe_load(old):
        return f"{name} is not the old default {old}: left as it is"
    answers[name] = yaml.safe_load(new)
    _write(answers_file, text, answers)
    return f"{name}: the old default {old} replaced by the new default {new}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="migrations.py")
    commands = parser.add_subparsers(dest="command", required=True)
    rename = commands.add_parser("rename-answer")
    rename.add_argument("old")
    rename.add_argument("new")
    rename.add_argument("answers_file", type=Path)
    keep = commands.add_parser("keep-answer")
    keep.add_argument("name")
    keep.add_argument("value")
    keep.add_argument("answers_file", type=Path)
    keep.add_argument("--platform")
    drop = commands.add_parser("drop-answer")
    drop.add_argument("name")
    drop.add_argument("answers_file", type=Path)
    drop.add_argument("--why", required=True)
    replace = commands.add_parser("replace-default")
    replace.add_argument("name")
    replace.add_argument("old")
    replace.add_argument("new")
    replace.add_argument("answers_file", type=Path)
    args = parser.parse_args(argv)
    if args.command == "rename-answer":
        message = rename_answer(args.answers_file, args.old, args.new)
    elif args.command == "keep-answer":
        message = keep_answer(args.answers_file, args.name, args.value, args.platform)
    elif args.command == "drop-answer":
        message = drop_answer(args.answers_file, args.name, args.why)
    else:
        message = replace_default(args.answers_file, args.name, args.old, args.new)
    print(f"tokmesh-deploy migration: {message} in {args.answers_file}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
