"""The figures the documentation shows, kept with where they come from: docs/figures.json.

Each run that measured something is named by its date, its commit and its machine; each
figure and bench row points at its run (a run may carry a "note", written by hand, on
what the machine was doing). `make figures` measures anew (the checker tests,
the bench) and keeps what it measured; the runtime figures of a full `make test` (kept in
.cache/ with their run) are taken too. A figure no run vouches for is not kept.

    python bench/figures.py keep-tests      # the test figures of .cache/, with their runs
    python bench/figures.py keep-bench FILE # a bench run's rows (bench/run.py --json FILE)
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KEPT = REPO / "docs" / "figures.json"
CACHE = REPO / ".cache" / "test-figures.json"
# The run of each cached figure (conftest writes both files at the end of a run).
CACHE_RUNS = REPO / ".cache" / "test-figures-runs.json"
# What a figure depends on: a commit that changed none of these leaves it current.
MEASURED_CODE = ("copier.yml", "template", "extensions")


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def machine() -> str:
    """The machine in a reader's words: its system, cores and Python."""
    try:
        system = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
        name = system.get("PRETTY_NAME", platform.system()).strip('"')
    except OSError:
        name = platform.platform()
    return f"{name}, {os.cpu_count()} cores, Python {platform.python_version()}"


def this_run(command: str) -> dict[str, str | bool]:
    """Where figures measured now come from: today, this commit (and whether the code the
    figures measure had changes not committed), this machine."""
    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--", *MEASURED_CODE))
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "unknown", False
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "commit": commit,
            "uncommitted changes": dirty, "machine": machine(), "command": command}


def run_id(run: dict) -> str:
    return f"{run['date']} {str(run['commit'])[:10]}"


def load() -> dict:
    if KEPT.is_file():
        return json.loads(KEPT.read_text())
    return {"runs": {}, "figures": {}, "bench": []}


def save(kept: dict) -> None:
    used = {f["run"] for f in kept["figures"].values()} | {row["run"] for row in kept["bench"]}
    kept["runs"] = {rid: run for rid, run in sorted(kept["runs"].items()) if rid in used}
    KEPT.write_text(json.dumps(kept, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def keep_tests() -> int:
    """The test figures in .cache/ whose run is known replace the kept ones."""
    if not CACHE.is_file() or not CACHE_RUNS.is_file():
        print("figures: no test run in .cache/ yet (run the tests first)", file=sys.stderr)
        return 1
    values, runs = json.loads(CACHE.read_text()), json.loads(CACHE_RUNS.read_text())
    kept = load()
    taken = 0
    for name, value in values.items():
        run = runs.get(name)
        if run is None:  # measured by a run from before runs were recorded: no one vouches for it
            continue
        kept["runs"][run_id(run)] = run
        kept["figures"][name] = {"value": value, "run": run_id(run)}
        taken += 1
    save(kept)
    print(f"figures: {taken} test figures kept in {KEPT.relative_to(REPO)}")
    return 0


def keep_bench(path: Path) -> int:
    """A bench run's rows replace the kept rows of the same measurement."""
    measured = json.loads(path.read_text())
    kept = load()
    run = measured["run"]
    kept["runs"][run_id(run)] = run
    names = {row[0] for row in measured["rows"]}
    kept["bench"] = [row for row in kept["bench"] if row["measurement"] not in names] + [
        {"measurement": m, "median": median, "reference": ref, "ratio": ratio, "run": run_id(run)}
        for m, median, ref, ratio in measured["rows"]]
    save(kept)
    print(f"figures: {len(names)} bench rows kept in {KEPT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["keep-tests"]:
        sys.exit(keep_tests())
    if sys.argv[1:2] == ["keep-bench"] and len(sys.argv) == 3:
        sys.exit(keep_bench(Path(sys.argv[2])))
    sys.exit(__doc__)
