"""Rules that no PowerShell here can check by running, checked on the syntax tree
that tree-sitter-powershell builds.

- A variable read before it is assigned: under ``Set-StrictMode -Version Latest``
  (which every generated script sets) that read is a run-time error, on the
  Windows host, the first time that line runs.
- A grant of file-system access to Users, Authenticated Users or Everyone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

import tree_sitter

# Set by PowerShell itself, so reading them is never an error under strict mode.
AUTOMATIC_VARIABLES = frozenset(
    name.lower()
    for name in (
        "_", "PSItem", "args", "input", "true", "false", "null", "PSScriptRoot", "PSCommandPath",
        "MyInvocation", "PSCmdlet", "PSBoundParameters", "Error", "ErrorActionPreference", "Host",
        "HOME", "PID", "PWD", "PSVersionTable", "PSHOME", "ExecutionContext", "ProgressPreference",
        "VerbosePreference", "WarningPreference", "DebugPreference", "ConfirmPreference",
        "InformationPreference", "WhatIfPreference", "PSCulture", "PSUICulture", "ShellId",
        "this", "foreach", "switch", "StackTrace", "NestedPromptLevel", "OFS",
    )
)
# Set only by what ran before: $LASTEXITCODE by a native program, $Matches by -match.
SET_BY_NATIVE_COMMAND = "lastexitcode"
SET_BY_MATCH = "matches"
# Drives whose variables may be read unset ($env:NAME is $null when NAME is unset).
UNCHECKED_DRIVES = ("env:", "using:", "function:", "variable:", "alias:")
SCOPE_PREFIXES = ("script:", "global:", "local:", "private:")

BROAD_PRINCIPALS = re.compile(
    r"(?ix)(?<![\w-])\*?(S-1-5-32-545|S-1-5-11|S-1-1-0)(?![\d-])"
    r"|(?<![\w\\])(BUILTIN\\)?Users(?![\w\\])"
    r"|(NT\ AUTHORITY\\)?Authenticated\ Users"
    r"|(?<![\w\\])Everyone(?!\w)"
    r"|\b(BuiltinUsersSid|WorldSid|AuthenticatedUserSid)\b"
)


@cache
def parser() -> tree_sitter.Parser:
    import tree_sitter_powershell

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def _text(node: tree_sitter.Node) -> str:
    return node.text.decode()


def _variable_name(node: tree_sitter.Node) -> str | None:
    """A variable node's name as PowerShell resolves it (lower case), or None for
    names that are never an error to read (drives such as env:)."""
    name = _text(node).lstrip("$@")
    if name.startswith("{") and name.endswith("}"):
        name = name[1:-1]
    name = name.lower()
    if name.startswith(UNCHECKED_DRIVES):
        return None
    for prefix in SCOPE_PREFIXES:
        name = name.removeprefix(prefix)
    return name


def _descendants(node: tree_sitter.Node, kind: str) -> list[tree_sitter.Node]:
    found, stack = [], [node]
    while stack:
        current = stack.pop()
        if current.type == kind:
            found.append(current)
        stack.extend(reversed(current.children))
    return found


def _assigned_by(left: tree_sitter.Node) -> tuple[list[str], list[tree_sitter.Node]]:
    """The names an assignment's left side sets, and the nodes it reads instead
    ($a.Prop = ... and $a[0] = ... read $a; $a = ... and $a, $b = ... set them)."""
    names, reads = [], []
    for unary in _descendants(left, "unary_expression") or [left]:
        variables = _descendants(unary, "variable")
        plain = [c for c in unary.children if c.type == "variable"]
        if plain and len(variables) == 1:
            name = _variable_name(plain[0])
            if name:
                names.append(name)
        elif unary.type == "unary_expression" and variables and unary.parent.type != "unary_expression":
            reads.append(unary)
    return names, reads


@dataclass
class _Scope:
    assigned: set[str]
    problems: list[str]
    script: str
    functions: dict[str, tree_sitter.Node] = field(default_factory=dict)
    analysed_functions: set[str] = field(default_factory=set)

    def child(self) -> _Scope:
        return _Scope(set(self.assigned), self.problems, self.script, self.functions, self.analysed_functions)


class _StrictModeWalk:
    """Walks statements in the order they run. An assignment counts from where it
    stands on; inside a branch, loop, try or script block it counts only there,
    except an assignment made in every branch of an if that has an else."""

    def visit(self, node: tree_sitter.Node, scope: _Scope) -> None:
        handler = getattr(self, f"_visit_{node.type}", None)
        if handler:
            handler(node, scope)
        else:
            for child in node.children:
                self.visit(child, scope)

    def _visit_comment(self, node, scope) -> None:
        pass

    def _visit_variable(self, node, scope) -> None:
        name = _variable_name(node)
        if name is None or name in AUTOMATIC_VARIABLES or name in scope.assigned:
            return
        scope.problems.append(
            f"{scope.script}:{node.start_point.row + 1}: ${name} is read before it is assigned "
            "(a run-time error under Set-StrictMode -Version Latest)"
        )

    def _visit_script_parameter(self, node, scope) -> None:
        for child in node.children:
            if child.type == "variable":
                continue
            self.visit(child, scope)
        for child in node.children:
            if child.type == "variable":
                scope.assigned.add(_variable_name(child))

    def _visit_assignment_expression(self, node, scope) -> None:
        kinds = [c.type for c in node.children]
        left = node.children[0]
        for right in node.children[kinds.index("assignement_operator") + 1:]:
            self.visit(right, scope)
        names, reads = _assigned_by(left)
        operator = next(c for c in node.children if c.type == "assignement_operator")
        if _text(operator).strip() != "=":
            reads = [left]  # $a += 1 reads $a first
        for read in reads:
            self.visit(read, scope)
        scope.assigned.update(names)

    def _visit_command(self, node, scope) -> None:
        name_node = next((c for c in node.children if c.type == "command_name"), None)
        if name_node is not None and _text(name_node).lower() in scope.functions:
            self._analyse_function(_text(name_node).lower(), scope)
        for child in node.children:
            self.visit(child, scope)
        native = any(c.type == "command_invokation_operator" for c in node.children) or (
            name_node is not None and _text(name_node).lower().endswith(".exe")
        )
        if native:
            scope.assigned.add(SET_BY_NATIVE_COMMAND)

    def _visit_comparison_expression(self, node, scope) -> None:
        for child in node.children:
            self.visit(child, scope)
        if any(c.type == "comparison_operator" and _text(c).lower() in {"-match", "-imatch", "-cmatch"}
               for c in node.children):
            scope.assigned.add(SET_BY_MATCH)

    def _visit_function_statement(self, node, scope) -> None:
        name = next(c for c in node.children if c.type == "function_name")
        scope.functions[_text(name).lower()] = node

    def _analyse_function(self, name: str, scope: _Scope) -> None:
        """A function body sees what its caller's scope holds at its first call."""
        if name in scope.analysed_functions:
            return
        scope.analysed_functions.add(name)
        body = scope.child()
        for child in scope.functions[name].children:
            self.visit(child, body)

    def _block(self, node, scope, extra: set[str] = frozenset()) -> set[str]:
        """Walks a block in a scope of its own; returns what is assigned at its end."""
        inner = scope.child()
        inner.assigned |= set(extra)
        for child in node.children:
            self.visit(child, inner)
        return inner.assigned

    def _visit_script_block_expression(self, node, scope) -> None:
        self._block(node, scope, {"_", "psitem"})

    def _visit_statement_block(self, node, scope) -> None:
        self._block(node, scope)

    def _visit_foreach_statement(self, node, scope) -> None:
        variable = next(c for c in node.children if c.type == "variable")
        for child in node.children:
            if child.type == "statement_block":
                self._block(child, scope, {_variable_name(variable)})
            elif child is not variable:
                self.visit(child, scope)

    def _visit_if_statement(self, node, scope) -> None:
        branches: list[set[str]] = []
        has_else = False
        for child in node.children:
            if child.type == "statement_block":
                branches.append(self._block(child, scope))
            elif child.type in {"elseif_clauses", "elseif_clause", "else_clause"}:
                has_else |= child.type == "else_clause"
                for part in self._clauses(child):
                    if part.type == "else_clause":
                        has_else = True
                    for inner in part.children:
                        if inner.type == "statement_block":
                            branches.append(self._block(inner, scope))
                        else:
                            self.visit(inner, scope)
            else:
                self.visit(child, scope)
        if has_else and branches:
            scope.assigned |= set.intersection(*branches)

    @staticmethod
    def _clauses(node) -> list[tree_sitter.Node]:
        if node.type == "elseif_clauses":
            return [c for c in node.children if c.type == "elseif_clause"]
        return [node]


def strict_mode_problems(name: str, source: bytes) -> list[str]:
    """Each variable that a script reads before it assigns it."""
    problems: list[str] = []
    _StrictModeWalk().visit(parser().parse(source).root_node, _Scope(set(), problems, name))
    return problems


def _string_values(root: tree_sitter.Node) -> dict[str, str]:
    """$name = 'literal' assignments, so that a grant through a variable is seen."""
    values = {}
    for assignment in _descendants(root, "assignment_expression"):
        kinds = [c.type for c in assignment.children]
        left = assignment.children[0]
        right = assignment.children[kinds.index("assignement_operator") + 1]
        variables = _descendants(left, "variable")
        strings = _descendants(right, "string_literal")
        if len(variables) == 1 and len(strings) == 1 and _text(right).strip() == _text(strings[0]):
            values[_variable_name(variables[0]) or ""] = _text(strings[0])[1:-1]
    return values


def _expanded(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1).lower(), m.group(0)), text)


# .NET types through which a script names a principal to grant access to.
IDENTITY_TYPES = ("filesystemaccessrule", "securityidentifier", "ntaccount")


def broad_grant_problems(name: str, source: bytes) -> list[str]:
    """Grants to Users, Authenticated Users or Everyone: icacls /grant arguments and
    the principals of access rules (FileSystemAccessRule, SecurityIdentifier,
    NTAccount), with $variables that hold a literal resolved."""
    root = parser().parse(source).root_node
    values = _string_values(root)
    problems = []

    def check(node: tree_sitter.Node, what: str) -> None:
        text = _expanded(_text(node), values)
        match = BROAD_PRINCIPALS.search(text)
        if match:
            problems.append(f"{name}:{node.start_point.row + 1}: {what} grants access to {match.group(0)!r}")

    for command in _descendants(root, "command"):
        words = [_expanded(_text(c), values).strip("'\"").lower()
                 for c in _descendants(command, "unary_expression") + _descendants(command, "generic_token")]
        command_name = next((c for c in command.children if c.type == "command_name"), None)
        program = _text(command_name).lower() if command_name is not None else ""
        invoked = " ".join(words)
        if program in {"icacls", "icacls.exe"} or "icacls" in invoked:
            if any(w.startswith("/grant") for w in words):
                check(command, "icacls /grant")
        if program == "new-object" and any(t in _text(command).lower() for t in IDENTITY_TYPES):
            check(command, "an access rule")
    for invocation in _descendants(root, "invokation_expression"):
        if any(t in _text(invocation).lower() for t in IDENTITY_TYPES):
            check(invocation, "an access rule")
    return problems
