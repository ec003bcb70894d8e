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
from conftest import REPO_ROOT
from tokmesh_answers import answer_rule

QUESTIONS = [name for name in yaml.safe_load((REPO_ROOT / "copier.yml").read_text()) if not name.startswith("_")]
PLATFORM_PAGES = ("linux", "windows", "docker", "kubernetes")


def text_of(page: Path) -> str:
    """A built page's text, tags dropped and entities read."""
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built strict, with the figures kept in docs/figures.json."""
    work = tmp_path_factory.mktemp("docs")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(work / "site")],
        cwd=REPO_ROOT, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
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


def test_every_figure_shown_names_its_run(site: Path) -> None:
    """The security and performance pages show the kept figures, each under its run's date,
    commit and machine."""
    kept = json.loads((REPO_ROOT / "docs" / "figures.json").read_text())
    security = re.sub(r"\s+", " ", text_of(site / "security/index.html"))
    performance = re.sub(r"\s+", " ", text_of(site / "performance/index.html"))
    shown = [(security, n, f["value"], f["run"]) for n, f in kept["figures"].items()
             if n.startswith(("exposure", "checkov", "silenced", "image size"))]
    shown += [(performance, n, f["value"], f["run"]) for n, f in kept["figures"].items()
              if n.startswith(("image size", "podman stop", "systemctl stop", "restart after kill", "a hung stop",
                               "pod-spec run"))]
    shown += [(performance, r["measurement"], r["median"], r["run"]) for r in kept["bench"]]
    assert any(page is security for page, *_ in shown) and any(page is performance for page, *_ in shown)
    for page, name, value, run_id in shown:
        value = re.sub(r"\s+", " ", value)
        assert f"{name}: {value}" in page or f"{name} {value}" in page, name
        run = kept["runs"][run_id]
        assert f"Measured {run['date']} at commit {run['commit'][:10]}" in page, name
        assert run["machine"] in page, name
    assert "pod-security.kubernetes.io/enforce: restricted" in security
    # Every finding the default tree silences, listed with its reason.
    for silenced in filter(None, kept["figures"]["silenced findings [defaults]"]["value"].split("; ")):
        assert ":".join(silenced.split(":")[:2]) in security, silenced


def test_a_figure_older_than_the_template_says_so() -> None:
    sys.path.insert(0, str(REPO_ROOT / "docs"))
    import hooks

    def run(commit: str) -> dict:
        return {"date": "2026-12-03 08:00 UTC", "commit": commit, "machine": "m", "command": "c"}

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout

    head, first = git("rev-parse", "HEAD").strip(), git("rev-list", "--max-parents=0", "HEAD").split()[0]
    assert "Measured at the current template" in hooks.provenance(run(head))
    assert "Older than the code" in hooks.provenance(run(first))
    assert "Older than the code" in hooks.provenance({**run(head), "uncommitted changes": True})
    assert "a commit this copy does not have" in hooks.provenance(run("0" * 40))


def test_the_getting_started_session_asks_what_copier_yml_asks() -> None:
    """The example session is typed text: its prompts must be copier.yml's helps of the
    essentials and `customise`, in order, and its last lines the closing message."""
    page = (REPO_ROOT / "docs" / "getting-started.md").read_text()
    session = page.split("```text\n", 1)[1].split("```", 1)[0]
    spec = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())
    essentials = QUESTIONS[:QUESTIONS.index("customise") + 1]
    asked = [line.removeprefix("🎤 ") for line in session.splitlines() if line.startswith("🎤 ")]
    assert asked == [spec[name]["help"] for name in essentials]
    for line in spec["_message_after_copy"].splitlines():
        if "{{" not in line:
            assert line in session, line


def test_no_page_or_help_cites_the_specification(site: Path) -> None:
    """Operators never see the specification: no page, no help, not the README names it."""
    spec = yaml.safe_load((REPO_ROOT / "copier.yml").read_text())
    texts = {str(p.relative_to(site)): text_of(p) for p in site.rglob("*.html")}
    texts["copier.yml helps"] = " ".join(q["help"] for q in spec.values() if isinstance(q, dict) and "help" in q)
    texts["README.md"] = (REPO_ROOT / "README.md").read_text()
    for name, text in texts.items():
        assert not re.search(r"TK-0503|\bthe spec\b|\bthe spec's\b|specification", text), name


def test_troubleshooting_gives_each_refusal_with_what_to_do_and_no_raw_variable(site: Path) -> None:
    from test_answer_rules import BROKEN_RULES

    page = re.sub(r"\s+", " ", text_of(site / "troubleshooting/index.html"))
    for _answers, expected in BROKEN_RULES:
        assert re.sub(r"\s+", " ", expected) in page, expected
    assert page.count("Copier stops with:") == page.count("What to do:") > 30  # each refusal has its fix
    # The scripts' messages as the default tree says them: no shell or PowerShell left in.
    assert not re.search(r"\$\w|\$\{|\$\(", page), re.search(r".{40}(\$\w|\$\{|\$\().{40}", page)
    assert page.count("Cause:") == page.count("Fix:") > 50


def test_the_reference_shows_defaults_as_the_operator_sees_them(site: Path) -> None:
    page = text_of_fragment((site / "questions/index.html").read_text())
    assert "{{" not in page and "Default: False" not in page and "Default: True" not in page
    assert "Default: /etc/tokmesh-server/tls/tls.crt (follows config_dir)" in page
    assert "Type: one or more of the choices" in page  # platforms, not "str"
