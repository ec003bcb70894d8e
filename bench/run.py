"""What the template costs, as ratios measured in one run (`make bench`).

Each row is a median over repeated runs, set against a reference measured in the same
run, interleaved with it, so that a busy machine slows both: Copier's own floor (a
one-file template without extensions) for copy and update, the figures the test run
measured for the image and the service, and the manifests' own probe settings for the
StatefulSet. Not a pass/fail test: these machines are shared and noisy.

    python bench/run.py [--runs N] [--json FILE]

--json also writes the rows this run measured, with the run's date, commit and machine,
for `make figures` (bench/figures.py) to keep in docs/figures.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
FIGURES = REPO / ".cache" / "test-figures.json"
TEMPLATE_PATHS = ("copier.yml", "template", "extensions")
GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}


def run(*args: str, cwd: Path | None = None) -> None:
    result = subprocess.run(args, cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=False)
    if result.returncode:
        sys.exit(f"bench: {' '.join(args)} failed in {cwd}:\n{result.stderr}")


def git_repo(path: Path, tag: str) -> Path:
    run("git", "init", "-q", cwd=path)
    run("git", "add", "-A", cwd=path)
    run("git", "commit", "-q", "-m", tag, cwd=path)
    run("git", "tag", tag, cwd=path)
    return path


def floor_template(root: Path) -> Path:
    """Copier's floor: one question, one file (and the answers file), no extensions, as a
    tagged git repository."""
    path = root / "floor"
    path.mkdir()
    (path / "copier.yml").write_text("_templates_suffix: .jinja\nname:\n  type: str\n  default: x\n")
    (path / "README.md.jinja").write_text("hello {{ name }}\n")
    # The answers file: what any template needs for `copier update`.
    (path / "{{ _copier_conf.answers_file }}.jinja").write_text("{{ _copier_answers | to_nice_yaml }}")
    return git_repo(path, "v1.0.0")


def this_template(root: Path) -> Path:
    path = root / "tokmesh-deploy"
    path.mkdir()
    for name in TEMPLATE_PATHS:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, path / name)
    return git_repo(path, "v1.0.0")


def copier(*args: str, cwd: Path | None = None) -> float:
    """One Copier command in a process of its own, as an operator runs it: seconds."""
    started = time.perf_counter()
    run(sys.executable, "-m", "copier", *args, cwd=cwd)
    return time.perf_counter() - started


def copy(template: Path, dst: Path) -> float:
    shutil.rmtree(dst, ignore_errors=True)
    return copier("copy", "--trust", "--defaults", "--quiet", str(template), str(dst))


def committed_copy(template: Path, dst: Path) -> Path:
    copy(template, dst)
    git_repo(dst, "copied")
    return dst


def update(project: Path, *data: str) -> float:
    seconds = copier("update", "--trust", "--defaults", "--quiet", *data, cwd=project)
    run("git", "reset", "-q", "--hard", cwd=project)  # back to the copied tree for the next run
    run("git", "clean", "-qfd", cwd=project)
    return seconds


# Copier imports pydantic and Jinja itself: the model's own cost is what comes on top.
COPIER_IMPORTS = "import copier, pydantic, jinja2"


def model_on_top_of_copier() -> float:
    """Copier's imports, then the answers model imported and the default answers validated."""
    return python(f"{COPIER_IMPORTS}; import sys; sys.path.insert(0, 'extensions'); import tokmesh_answers; "
                  "tokmesh_answers.validate_answers({})")


def copier_imports() -> float:
    return python(COPIER_IMPORTS)


def python(code: str) -> float:
    started = time.perf_counter()
    run(sys.executable, "-c", code, cwd=REPO)
    return time.perf_counter() - started


def paired(runs: int, measure, reference) -> tuple[float, float]:
    """Medians of ``measure`` and ``reference``, taken in turn."""
    ours, theirs = [], []
    for _ in range(runs):
        theirs.append(reference())
        ours.append(measure())
    return statistics.median(ours), statistics.median(theirs)


def statefulset_rows(tree: Path) -> list[tuple[str, str, str, str]]:
    """Time to all-ready under Parallel and OrderedReady, from the probe settings: a pod is
    ready at best at its first readiness probe after the startup probe's first success,
    at worst when the startup budget runs out."""
    docs = list(yaml.safe_load_all((tree / "deployments/kubernetes/statefulset.yaml").read_text()))
    spec = next(d for d in docs if d and d.get("kind") == "StatefulSet")["spec"]
    container = spec["template"]["spec"]["containers"][0]
    startup, readiness = container["startupProbe"], container["readinessProbe"]
    best = (startup.get("initialDelaySeconds", 0) + startup.get("periodSeconds", 10)
            + readiness.get("periodSeconds", 10))
    worst = startup.get("initialDelaySeconds", 0) + startup["periodSeconds"] * startup["failureThreshold"]
    rows = []
    for replicas in (spec["replicas"], 5):
        rows.append((f"StatefulSet all-ready, {replicas} replicas: OrderedReady / Parallel "
                     f"({spec.get('podManagementPolicy', 'OrderedReady')} rendered)",
                     f"{replicas * best} s (worst {replicas * worst} s)", f"{best} s (worst {worst} s)",
                     f"{replicas:.2f}"))
    return rows


def figure_rows() -> list[tuple[str, str, str, str]]:
    """The image and service figures of the last test run (make test)."""
    if not FIGURES.is_file():
        return [("image, stop and restart figures", "not measured", "run `make test` first", "-")]
    figures = json.loads(FIGURES.read_text())
    rows = []
    image = figures.get("image size")  # "<total> B: runtime base <b> B + added layers <a> B (binaries <c> B)"
    if image:
        total, base, added, binaries = (int(n) for n in re.findall(r"(\d+) B", image))
        rows.append(("image: the layers the Dockerfile adds / the runtime base", f"{added:,} B", f"{base:,} B",
                     f"{added / base:.2f}"))
        rows.append(("image: the binaries / the layers the Dockerfile adds", f"{binaries:,} B", f"{added:,} B",
                     f"{binaries / added:.2f}"))
        rows.append(("image: the whole / the runtime base", f"{total:,} B", f"{base:,} B", f"{total / base:.2f}"))
    for name, value in sorted(figures.items()):
        if name.startswith(("podman stop with a 1.5 s request", "systemctl stop with a 1.5 s request")):
            seconds = float(value.split()[0])
            rows.append((name, f"{seconds:.2f} s", "1.50 s (the request)", f"{seconds / 1.5:.2f}"))
        if name.startswith("restart after kill -9"):
            seconds = float(value.split()[0])
            configured = float(value.split("RestartSec=")[1].rstrip(")").rstrip("s").strip())
            rows.append((name, f"{seconds:.2f} s", f"{configured:.2f} s (RestartSec)", f"{seconds / configured:.2f}"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="repetitions per row (median)")
    parser.add_argument("--json", type=Path, help="also write this run's own rows, with its provenance, here")
    args = parser.parse_args()
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        floor, ours = floor_template(root), this_template(root)
        copy(floor, root / "warm-floor")  # file caches and .pyc files, before any timing
        copy(ours, root / "warm-ours")

        mine, theirs = paired(args.runs, lambda: copy(ours, root / "ours"), lambda: copy(floor, root / "floor-copy"))
        rows.append(("copier copy, default tree / Copier's floor", f"{mine:.2f} s", f"{theirs:.2f} s", f"{mine / theirs:.2f}"))
        copy_seconds = mine

        project, floor_project = committed_copy(ours, root / "project"), committed_copy(floor, root / "floor-project")
        mine, theirs = paired(args.runs, lambda: update(project), lambda: update(floor_project))
        rows.append(("copier update, nothing changed / floor", f"{mine:.2f} s", f"{theirs:.2f} s", f"{mine / theirs:.2f}"))
        mine, theirs = paired(args.runs, lambda: update(project, "--data", "http_port=6080"),
                              lambda: update(floor_project, "--data", "name=y"))
        rows.append(("copier update, one answer changed / floor", f"{mine:.2f} s", f"{theirs:.2f} s", f"{mine / theirs:.2f}"))

        mine, theirs = paired(args.runs, model_on_top_of_copier, copier_imports)
        rows.append(("Copier's imports + the answers model imported and validated / Copier's imports",
                     f"{mine:.3f} s", f"{theirs:.3f} s", f"{mine / theirs:.2f}"))
        rows.append(("the answers model's own time / the default copy", f"{mine - theirs:.3f} s", f"{copy_seconds:.2f} s",
                     f"{(mine - theirs) / copy_seconds:.2f}"))
        rows.extend(statefulset_rows(root / "ours"))
    if args.json:
        # Only the rows this run measured: the test figures below keep their own run.
        sys.path.insert(0, str(REPO / "bench"))
        from figures import this_run

        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"run": this_run(f"make figures (bench/run.py --runs {args.runs})"),
                                         "rows": rows}, indent=1))
    rows.extend(figure_rows())

    print(f"tokmesh-deploy bench, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"median of {args.runs} runs")
    print("| measurement | median | reference | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
