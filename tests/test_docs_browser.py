"""The documentation site as a reader meets it: every page opened in headless Chromium
(Debian's, driven by Playwright without a browser of its own) at a desktop and a phone
width. A table or code block wider than its box, a link to a page or anchor that does not
exist, or a search for a question's name that finds nothing fails. Each page's screenshot
is kept under build/screenshots/<width>/<page>.png.

The checks are functions of a page, so tests/test_docs_browser.py's last tests can show
each of them catching a broken fixture page."""

from __future__ import annotations

import functools
import html
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest
import yaml
from conftest import REPO_ROOT, require

pytestmark = pytest.mark.checkers

WIDTHS = (1280, 390)  # a laptop; a phone (iPhone 12 to 15)
SCREENSHOTS = REPO_ROOT / "build" / "screenshots"
QUESTIONS = [name for name in yaml.safe_load((REPO_ROOT / "copier.yml").read_text()) if not name.startswith("_")]
# Debian's package; CHROMIUM names another build.
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")

# Boxes whose content must fit: a table (Material wraps each in a scrolling box) and a code
# block; and the page itself. scrollWidth beyond clientWidth is content cut off or scrolled.
OVERFLOW_JS = """() => {
  const out = [];
  const root = document.scrollingElement;
  if (root.scrollWidth > window.innerWidth + 1) out.push(`the page: ${root.scrollWidth}px in ${window.innerWidth}px`);
  for (const el of document.querySelectorAll('.md-content table, .md-typeset__scrollwrap, .md-content pre > code')) {
    if (el.scrollWidth > el.clientWidth + 1) {
      const what = el.tagName.toLowerCase() === 'code' ? 'code block' : 'table';
      const text = el.innerText.trim().split('\\n')[0].slice(0, 60);
      out.push(`${what} "${text}": ${el.scrollWidth}px in ${el.clientWidth}px`);
    }
  }
  return out;
}"""
LINKS_JS = "() => [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))"


# ---- the checks -------------------------------------------------------------------------

def overflowing(page) -> list[str]:
    return page.evaluate(OVERFLOW_JS)


def ids_of(built: Path) -> set[str]:
    return {html.unescape(i) for i in re.findall(r'\sid="([^"]+)"', built.read_text())}


def broken_links(site: Path, page_url: str, hrefs: list[str], base: str) -> list[str]:
    """Links from the page at ``page_url`` to a file of the site that is missing, or to an
    anchor its page does not have. Other sites' links are not followed (no network)."""
    broken = []
    for href in dict.fromkeys(hrefs):
        target = urlparse(urljoin(page_url, href))
        if not urljoin(page_url, href).startswith(base):
            continue
        path = site / unquote(target.path[len(urlparse(base).path):])
        if path.is_dir() or not path.suffix:
            path = path / "index.html"
        if not path.is_file():
            broken.append(f"{href}: no such page")
        elif target.fragment and path.suffix == ".html" and unquote(target.fragment) not in ids_of(path):
            broken.append(f"{href}: no such anchor on {path.relative_to(site)}")
    return broken


def search_results(page, query: str) -> int:
    """How many documents the site's own search lists for ``query``, typed as a reader would."""
    toggle = page.locator("label.md-header__button[for='__search']").first
    if toggle.is_visible():  # a phone's search button; on a wide screen the box is in the header
        toggle.click()
    box = page.locator("input.md-search__input")
    meta = page.locator(".md-search-result__meta")
    # An empty box first, so that the next count shown is the whole query's, not a stale one;
    # the search runs on a key press (End), once, on the whole query.
    box.fill("")
    box.press("End")
    page.wait_for_function("() => /Type to start/i.test(document.querySelector('.md-search-result__meta')?.innerText)",
                           timeout=10_000)
    box.fill(query)
    box.press("End")
    page.wait_for_function("() => /matching/i.test(document.querySelector('.md-search-result__meta')?.innerText)",
                           timeout=10_000)
    text = meta.inner_text()
    if "No matching" in text:
        return 0
    found = re.search(r"(\d+) matching", text)
    return int(found.group(1)) if found else len(page.locator(".md-search-result__item").all())


# ---- the site, served --------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    require(CHROMIUM is not None, "no Chromium (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "no Playwright (requirements.lock pins it)")
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def serve(root: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser-site") / "site"
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO_ROOT, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def base(site: Path) -> Iterator[str]:
    yield from serve(site)


def pages_of(site: Path) -> list[str]:
    """Every page of the site, as a path below its root ('' is the home page)."""
    return sorted(str(p.parent.relative_to(site)).removeprefix(".") for p in site.rglob("index.html")
                  if "assets" not in p.parts)


# ---- the site's pages ---------------------------------------------------------------------

@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_fits_and_links_only_to_what_exists(browser, site: Path, base: str, width: int) -> None:
    pages = pages_of(site)
    assert len(pages) >= 12, pages
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems = []
    for name in pages:
        url = base + (name + "/" if name else "")
        page.goto(url)
        problems += [f"{name or 'home'} at {width}px: {p}" for p in overflowing(page)]
        problems += [f"{name or 'home'}: {p}" for p in broken_links(site, url, page.evaluate(LINKS_JS), base)]
        shot = SCREENSHOTS / str(width) / f"{(name or 'index').replace('/', '-')}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shot), full_page=True)
    context.close()
    assert not problems, "\n".join(problems)


def test_searching_a_questions_name_finds_it(browser, base: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(base)
    empty = [name for name in QUESTIONS if search_results(page, name) == 0]
    page.close()
    assert not empty, f"the search finds nothing for: {', '.join(empty)}"


# ---- each check catches what it is for -----------------------------------------------------

BROKEN_PAGE = """<!doctype html><html><head><meta name="viewport" content="width=device-width">
<link rel="stylesheet" href="{assets}"></head><body><div class="md-content"><article class="md-typeset">
<h2 id="here">Here</h2>
<div class="md-typeset__scrollwrap"><div class="md-typeset__table"><table>
<tr><td>{wide}</td></tr></table></div></div>
<pre><code>{wide}</code></pre>
<a href="#here">fine</a> <a href="#nowhere">no anchor</a> <a href="missing/">no page</a>
<a href="https://example.org/">elsewhere</a>
</article></div></body></html>"""


@pytest.fixture
def broken_site(site: Path, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A copy of the site with one more page, which breaks every rule."""
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    stylesheet = next((copy / "assets/stylesheets").glob("main.*.min.css")).relative_to(copy)
    (copy / "broken").mkdir()
    (copy / "broken/index.html").write_text(BROKEN_PAGE.format(assets=f"../{stylesheet}", wide="x" * 300))
    for url in serve(copy):
        yield copy, url


@pytest.mark.parametrize("width", WIDTHS)
def test_the_checks_catch_a_wide_table_a_wide_code_block_and_broken_links(browser, broken_site, width: int) -> None:
    copy, base = broken_site
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(base + "broken/")
    found = overflowing(page)
    assert any(p.startswith("table") for p in found), found
    assert any(p.startswith("code block") for p in found), found
    broken = broken_links(copy, base + "broken/", page.evaluate(LINKS_JS), base)
    assert broken == ["#nowhere: no such anchor on broken/index.html", "missing/: no such page"], broken
    page.close()


def test_the_search_check_sees_a_name_the_site_does_not_have(browser, base: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(base)
    assert search_results(page, "no_such_question_anywhere") == 0
    assert search_results(page, "service_name") > 0
    page.close()
