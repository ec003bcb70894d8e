"""The documentation site: `mkdocs build --strict` (a broken link, a missing page or any
warning fails), with the parts produced at build time checked against their sources: the
questions reference against copier.yml and the answers model, the platform pages against a
render of the default answers, the security page against this run's figures."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import FIGURES, REPO_ROOT
from tokmesh_answers import answer_rule

QUESTIONS = [name for name in yaml.safe_load((REPO_ROOT / "copier.yml").read_text()) if not name.startswith("_")]
PLATFORM_PAGES = ("linux", "windows", "docker", "kubernetes")


def text_of(page: Path) -> str:
    """A built page's text, tags dropped and entities read."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


@pytest.fixture(scope="module")
def site(pytestconfig: pytest.Config, tmp_path_factory) -> Path:
    """The site, built strict, with the figures this run has measured so far (this module
    runs last: conftest sorts it there)."""
    work = tmp_path_factory.mktemp("docs")
    figures = work / "figures.json"
    figures.write_text(json.dumps(pytestconfig.stash.get(FIGURES, {})))
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(work / "site")],
        cwd=REPO_ROOT, env={**os.environ, "TOKMESH_FIGURES": str(figures), "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return work / "site"


def test_the_site_builds_strict_with_every_page(site: Path) -> None:
    nav = yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text().split("\nnav:\n", 1)[1].join(["nav:\n", ""]))
    pages = re.findall(r"([\w/-]+)\.md", json.dumps(nav))
    assert len(pages) >= 11
    for page in pages:
        built = site / ("index.html" if page == "index" else f"{page}/index.html")
        assert built.is_file(), f"{page}.md was not built"
    assert "<!-- tokmesh:" not in "".join(p.read_text() for p in site.rglob("*.html")), "a marker was left"


def test_the_reference_covers_every_question_with_the_models_rule(site: Path) -> None:
    page = (site / "questions/index.html").read_text()
    sections = re.split(r'<h3 id="', page)[1:]
    documented = {section.split('"', 1)[0]: text_of_fragment(section) for section in sections}
    assert list(documented) == QUESTIONS  # every question, in copier.yml's order
    for name in QUESTIONS:
        if name != "customise":
            assert f"Rule: {answer_rule(name)}." in documented[name], name


def text_of_fragment(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", fragment)))


def test_each_platform_page_lists_the_files_the_default_answers_render(site: Path, render_scenario) -> None:
    tree = render_scenario("defaults")
    rendered = {str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file()}
    listed = set()
    for platform in PLATFORM_PAGES:
        page = (site / f"platforms/{platform}/index.html").read_text()
        generated = re.search(r"<table>.*?</table>\s*<p>Beside them.*?</p>", page, re.S)
        assert generated, f"{platform}: no file list"
        names = set(re.findall(r"<code>([^<]+)</code>", generated.group(0)))
        assert names <= rendered, f"{platform}: listed but not rendered: {names - rendered}"
        listed |= names
    assert listed == rendered, f"rendered but on no page: {rendered - listed}"


def test_the_security_page_shows_this_runs_figures(site: Path, pytestconfig: pytest.Config) -> None:
    page = text_of(site / "security/index.html")
    measured = pytestconfig.stash.get(FIGURES, {})
    exposure = {k: v for k, v in measured.items() if k.startswith("exposure")}
    if not measured:
        assert "No test run yet" in page
    if not exposure:  # a partial run (-k, one file) measured none
        assert not os.environ.get("CI"), "under CI the checker tests run first and measure the exposure"
    for name, value in exposure.items():
        assert f"{name} {value}" in re.sub(r"\s+", " ", page), name
    assert "pod-security.kubernetes.io/enforce: restricted" in page
    # Every finding the checker tests saw silenced in the default tree, listed with its reason.
    for silenced in filter(None, measured.get("silenced findings [defaults]", "none").removeprefix("none").split("; ")):
        assert ":".join(silenced.split(":")[:2]) in page, silenced
