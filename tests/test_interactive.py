"""An interactive copier copy, typed at a real terminal (tmux): a default run asks the
essentials and one yes/no question; yes opens the rest; a bad answer shows its rule and
the question is asked again; Ctrl-C leaves nothing behind."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT, require

# The prompts of a default run with all four platforms, in order: the essentials, then
# the question that opens the rest.
DEFAULT_RUN_PROMPTS = ["Service name", "Target platforms", "HTTP API port", "Serve HTTPS",
                       "Kubernetes replicas", "Kubernetes namespace",
                       "Container image repository", "Container image tag", "Customise paths"]
QMARK = "🎤"
# Each question's prompt, as Copier shows it (its help).
HELP = {name: q["help"] for name, q in yaml.safe_load((REPO_ROOT / "copier.yml").read_text()).items()
        if isinstance(q, dict) and "help" in q}


class Terminal:
    def __init__(self, command: str, columns: int = 200) -> None:
        self.session = f"tokmesh-test-{time.monotonic_ns()}"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.session, "-x", str(columns), "-y", "50",
                        f"{command}; echo EXIT=$?; sleep 60"], check=True)

    def screen(self, history: bool = False) -> str:
        start = ["-S", "-"] if history else []
        return subprocess.run(["tmux", "capture-pane", "-p", "-J", *start, "-t", self.session],
                              capture_output=True, text=True, check=True).stdout

    def wait_for(self, text: str, seconds: float = 20) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} did not appear on the terminal:\n{self.screen()}")

    def type(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.session, *keys], check=True)

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.session], check=False, capture_output=True)


def _terminal(copier_template: Path, tmp_path: Path, columns: int):
    require(shutil.which("tmux") is not None, "tmux is not installed")
    dst = tmp_path / "deploy"
    term = Terminal(f"{sys.executable} -m copier copy --trust --vcs-ref HEAD {copier_template} {dst}", columns)
    try:
        yield term, dst
    finally:
        term.close()


@pytest.fixture
def terminal(copier_template: Path, tmp_path: Path):
    yield from _terminal(copier_template, tmp_path, 200)


@pytest.fixture
def terminal_80(copier_template: Path, tmp_path: Path):
    """The classic terminal: 80 columns, where Copier cuts every line it shows."""
    yield from _terminal(copier_template, tmp_path, 80)


def test_a_default_run_asks_the_essentials_and_one_question_more(terminal) -> None:
    term, dst = terminal
    term.wait_for("Service name")
    deadline = time.monotonic() + 60
    while "EXIT=" not in term.screen() and time.monotonic() < deadline:
        term.type("Enter")  # each prompt's default
        time.sleep(0.3)
    term.wait_for("EXIT=0")
    # Each distinct prompt once: the terminal may show the first one again as it redraws.
    prompts = list(dict.fromkeys(line for line in term.screen(history=True).splitlines()
                                 if line.startswith(QMARK)))
    assert len(prompts) == len(DEFAULT_RUN_PROMPTS) <= 10
    for prompt, expected in zip(prompts, DEFAULT_RUN_PROMPTS):
        assert prompt.removeprefix(QMARK).strip().startswith(expected), (prompt, expected)
    recorded = yaml.safe_load((dst / ".copier-answers.yml").read_text())
    assert recorded["config_dir"] == "/etc/tokmesh-server" and "customise" not in recorded


def answer_the_essentials(term: Terminal) -> None:
    """Enter (the default) at every essential prompt, up to the customise question."""
    for prompt in DEFAULT_RUN_PROMPTS[:-1]:
        term.wait_for(prompt)
        term.type("Enter")
    term.wait_for(DEFAULT_RUN_PROMPTS[-1])


def refused_then_asked_again(term: Terminal, question: str, bad: str, rule: str, good: str, next_question: str) -> None:
    """At ``question``, ``bad`` shows ``rule`` and the question stays; ``good`` moves on."""
    term.wait_for(question)
    term.type("C-u", bad, "Enter")
    screen = term.wait_for(rule)
    assert next_question not in screen
    term.type("C-u", good, "Enter")
    term.wait_for(next_question)


def test_customising_opens_the_rest_and_a_bad_answer_there_shows_its_rule(terminal) -> None:
    term, dst = terminal
    answer_the_essentials(term)
    term.type("y")
    for question in ("Server log level", "Seconds supervisors give the server", "Render the server glue",
                     "Address the server listens on", "Serve the Redis protocol", "Networks allowed to reach", "Kubernetes namespaces whose pods", "Host address Compose publishes",
                     "Compose project name"):
        term.wait_for(question)
        term.type("Enter")
    refused_then_asked_again(term, "Configuration folder", "etc/tokmesh",
                             "Validation error for question 'config_dir': must be an absolute POSIX path", "/opt/tokmesh/etc", "Data folder")
    term.type("C-c")
    term.wait_for("EXIT=1")
    assert not dst.exists()


def test_a_bad_answer_shows_its_rule_and_is_asked_again(terminal) -> None:
    term, dst = terminal
    refused_then_asked_again(term, "Service name", "Bad_Name", "Validation error for question 'service_name': must be a DNS label",
                             "cache-edge", "Target platforms")
    term.type("Enter")  # all four platforms
    for question in ("HTTP API port", "Serve HTTPS"):
        term.wait_for(question)
        term.type("Enter")
    term.wait_for("Kubernetes replicas")
    term.type("C-u", "0", "Enter")
    term.wait_for("Validation error for question 'replicas': must be from 1 to 99")
    term.type("C-c")
    term.wait_for("EXIT=1")
    assert not dst.exists()


# ---- answers that clash with earlier ones, at 80 columns ------------------------------------


def prompts(term: Terminal) -> list[str]:
    return [line for line in term.screen(history=True).splitlines() if line.startswith(QMARK)]


def offered(term: Terminal) -> str:
    """What the current prompt offers: the line below its help."""
    lines = term.screen(history=True).splitlines()
    last = max(i for i, line in enumerate(lines) if line.startswith(QMARK))
    return lines[last + 1].strip()


def enter_until(term: Terminal, name: str) -> None:
    """Enter (the offered default) at each prompt until question ``name``'s is the current one."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        shown = prompts(term)
        if shown and HELP[name] in shown[-1]:
            return
        if not shown:  # Copier still starting
            time.sleep(0.05)
            continue
        # Wait for the next question, not for a new line: Copier draws the first prompt twice.
        term.type("Enter")
        while prompts(term)[-1:] == shown[-1:] and "EXIT=" not in term.screen() and time.monotonic() < deadline:
            time.sleep(0.05)
    raise AssertionError(f"the {name} prompt did not come:\n{term.screen()}")


def type_answer(term: Terminal, text: str, accepted: bool = True) -> None:
    """Replace what the prompt offers with ``text`` and, once the prompt shows it, Enter; an
    accepted answer returns once the next question is asked.  Keys typed while a prompt starts
    may be lost (a loaded machine): typed again then."""
    deadline = time.monotonic() + 20
    while offered(term) != text:
        assert time.monotonic() < deadline, f"the prompt never showed {text!r}:\n{term.screen()}"
        term.type("C-u", text)
        typed = time.monotonic()
        while offered(term) != text and time.monotonic() < typed + 2:
            time.sleep(0.05)
    asked = prompts(term)[-1:]
    term.type("Enter")
    while accepted and prompts(term)[-1:] == asked:
        assert time.monotonic() < deadline, f"{text!r} was not taken:\n{term.screen()}"
        time.sleep(0.05)


def customise(term: Terminal) -> None:
    """Yes at the question that opens the rest (a key, no Enter), once the next one is asked."""
    enter_until(term, "customise")
    term.type("y")
    deadline = time.monotonic() + 20
    while HELP["customise"] in prompts(term)[-1]:
        assert time.monotonic() < deadline, term.screen()
        time.sleep(0.05)


def refused_at_80_columns(term: Terminal, name: str, typed: str, rule: str) -> None:
    """``typed`` at question ``name`` shows ``rule`` whole on the terminal's last line, and the
    question stays."""
    type_answer(term, typed, accepted=False)
    line = f"Validation error for question '{name}': {rule}"
    assert len(line) <= 80
    screen = term.wait_for(line)
    assert HELP[name] in prompts(term)[-1], screen


def finish_with_defaults(term: Terminal, dst: Path) -> dict:
    """Enter at every remaining prompt; the run ends well, never in a traceback."""
    deadline = time.monotonic() + 120
    while "EXIT=" not in term.screen() and time.monotonic() < deadline:
        term.type("Enter")
        time.sleep(0.3)
    term.wait_for("EXIT=0")
    assert "Traceback" not in term.screen(history=True)
    return yaml.safe_load((dst / ".copier-answers.yml").read_text())


def test_an_earlier_port_moves_the_later_ports_default_and_the_run_completes(terminal_80) -> None:
    term, dst = terminal_80
    enter_until(term, "http_port")
    refused_at_80_columns(term, "http_port", "abc", "must be a number: 1024 to 65535")
    type_answer(term, "5343")  # the Raft port's usual default
    customise(term)
    enter_until(term, "cluster_port")
    assert offered(term) == "5344"  # the next free port
    answers = finish_with_defaults(term, dst)
    assert (answers["http_port"], answers["cluster_port"], answers["gossip_port"]) == (5343, 5344, 5345)


def test_resource_answers_that_clash_are_refused_at_their_prompt_and_asked_again(terminal_80) -> None:
    term, dst = terminal_80
    customise(term)
    enter_until(term, "client_networks")  # YAML Copier cannot read: its rule, not "Invalid input"
    refused_at_80_columns(term, "client_networks", "[10.0.0.0/8", "must be a list in brackets")
    type_answer(term, "[]")
    enter_until(term, "memory_limit")
    refused_at_80_columns(term, "memory_limit", "100m", "must use Mi or M: m is milli")
    type_answer(term, "100Mi")
    enter_until(term, "cpu_request")  # after its limit, 500m
    refused_at_80_columns(term, "cpu_request", "1", "must not exceed cpu_limit (500m)")
    type_answer(term, "100m")
    enter_until(term, "memory_request")
    assert offered(term) == "100Mi"  # never above the limit
    answers = finish_with_defaults(term, dst)
    assert (answers["memory_limit"], answers["memory_request"], answers["cpu_request"]) == ("100Mi", "100Mi", "100m")
