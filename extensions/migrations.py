"""Migrations of a rendered tree between template versions (copier.yml's _migrations).

Copier runs these in the operator's tree, before the update renders, so the new
template version reads the answers under their new names.

    python migrations.py rename-answer OLD NEW ANSWERS_FILE
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

def rename_answer(answers_file: Path, old: str, new: str) -> str:
    """Rename answer ``old`` to ``new``; a file without ``old`` is left alone."""
    text = answers_file.read_text()
    answers = yaml.safe_load(text) or {}
    if old not in answers:
        return f"no answer {old} to rename"
    if new not in answers:
        answers[new] = answers[old]
    del answers[old]
    header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    answers_file.write_text(header + yaml.safe_dump(answers, sort_keys=True, allow_unicode=False))
    return f"renamed answer {old} to {new}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="migrations.py")
    commands = parser.add_subparsers(dest="command", required=True)
    rename = commands.add_parser("rename-answer")
    rename.add_argument("old")
    rename.add_argument("new")
    rename.add_argument("answers_file", type=Path)
    args = parser.parse_args(argv)
    message = rename_answer(args.answers_file, args.old, args.new)
    print(f"tokmesh-deploy migration: {message} in {args.answers_file}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
