"""podman set up for this kind of machine, and the stand-in base images.

Nothing can be pulled here: the runtime base is a busybox-static root (it has the
wget the HEALTHCHECK calls), the builder base is the debootstrapped bookworm with
the host's Go toolchain. Plain podman fails here (crun cannot set RLIMIT_NOFILE, and
cgroups are hybrid): runc, cgroupfs and explicit ulimits fix both.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .fixtures_cache import CACHE, _locked, rootfs_dir, standin_module, vendor

RUNTIME_IMAGE = "localhost/tokmesh-test/runtime:busybox"


def _go_env(name: str) -> str:
    if shutil.which("go") is None:
        return ""
    return subprocess.run(["go", "env", name], capture_output=True, text=True, check=False).stdout.strip()


# The Go on PATH (tokmesh-go needs 1.24 or newer: Debian 12's /usr/lib/go is 1.19).
GO_ROOT = Path(_go_env("GOROOT") or "/usr/local/go")
# The PATH of Go's official images, with this Go first.
BUILDER_PATH = f"{GO_ROOT}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Tagged with the Go release it carries and its PATH: a cached image made otherwise is not reused.
BUILDER_IMAGE = (f"localhost/tokmesh-test/builder:bookworm-{_go_env('GOVERSION') or 'go'}-"
                 f"{hashlib.sha256(BUILDER_PATH.encode()).hexdigest()[:8]}")

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


def podman_env() -> dict[str, str]:
    home = CACHE / "containers"
    home.mkdir(parents=True, exist_ok=True)
    conf = home / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    storage = home / "storage.conf"
    storage.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{home}/storage"\nrunroot = "{home}/run"\n'
    )
    return {**os.environ, "CONTAINERS_CONF": str(conf), "CONTAINERS_STORAGE_CONF": str(storage)}


def podman(*args: str, check: bool = True, input: bytes | None = None, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(["podman", *args], env=podman_env(), capture_output=True, input=input,
                            check=False, **kwargs)
    if check and result.returncode:
        raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout.decode(errors='replace')[-3000:]}"
                             f"{result.stderr.decode(errors='replace')[-3000:]}")
    return result


def _image_exists(name: str) -> bool:
    return podman("image", "exists", name, check=False).returncode == 0


def runtime_image() -> str:
    """busybox-static as /bin/busybox with the applets the image uses, and a passwd."""
    with _locked("runtime-image"):
        if not _image_exists(RUNTIME_IMAGE):
            with tempfile.TemporaryDirectory() as scratch:
                root = Path(scratch) / "root"
                for folder in ("bin", "etc", "tmp", "usr/local/bin"):
                    (root / folder).mkdir(parents=True)
                shutil.copy2("/bin/busybox", root / "bin" / "busybox")
                for applet in ("sh", "wget", "ls", "cat", "id"):
                    (root / "bin" / applet).symlink_to("busybox")
                (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
                (root / "etc/group").write_text("root:x:0:\nnobody:x:65534:\n")
                archive = Path(scratch) / "root.tar"
                with tarfile.open(archive, "w") as tar:
                    tar.add(root, arcname=".")
                podman("import", "--change", "CMD [\"/bin/sh\"]", str(archive), RUNTIME_IMAGE)
    return RUNTIME_IMAGE


def builder_image() -> str:
    """The bookworm root with the host's Go toolchain at its own path, on PATH."""
    with _locked("builder-image"):
        if not _image_exists(BUILDER_IMAGE):
            # Debian's Go keeps its sources in /usr/share/go-X and links them from /usr/lib/go-X.
            go = GO_ROOT.resolve()
            go_share = (go / "src").resolve().parent
            tar = subprocess.Popen(
                ["tar", "-cf", "-", "-C", str(rootfs_dir()), ".", "-C", "/",
                 *sorted({str(p.relative_to("/")) for p in (go, go_share, GO_ROOT)})],
                stdout=subprocess.PIPE,
            )
            subprocess.run(
                ["podman", "import", "--change", f"ENV PATH={BUILDER_PATH}",
                 "--change", "ENV HOME=/root", "-", BUILDER_IMAGE],
                stdin=tar.stdout, env=podman_env(), check=True, capture_output=True,
            )
            tar.wait()
    return BUILDER_IMAGE


@contextmanager
def api_socket(folder: Path) -> Iterator[str]:
    """podman's Docker-compatible API on a socket in ``folder``, for docker-compose."""
    socket = folder / "podman.sock"
    service = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{socket}"],
                               env=podman_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + 15
        while not socket.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert socket.exists(), "podman's API socket did not appear"
        yield f"unix://{socket}"
    finally:
        service.terminate()
        service.wait(timeout=10)


def image_tree(render, tmp_path_factory, folder: str, **answers) -> tuple[Path, object]:
    """(tree, answers model): ``answers`` rendered with this machine's stand-in base
    images, copied out, with the stand-in (and the glue, if answered) as tokmesh-go's module."""
    from tokmesh_answers import validate_answers

    answers = {"builder_image": builder_image(), "runtime_image": runtime_image(), **answers}
    tree = tmp_path_factory.mktemp(folder)
    shutil.copytree(render(answers), tree, dirs_exist_ok=True)
    vendor(standin_module(tree, tree / validate_answers(answers).go_module_dir))
    return tree, validate_answers(answers)


def build_image(context: Path, reference: str, *options: str) -> None:
    """podman build with --format docker: the default OCI format drops HEALTHCHECK."""
    podman("build", "--format", "docker", "--network", "host", *options, "-t", reference, str(context))
