"""HTTP probes of the server (or its stand-in) from the host's loopback."""

from __future__ import annotations

import json
import time
import urllib.request


def http_get(port: int, path: str, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
        return response.read().decode()


def health_status(port: int, path: str = "/health") -> str:
    """data.status of tokmesh-go's envelope on ``path`` ("healthy", "ready")."""
    return json.loads(http_get(port, path, timeout=1))["data"]["status"]


def wait_for_health(port: int, seconds: float = 20.0, not_pid: int | None = None) -> dict:
    """Once /health answers healthy (from a PID other than ``not_pid``): who answers, as
    the stand-in's /standin/whoami says (pid, uid, version)."""
    deadline = time.monotonic() + seconds
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if health_status(port) == "healthy":
                who = json.loads(http_get(port, "/standin/whoami", timeout=1))
                if who["pid"] != not_pid:
                    return who
        except OSError as error:
            last = error
        time.sleep(0.05)
    raise AssertionError(f"/health on port {port} did not answer within {seconds} s: {last}")
