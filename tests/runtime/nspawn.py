"""A booted Debian container under systemd-nspawn: real systemd as PID 1.

The container shares the host's network, so the service's port answers on the
host's loopback. It is started under setsid and stopped by its PID, also when a
test fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


class Container:
    def __init__(self, rootfs: Path, payload: Path, log: Path) -> None:
        self.rootfs, self.payload, self.log = rootfs, payload, log
        self.process: subprocess.Popen | None = None
        self.init_pid = 0

    def __enter__(self) -> Container:
        self.process = subprocess.Popen(
            ["systemd-nspawn", "-q", "-D", str(self.rootfs), "--register=no", "--keep-unit",
             "--volatile=overlay", f"--bind-ro={self.payload}:/opt/payload", "--boot"],
            stdin=subprocess.DEVNULL, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited: {self.log.read_text()[-2000:]}")
            children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
            if children.stdout.strip():
                self.init_pid = int(children.stdout.split()[0])
                state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
                if state in {"running", "degraded"}:
                    return self
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError("the container's systemd did not come up in 60 s")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # nspawn powers the container off
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["nsenter", "-t", str(self.init_pid), "-a", *command],
                                capture_output=True, text=True, check=False)
        if check and result.returncode:
            raise AssertionError(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
        return result

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        args = [f"-p{p}" for p in properties]
        out = self.run("systemctl", "show", unit, *args).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
