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
from conftest import require

# The prompts of a default run with all four platforms, in order: the essentials, then
# the question that opens the rest.
DEFAULT_RUN_PROMPTS = ["Service name", "Target platforms", "HTTP API port", "Serve HTTPS",
                       "Kubernetes replicas", "Kubernetes namespace",
                       "Container image repository", "Container image tag", "Customise paths"]
QMARK = "🎤"


class Terminal:
    def __init__(self, command: str) -> None:
        self.session = f"tokmesh-test-{time.monotonic_ns()}"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.session, "-x", "200", "-y", "50",
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


@pytest.fixture
def terminal(copier_template: Path, tmp_path: Path):
    require(shutil.which("tmux") is not None, "tmux is not installed")
    dst = tmp_path / "deploy"
    term = Terminal(f"{sys.executable} -m copier copy --trust --vcs-ref HEAD {copier_template} {dst}")
    try:
        yield term, dst
    finally:
        term.close()


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
                     "Address the server listens on", "Serve the Redis protocol", "Networks allowed to reach", "Kubernetes namespaces whose pods", "Host address Compose publishes"):
        term.wait_for(question)
        term.type("Enter")
    refused_then_asked_again(term, "Configuration folder", "etc/tokmesh",
                             "config_dir: 'etc/tokmesh' must be an absolute POSIX path", "/opt/tokmesh/etc", "Data folder")
    term.type("C-c")
    term.wait_for("EXIT=1")
    assert not dst.exists()


def test_a_bad_answer_shows_its_rule_and_is_asked_again(terminal) -> None:
    term, dst = terminal
    refused_then_asked_again(term, "Service name", "Bad_Name", "service_name: 'Bad_Name' must be a DNS label",
                             "cache-edge", "Target platforms")
    term.type("Enter")  # all four platforms
    for question in ("HTTP API port", "Serve HTTPS"):
        term.wait_for(question)
        term.type("Enter")
    term.wait_for("Kubernetes replicas")
    term.type("C-u", "0", "Enter")
    term.wait_for("replicas: 0 must be greater than or equal to 1")
    term.type("C-c")
    term.wait_for("EXIT=1")
    assert not dst.exists()
