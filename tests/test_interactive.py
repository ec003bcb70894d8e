"""An interactive copier copy, typed at a real terminal (tmux): a bad answer shows its
rule and the question is asked again; Ctrl-C leaves nothing behind."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import require


class Terminal:
    def __init__(self, command: str) -> None:
        self.session = f"tokmesh-test-{time.monotonic_ns()}"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.session, "-x", "200", "-y", "50",
                        f"{command}; echo EXIT=$?; sleep 60"], check=True)

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-J", "-t", self.session],
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


def test_a_bad_answer_shows_its_rule_and_is_asked_again(terminal) -> None:
    term, dst = terminal
    term.wait_for("Service name")
    term.type("C-u", "Bad_Name", "Enter")
    screen = term.wait_for("service_name: 'Bad_Name' must be a DNS label")
    assert "Target platforms" not in screen
    term.type("C-u", "cache-edge", "Enter")
    term.wait_for("Target platforms")
    term.type("Enter")  # all four platforms
    for question in ("Configuration folder", "Data folder", "Folder for the binaries", "Runtime folder",
                     "System account", "System group", "HTTP API port", "Serve HTTPS"):
        term.wait_for(question)
        term.type("Enter")
    term.wait_for("Cluster (peer-to-peer) port")
    term.type("C-u", "5080", "Enter")
    term.wait_for("cluster_port: 5080 is already used by http_port; the ports must be distinct")
    term.type("C-c")
    term.wait_for("EXIT=1")
    assert not dst.exists()
