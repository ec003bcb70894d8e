"""Artifacts the runtime tests build once and cache under .cache/ (git ignores it):
a Debian bookworm root filesystem made by debootstrap, and the server stand-in,
built on the server glue that the template renders."""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("TOKMESH_TEST_CACHE", REPO_ROOT / ".cache"))
STANDIN_SRC = REPO_ROOT / "tests" / "standin" / "src"
# ca-certificates: the image's builder stage hands its CA bundle to the runtime stage.
ROOTFS_PACKAGES = "systemd,systemd-sysv,dbus,procps,ca-certificates"


@contextmanager
def _locked(name: str):
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def debian_mirror() -> str:
    """The mirror this machine's apt uses (the only one reachable here)."""
    for source in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]:
        if source.is_file():
            match = re.search(r"(?:^URIs:\s*|^deb\s+(?:\[[^]]*\]\s+)?)(\S+/debian)/?\s", source.read_text(), re.M)
            if match:
                return match.group(1)
    return "http://deb.debian.org/debian"


def rootfs_tarball() -> Path:
    """A gzip tarball of a minimal bookworm with systemd (about 100 MB; 1 min to make)."""
    tarball = CACHE / "bookworm-rootfs.tar.gz"
    with _locked("rootfs"):
        if tarball.exists():
            return tarball
        with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
            root = Path(scratch) / "root"
            subprocess.run(
                ["debootstrap", "--variant=minbase", f"--include={ROOTFS_PACKAGES}", "bookworm",
                 str(root), debian_mirror()],
                check=True, capture_output=True,
            )
            partial = Path(scratch) / "rootfs.tar.gz"
            subprocess.run(["tar", "-C", str(root), "-czf", str(partial), "."], check=True)
            shutil.move(partial, tarball)
    return tarball


def rootfs_dir() -> Path:
    """The tarball unpacked once; nspawn runs it with --volatile=overlay, so it stays pristine."""
    root = CACHE / "bookworm-rootfs"
    with _locked("rootfs-dir"):
        if not (root / "usr/lib/systemd/systemd").exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            subprocess.run(["tar", "-C", str(root), "-xzf", str(rootfs_tarball())], check=True)
    return root


def standin_module(tree: Path, dest: Path) -> Path:
    """The stand-in's sources, a Go module laid out and named like tokmesh-go, with the
    server glue rendered into ``tree``'s server-glue/ copied over them as `make glue`
    copies it into src/ (when the tree has the glue)."""
    shutil.copytree(STANDIN_SRC, dest, dirs_exist_ok=True)
    glue = tree / "server-glue"
    if glue.is_dir():
        shutil.copytree(glue, dest, dirs_exist_ok=True)
    return dest


def go_env(**extra: str) -> dict[str, str]:
    """Go offline: no module download, the build cache under .cache/."""
    return {
        **os.environ,
        "GOFLAGS": "-mod=mod",
        "GOPROXY": "off",
        "GOCACHE": str(CACHE / "go-build"),
        "GOPATH": str(CACHE / "gopath"),
        **extra,
    }


def protoc_gen_go() -> Path:
    """A folder with protoc-gen-go, built once, offline, from the protobuf module the
    stand-in's go.mod pins (tokmesh-go's version), as the tree's Makefile builds it."""
    tools = CACHE / "tools"
    with _locked("protoc-gen-go"):
        if not (tools / "protoc-gen-go").exists():
            subprocess.run(["go", "build", "-o", str(tools / "protoc-gen-go"), "google.golang.org/protobuf/cmd/protoc-gen-go"],
                           cwd=STANDIN_SRC, env=go_env(), check=True, capture_output=True)
    return tools


def generate(module: Path) -> None:
    """`go generate ./api/proto/v1`, as the tree's Makefile and Dockerfile run it."""
    path = f"{protoc_gen_go()}{os.pathsep}{os.environ.get('PATH', '')}"
    subprocess.run(["go", "generate", "./api/proto/v1"], cwd=module, env=go_env(PATH=path), check=True,
                   capture_output=True)


def vendor(module: Path) -> None:
    """The module's dependencies in vendor/, from the module cache: an image build has no
    module proxy to reach."""
    subprocess.run(["go", "mod", "vendor"], cwd=module, env=go_env(), check=True, capture_output=True)


def build_standin(output: Path, tree: Path, goos: str = "linux", version: str = "dev",
                  fail_mode: str = "") -> Path:
    """Compile the Go stand-in of tokmesh-server on the glue rendered into ``tree``
    (static, offline): reporting ``version``, and failing as ``fail_mode`` says
    ("exit" at start, "never-ready")."""
    output.parent.mkdir(parents=True, exist_ok=True)
    from tokmesh_answers import Answers

    ldflags = f"{Answers().go_ldflags(version, 'standin', 'test')} -X main.failMode={fail_mode}"
    with tempfile.TemporaryDirectory() as scratch:
        module = standin_module(tree, Path(scratch) / "src")
        generate(module)
        subprocess.run(
            ["go", "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(output), "./cmd/tokmesh-server"],
            cwd=module, env=go_env(CGO_ENABLED="0", GOOS=goos), check=True, capture_output=True,
        )
    return output
