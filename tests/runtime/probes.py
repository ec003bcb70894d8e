"""HTTP probes of the server (or its stand-in) from the host's loopback."""

from __future__ import annotations

import json
import time
import urllib.request


def http_get(port: int, path: str, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
        return response.read().decode()


def wait_for_health(port: int, seconds: float = 20.0, not_pid: int | None = None) -> dict:
    """/health's answer once it answers (from a PID other than ``not_pid``)."""
    deadline = time.monotonic() + seconds
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            health = json.loads(http_get(port, "/health", timeout=1))
            if health["pid"] != not_pid:
                return health
        except OSError as error:
            last = error
        time.sleep(0.05)
    raise AssertionError(f"/health on port {port} did not answer within {seconds} s: {last}")
