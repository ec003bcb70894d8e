"""Rules that no PowerShell here can check by running, checked on the syntax tree
that tree-sitter-powershell builds.

- A variable read before it is assigned: under ``Set-StrictMode -Version Latest``
  (which every generated script sets) that read is a run-time error, on the
  Windows host, the first time that line runs.
- A grant of file-system access to Users, Authenticated Users or Everyone: any right
  that writes, on any folder; a right that only reads, anywhere but the program folder
  (where local users run the CLI). Principals passed through a variable or a foreach
  loop over a list are resolved.
- A copy or move onto the service's executable whose last service action before it is
  not a stop that waits for the process to exit: Stop-Service returns when the service
  reports Stopped, and the process may still hold the file.
- A stop of the service that no ``finally`` undoes: a script that stops the service for
  a while (install, upgrade, backup, restore) must start it again whatever fails.
  A script that deletes the service (uninstall) stops it for good.
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


def _atoms(node: tree_sitter.Node) -> list[tree_sitter.Node]:
    """The words of a command or a list, in order: strings, bare words and variables (a
    variable inside a string is part of that string)."""
    found, stack = [], [node]
    while stack:
        current = stack.pop()
        if current.type in {"string_literal", "generic_token"}:
            found.append(current)
            continue
        if current.type == "variable" and current.parent is not None and current.parent.type == "unary_expression":
            found.append(current)
            continue
        stack.extend(reversed(current.children))
    return found


def _atom_text(node: tree_sitter.Node) -> str:
    text = _text(node)
    return text[1:-1] if node.type == "string_literal" and len(text) >= 2 else text


def _loop_values(root: tree_sitter.Node, values: dict[str, str]) -> dict[str, list[str]]:
    """foreach ($v in <list>): each value $v takes, as far as the list's words are known."""
    loops: dict[str, list[str]] = {}
    for loop in _descendants(root, "foreach_statement"):
        variable = next(c for c in loop.children if c.type == "variable")
        collection = next((c for c in loop.children if c.type == "pipeline"), None)
        if collection is None:
            continue
        loops.setdefault(_variable_name(variable) or "", []).extend(
            _expanded(_atom_text(a), values) for a in _atoms(collection))
    return loops


def _expansions(text: str, values: dict[str, str], loops: dict[str, list[str]]) -> list[str]:
    """text with its variables replaced: a loop variable by each value it takes."""
    texts = [text]
    for name in {m.lower() for m in re.findall(r"\$\{?(\w+)\}?", text)}:
        if name in loops:
            pattern = re.compile(r"\$\{?" + re.escape(name) + r"\}?(?!\w)", re.I)
            texts = [pattern.sub(lambda _m, v=v: v, t) for t in texts for v in loops[name]]
    return [_expanded(t, values) for t in texts]


# .NET types through which a script names a principal to grant access to.
IDENTITY_TYPES = ("filesystemaccessrule", "securityidentifier", "ntaccount")
# The folder variables of the program folder, where local users may read and run the
# programs (the CLI); anywhere else a broad group may not even read.
PROGRAM_FOLDERS = frozenset({"$installdir", "$bindir"})
# icacls's rights that only read (and N, no access); any other, or one not known here, writes.
ICACLS_READ_RIGHTS = frozenset({"N", "R", "RX", "X", "GR", "GE", "RD", "REA", "RA", "RC", "S", "AS"})
ICACLS_INHERITANCE = frozenset({"OI", "CI", "IO", "NP", "I"})
# FileSystemRights names that only read.
ACL_READ_RIGHTS = frozenset(name.lower() for name in (
    "Read", "ReadAndExecute", "ReadData", "ListDirectory", "ReadAttributes", "ReadExtendedAttributes",
    "ReadPermissions", "ExecuteFile", "Traverse", "Synchronize"))
WRITE_WORDS = re.compile(r"(?i)\b(FullControl|Modify|Write\w*|Delete\w*|ChangePermissions|TakeOwnership|"
                         r"CreateFiles|CreateDirectories|AppendData|GenericWrite|GenericAll)\b")
GRANT = re.compile(r"^(?P<who>[^:]+):(?P<rights>[\w(),\s]+)$")


def _writes(rights: str) -> bool:
    """Whether a grant's rights, in icacls's letters or FileSystemRights names, write."""
    words = [w for w in re.split(r"[(),\s]+", rights) if w]
    if all(w.upper() in ICACLS_READ_RIGHTS | ICACLS_INHERITANCE for w in words):
        return False
    return not all(w.lower() in ACL_READ_RIGHTS for w in words)


def _target(command: tree_sitter.Node) -> str:
    """The path a grant command applies to: its first word that is no switch, parameter
    name or the icacls program (icacls X, Invoke-Native icacls.exe @(X, ...),
    Set-OwnAccess -Path X)."""
    for atom in _atoms(command):
        if atom.parent is not None and atom.parent.type == "command_name":
            continue
        text = _atom_text(atom)
        if text.startswith(("/", "-")) or text.lower() in {"icacls", "icacls.exe"}:
            continue
        return text.lower()
    return ""


def broad_grant_problems(name: str, source: bytes) -> list[str]:
    """Grants to Users, Authenticated Users or Everyone ('principal:rights' words, as
    icacls and Set-OwnAccess take them, and the principals of access rules), with
    $variables that hold a literal and foreach variables resolved: write rights anywhere,
    read rights anywhere but the program folder; an access rule for them at all."""
    root = parser().parse(source).root_node
    values = _string_values(root)
    loops = _loop_values(root, values)
    problems = []

    def report(node: tree_sitter.Node, what: str, who: str) -> None:
        problems.append(f"{name}:{node.start_point.row + 1}: {what} grants access to {who!r}")

    for command in _descendants(root, "command"):
        target = _target(command)
        for atom in _atoms(command):
            if atom.type == "variable":
                continue
            for text in _expansions(_atom_text(atom), values, loops):
                grant = GRANT.match(text.strip())
                broad = grant and BROAD_PRINCIPALS.fullmatch(grant.group("who").strip())
                if not broad:
                    continue
                if _writes(grant.group("rights")):
                    report(atom, f"a grant of {grant.group('rights')!r}", broad.group(0))
                elif target not in PROGRAM_FOLDERS:
                    report(atom, f"a grant of {grant.group('rights')!r} on {target or 'a folder'}", broad.group(0))
        if _descendants(command, "command_name") and _text(command.children[0]).lower() == "new-object" and any(
                t in _text(command).lower() for t in IDENTITY_TYPES):
            for text in _expansions(_text(command), values, loops):
                match = BROAD_PRINCIPALS.search(text)
                if match:
                    report(command, "an access rule", match.group(0))
                    break
    for invocation in _descendants(root, "invokation_expression"):
        if any(t in _text(invocation).lower() for t in IDENTITY_TYPES):
            for text in _expansions(_text(invocation), values, loops):
                match = BROAD_PRINCIPALS.search(text)
                if match:
                    report(invocation, "an access rule", match.group(0))
                    break
    return list(dict.fromkeys(problems))  # an access rule is both a command and an invocation


# ---- stopping the service ----------------------------------------------------------

START_COMMANDS = frozenset({"start-service", "restart-service"})
COPY_COMMANDS = frozenset({"copy-item", "move-item", "copy", "move", "cp", "mv"})


def _command_name(command: tree_sitter.Node) -> str:
    name = next((c for c in command.children if c.type == "command_name"), None)
    return _text(name).lower() if name is not None else ""


def _functions(root: tree_sitter.Node) -> dict[str, tree_sitter.Node]:
    return {_text(next(c for c in f.children if c.type == "function_name")).lower(): f
            for f in _descendants(root, "function_statement")}


def _enclosing_function(node: tree_sitter.Node) -> tree_sitter.Node | None:
    current = node.parent
    while current is not None and current.type != "function_statement":
        current = current.parent
    return current


def _service_actions(root: tree_sitter.Node) -> tuple[set[str], set[str], set[str]]:
    """The script's functions that stop the service and wait for its process to exit
    (a Stop-Service, then WaitForExit or Wait-Process), those that stop it without
    waiting, and those that start it."""
    waited, unwaited, starters = set(), set(), set()
    functions = _functions(root)
    for name, function in functions.items():
        names = {_command_name(c) for c in _descendants(function, "command")}
        body = _text(function).lower()
        if "stop-service" in names and (".waitforexit(" in body or "wait-process" in names):
            waited.add(name)
        elif "stop-service" in names:
            unwaited.add(name)
        if names & START_COMMANDS:
            starters.add(name)
    return waited, unwaited, starters


def _action(command: tree_sitter.Node, waited: set[str], unwaited: set[str], starters: set[str]) -> str | None:
    name = _command_name(command)
    if name in waited:
        return "waited stop"
    if name == "stop-service" or name in unwaited:
        return "stop"
    if name in START_COMMANDS or name in starters:
        return "start"
    return None


def _executables(root: tree_sitter.Node) -> set[str]:
    """How a script names the service's executable: variables that hold a literal path
    to an .exe."""
    return {f"${n}" for n, v in _string_values(root).items() if v.lower().endswith(".exe")}


def _destination(command: tree_sitter.Node) -> str:
    """A Copy-Item or Move-Item's destination: after -Destination, else its second word."""
    words = [a for a in _atoms(command) if not (a.parent is not None and a.parent.type == "command_name")]
    parameters = [c for c in _descendants(command, "command_parameter")]
    for parameter in parameters:
        if _text(parameter).lower() in {"-destination", "-dest"}:
            after = [a for a in words if a.start_byte > parameter.end_byte]
            return _atom_text(after[0]).lower() if after else ""
    positional = [a for a in words if not any(p.end_byte == a.start_byte - 1 for p in parameters)]
    return _atom_text(positional[1]).lower() if len(positional) > 1 else ""


def unwaited_copy_problems(name: str, source: bytes) -> list[str]:
    """Copies and moves onto the service's executable whose last service action before
    them (in the same function, or outside any) is not a stop that waited for the
    process: a Stop-Service alone, a start, or none."""
    root = parser().parse(source).root_node
    waited, unwaited, starters = _service_actions(root)
    executables = _executables(root)
    commands = sorted(_descendants(root, "command"), key=lambda c: c.start_byte)
    problems = []
    for copy in commands:
        if _command_name(copy) not in COPY_COMMANDS:
            continue
        destination = _destination(copy)
        if destination not in {e.lower() for e in executables} and not destination.endswith(".exe"):
            continue
        scope = _enclosing_function(copy)
        before = [c for c in commands if c.end_byte <= copy.start_byte and _enclosing_function(c) == scope]
        actions = [a for a in (_action(c, waited, unwaited, starters) for c in before) if a]
        if not actions or actions[-1] != "waited stop":
            last = actions[-1] if actions else "no stop"
            problems.append(f"{name}:{copy.start_point.row + 1}: {_command_name(copy)} onto {destination} "
                            f"after {last}, not a stop that waited for the process to exit")
    return problems


def _starts_in_finally(node: tree_sitter.Node, starters: set[str]) -> bool:
    """Whether node is inside the body of a try whose finally starts the service."""
    current, child = node.parent, node
    while current is not None:
        if current.type == "try_statement" and child.type == "statement_block":
            finally_clause = next((c for c in current.children if c.type == "finally_clause"), None)
            if finally_clause is not None and any(
                    _command_name(c) in START_COMMANDS or _command_name(c) in starters
                    for c in _descendants(finally_clause, "command")):
                return True
        current, child = current.parent, current
    return False


def unrestored_stop_problems(name: str, source: bytes) -> list[str]:
    """Stops of the service (Stop-Service, or a function that wraps it, where it is
    called) outside the body of a try whose finally starts the service again. A script
    that deletes the service (sc.exe delete) stops it for good and is exempt."""
    root = parser().parse(source).root_node
    commands = _descendants(root, "command")
    if any(re.search(r"(?i)\bsc(\.exe)?\s+delete\b", _text(c)) for c in commands):
        return []
    waited, unwaited, starters = _service_actions(root)
    stoppers = waited | unwaited
    problems = []
    for command in commands:
        function = _enclosing_function(command)
        inside = (_text(next(c for c in function.children if c.type == "function_name")).lower()
                  if function is not None else None)
        if inside in stoppers:
            continue  # the wrapper's own Stop-Service: its call sites are checked
        if _command_name(command) in stoppers | {"stop-service"} and not _starts_in_finally(command, starters):
            problems.append(f"{name}:{command.start_point.row + 1}: {_command_name(command)} with no start "
                            "of the service in a finally after it")
    return problems
