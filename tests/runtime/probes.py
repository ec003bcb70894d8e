"""HTTP probes of the server (or its stand-in) from the host: on its loopback, or on another
of its addresses (``host``)."""

from __future__ import annotations

import json
import time
import urllib.request


def http_get(port: int, path: str, timeout: float = 2.0, host: str = "127.0.0.1") -> str:
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=timeout) as response:
        return response.read().decode()


def health_status(port: int, path: str = "/health", host: str = "127.0.0.1") -> str:
    """data.status of tokmesh-go's envelope on ``path`` ("healthy", "ready")."""
    return json.loads(http_get(port, path, timeout=1, host=host))["data"]["status"]


def wait_for_health(port: int, seconds: float = 20.0, not_pid: int | None = None, host: str = "127.0.0.1") -> dict:
    """Once /health answers healthy (from a PID other than ``not_pid``): who answers, as
    the stand-in's /standin/whoami says (pid, uid, version)."""
    deadline = time.monotonic() + seconds
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if health_status(port, host=host) == "healthy":
                who = json.loads(http_get(port, "/standin/whoami", timeout=1, host=host))
                if who["pid"] != not_pid:
                    return who
        except OSError as error:
            last = error
        time.sleep(0.05)
    raise AssertionError(f"/health on {host} port {port} did not answer within {seconds} s: {last}")
