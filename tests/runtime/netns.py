"""Another host on the LAN, made on this machine: a network namespace joined to the host
by a veth pair, from which a test tries the host's published ports as a stranger would."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager

NAMESPACE = "tokmesh-other-host"
HOST_END, OTHER_END = "tmv-host", "tmv-other"
# A /30 of its own, away from podman's networks (10.88.0.0/16, the tests' 10.89.231.0/24).
HOST_ADDRESS, OTHER_ADDRESS = "10.89.240.1", "10.89.240.2"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@contextmanager
def other_host() -> Iterator[Callable[[int], bool]]:
    """Yields reaches(port): does GET /health on this host's LAN address answer 200 from
    the other host?"""
    subprocess.run(["ip", "netns", "del", NAMESPACE], capture_output=True, check=False)  # a run cut short
    subprocess.run(["ip", "link", "del", HOST_END], capture_output=True, check=False)
    _ip("netns", "add", NAMESPACE)
    try:
        _ip("link", "add", HOST_END, "type", "veth", "peer", "name", OTHER_END)
        _ip("link", "set", OTHER_END, "netns", NAMESPACE)
        _ip("addr", "add", f"{HOST_ADDRESS}/30", "dev", HOST_END)
        _ip("link", "set", HOST_END, "up")
        _ip("-n", NAMESPACE, "addr", "add", f"{OTHER_ADDRESS}/30", "dev", OTHER_END)
        _ip("-n", NAMESPACE, "link", "set", OTHER_END, "up")
        _ip("-n", NAMESPACE, "link", "set", "lo", "up")

        def reaches(port: int) -> bool:
            result = subprocess.run(
                ["ip", "netns", "exec", NAMESPACE, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                 "--max-time", "3", f"http://{HOST_ADDRESS}:{port}/health"],
                capture_output=True, text=True, check=False)
            return result.stdout == "200"

        yield reaches
    finally:
        subprocess.run(["ip", "netns", "del", NAMESPACE], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", HOST_END], capture_output=True, check=False)
