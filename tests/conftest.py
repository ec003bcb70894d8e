"""Shared fixtures: the template under test, scenario answers and rendered trees."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from copier import run_copy

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIO_DIR = Path(__file__).parent / "scenarios"
SCENARIOS = sorted(p.stem for p in SCENARIO_DIR.glob("*.yml"))

sys.path.insert(0, str(REPO_ROOT / "extensions"))


def scenario_answers(name: str) -> dict[str, Any]:
    return yaml.safe_load((SCENARIO_DIR / f"{name}.yml").read_text()) or {}


def require(condition: bool, reason: str) -> None:
    """Skip without ``condition``; under CI (CI=true) a missing need fails instead."""
    if condition:
        return
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


FIGURES = pytest.StashKey[dict[str, str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[FIGURES] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The documentation is built last: its security page shows the figures the run measured."""
    items.sort(key=lambda item: item.path.name == "test_docs.py")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Keep the run's figures for `make docs` (the security page renders them); a partial
    run updates only the figures it measured."""
    figures = session.config.stash.get(FIGURES, {})
    if figures:
        kept = REPO_ROOT / ".cache" / "test-figures.json"
        kept.parent.mkdir(exist_ok=True)
        earlier = json.loads(kept.read_text()) if kept.is_file() else {}
        kept.write_text(json.dumps({**earlier, **figures}, indent=1, sort_keys=True))
        # Which run measured each figure (date, commit, machine): `make figures` keeps only
        # figures a run vouches for (bench/figures.py).
        sys.path.insert(0, str(REPO_ROOT / "bench"))
        from figures import this_run

        runs_file = REPO_ROOT / ".cache" / "test-figures-runs.json"
        runs = json.loads(runs_file.read_text()) if runs_file.is_file() else {}
        run = this_run("pytest " + " ".join(session.config.invocation_params.args))
        runs_file.write_text(json.dumps({**runs, **dict.fromkeys(figures, run)}, indent=1, sort_keys=True))


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    """The figures the tests measured (scores, sizes, delays), at the end of every run."""
    figures = config.stash.get(FIGURES, {})
    if figures:
        terminalreporter.section("figures measured")
        for name, value in sorted(figures.items()):
            terminalreporter.write_line(f"{name}: {value}")


@pytest.fixture
def figure(request: pytest.FixtureRequest) -> Callable[[str, object], None]:
    """figure(name, value): report a measured figure in the run's summary."""

    def _record(name: str, value: object) -> None:
        request.config.stash[FIGURES][name] = str(value)

    return _record


@pytest.fixture(scope="session")
def copier_template_paths() -> list[str]:
    """pytest-copier copies only what the template is made of."""
    from template_versions import TEMPLATE_PATHS

    return list(TEMPLATE_PATHS)


@pytest.fixture(scope="session")
def render(copier_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """render(answers) -> the rendered tree; the same answers render once a session."""
    cache: dict[str, Path] = {}

    def _render(answers: dict[str, Any]) -> Path:
        key = yaml.safe_dump(answers, sort_keys=True)
        if key not in cache:
            dst = tmp_path_factory.mktemp("tree")
            run_copy(
                str(copier_template),
                dst,
                data=answers,
                defaults=True,
                unsafe=True,
                quiet=True,
                vcs_ref="HEAD",
            )
            cache[key] = dst
        return cache[key]

    return _render


@pytest.fixture(scope="session")
def render_scenario(render: Callable[..., Path]) -> Callable[[str], Path]:
    return lambda name: render(scenario_answers(name))


@pytest.fixture(params=SCENARIOS)
def scenario(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def tree(scenario: str, render_scenario: Callable[[str], Path]) -> Path:
    return render_scenario(scenario)


# The template's releases as a git repository (a session fixture), for the update tests.
from template_versions import template_repo  # noqa: E402,F401
