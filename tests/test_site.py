"""`fusion-course site` builds the course as an offline website, and a real browser reads it.

The site is built once (from copies of the stored notebooks, which must not change), served by
``http.server`` on 127.0.0.1, and opened in Debian's chromium driven by Playwright (no browser download).
Every request that would leave loopback is aborted and counted as a failure: the site must work in a
room without internet. On each lesson page the equations must be typeset by MathJax, every image must
load and carry alt text, the headings must form an outline and the console must stay free of errors.
The next links lead from lesson 00 to lesson 08, the search finds a lesson, and axe-core (the copy
shipped by the ``axe-playwright-python`` package) finds no serious or critical accessibility violation.

Screenshots for a person to look at go to ``test-artifacts/site/`` (git-ignored): lesson 01 with its
equations, lesson 05's figures and a search result.
"""
from __future__ import annotations

import functools
import hashlib
import http.server
import importlib.util
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from fusion_course.cli import main as cli
from fusion_course.commands import site as site_command

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts" / "site"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
BUILD_BUDGET_S = 120  # the target on 2 cores
LOOPBACK = {"127.0.0.1"}

# Sphinx announces API changes for its next major version; they concern the themes, not this test.
pytestmark = pytest.mark.filterwarnings("ignore:.*Check CHANGES for Sphinx API modifications")


def _skip_reason() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (install Debian's chromium package to run the site's browser test)"
    missing = [package for module, package in {**site_command.TOOLS, "playwright": "playwright",
               "axe_playwright_python": "axe-playwright-python"}.items() if importlib.util.find_spec(module) is None]
    if missing:
        return f"the site extra is not installed (missing: {', '.join(missing)}): pip install -e '.[site]'"
    return None


def _lessons():
    from fusion_course.site.pages import read_course

    return read_course(ROOT)


def _tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.ipynb")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


# --- fixtures: one build, one server, one browser ---------------------------------------------------

@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("site") / "site"
    before = {name: _tree_digest(ROOT / name) for name in ("notebooks", "exercises")}
    start = time.perf_counter()
    assert cli(["site", "--out", str(out), "--quiet"]) == 0
    seconds = time.perf_counter() - start
    print(f"\nsite built in {seconds:.0f} s")
    assert seconds < BUILD_BUDGET_S, f"the site took {seconds:.0f} s to build; the target is {BUILD_BUDGET_S} s"
    after = {name: _tree_digest(ROOT / name) for name in ("notebooks", "exercises")}
    assert after == before, "building the site modified a stored notebook"
    return out


@pytest.fixture(scope="module")
def base_url(built_site):
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output readable
        pass


@pytest.fixture(scope="module")
def browser(built_site):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


class Watched:
    """A page whose requests outside loopback are aborted and recorded, and whose console errors are kept."""

    def __init__(self, browser) -> None:
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("response", lambda r: r.status >= 400 and self.errors.append(f"HTTP {r.status}: {r.url}"))

    def _route(self, route) -> None:
        url = route.request.url
        if urlparse(url).scheme in ("data", "blob") or urlparse(url).hostname in LOOPBACK:
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def open(self, url: str) -> None:
        self.page.goto(url, wait_until="load")
        self.page.wait_for_load_state("networkidle")

    def assert_clean(self, where: str) -> None:
        assert not self.outside, f"{where}: requests left loopback: {self.outside}"
        assert not self.errors, f"{where}: console errors: {self.errors}"


@pytest.fixture
def watched(browser):
    w = Watched(browser)
    yield w
    w.context.close()


# --- what the browser checks on a page --------------------------------------------------------------

_MATH_JS = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  const maths = Array.from(document.querySelectorAll('article .math'));
  return {math: maths.length, rendered: maths.filter(m => m.querySelector('mjx-container')).length,
          errors: document.querySelectorAll('mjx-merror').length};
}"""

_IMAGES_JS = """async () => {
  const images = Array.from(document.images);
  images.forEach(img => { img.loading = 'eager'; });
  await Promise.all(images.map(img => img.complete ? null : new Promise(r => { img.onload = img.onerror = r; })));
  return images.map(img => ({src: img.getAttribute('src'), loaded: img.naturalWidth > 0,
                             alt: img.getAttribute('alt'), inArticle: !!img.closest('article')}));
}"""

_HEADINGS_JS = """() => Array.from(document.querySelectorAll('article h1, article h2, article h3, article h4, article h5, article h6'))
  .filter(h => h.offsetParent !== null || h.closest('details')).map(h => [Number(h.tagName[1]), h.textContent.trim()])"""

_AXE_JS = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
}"""


def _axe_violations(page) -> list[dict]:
    """Serious and critical accessibility violations that axe-core finds on the page."""
    axe = Path(importlib.util.find_spec("axe_playwright_python").origin).parent / "axe.min.js"
    page.add_script_tag(path=str(axe))
    return [v for v in page.evaluate(_AXE_JS) if v["impact"] in ("serious", "critical")]


def _plain_quotes(text: str) -> str:
    """Sphinx typesets quotes (’ for '); compare titles without that difference."""
    return text.translate(str.maketrans("‘’“”", "''\"\""))


def _check_outline(headings: list, where: str) -> None:
    levels = [level for level, _ in headings]
    assert levels and levels[0] == 1 and levels.count(1) == 1, f"{where}: one h1 first, got {headings[:5]}"
    for (previous, _), (level, text) in zip(headings, headings[1:]):
        assert level <= previous + 1, f"{where}: heading {text!r} jumps from h{previous} to h{level}"


def _lesson_ids():
    try:
        return [lesson.number for lesson in _lessons()]
    except Exception:  # noqa: BLE001 - collection must not fail; the build test reports it
        return ["00"]


@pytest.mark.parametrize("number", _lesson_ids())
@pytest.mark.slow
@pytest.mark.browser
def test_lesson_page_in_a_real_browser(number, base_url, watched):
    lesson = next(lesson for lesson in _lessons() if lesson.number == number)
    page = watched.page
    watched.open(f"{base_url}/{lesson.docname}.html")
    where = lesson.notebook
    h1 = _plain_quotes(page.locator("article h1").first.inner_text())
    title = _plain_quotes(lesson.title.replace("`", "").replace("*", ""))
    assert h1.rstrip("#").strip() == title, f"{where}: the page's h1 is {h1!r}, the notebook's title {title!r}"

    math = page.evaluate(_MATH_JS)
    assert math["rendered"] == math["math"], f"{where}: {math['math'] - math['rendered']} equations not typeset"
    assert math["errors"] == 0, f"{where}: MathJax reports {math['errors']} TeX errors"
    if number in ("00", "01"):
        assert math["math"] > 0, f"{where}: the formula of the course is missing"

    images = page.evaluate(_IMAGES_JS)
    assert all(img["loaded"] for img in images), f"{where}: images that did not load: {[i for i in images if not i['loaded']]}"
    figures = [img for img in images if img["inArticle"]]
    assert all(img["alt"] and img["alt"].strip() for img in figures), f"{where}: figures without alt text"

    _check_outline(page.evaluate(_HEADINGS_JS), where)
    info = page.locator("article div.course-info")
    assert info.count() == 1, f"{where}: the box with level, exercises and `fusion-course lab` is missing"
    text = info.inner_text()
    assert "fusion-course lab" in text and lesson.notebook in text
    assert (lesson.level == "start" or f"Level: {lesson.level}" in text), f"{where}: level not shown"
    if lesson.exercise:
        assert page.locator(f"article a[href$='{Path(lesson.exercise).stem}.html']").count() >= 1
    if number == "01":
        live = page.locator("article div.course-live")
        assert live.count() == 1 and "fusion-course lab" in live.inner_text(), "the Fusion Simulator's note is missing"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if number == "01":
        page.locator("article div.math").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "lesson01_equations.png"))
    if number == "05" and figures:
        page.locator("article img").first.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "lesson05_figures.png"))

    watched.assert_clean(where)  # before axe, whose style-sheet loader asks for files of its own
    violations = _axe_violations(page)
    assert not violations, f"{where}: accessibility violations: {violations}"


@pytest.mark.slow
@pytest.mark.browser
def test_next_links_lead_from_lesson_00_to_08(base_url, watched):
    lessons = _lessons()
    page = watched.page
    watched.open(f"{base_url}/")  # index.html sends the browser to the home page, lesson 00
    page.wait_for_url(f"**/{lessons[0].docname}.html")
    for lesson in lessons[1:]:
        page.locator("a.right-next").first.click()
        page.wait_for_url(f"**/{lesson.docname}.html")
    assert page.locator("a.left-prev").count() >= 1
    watched.assert_clean("next links")


@pytest.mark.slow
@pytest.mark.browser
def test_search_finds_a_lesson(base_url, watched):
    page = watched.page
    watched.open(f"{base_url}/search.html?q=Fusion+Simulator")
    found = page.locator("#search-results ul.search li a")
    found.first.wait_for(timeout=30_000)
    targets = [found.nth(i).get_attribute("href") for i in range(found.count())]
    assert any("notebooks/01_fusion_formula.html" in href for href in targets), targets
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "search.png"))
    watched.assert_clean("search")
    violations = _axe_violations(page)
    assert not violations, f"search page: accessibility violations: {violations}"


@pytest.mark.slow
@pytest.mark.browser
def test_exercise_page_links_back_to_its_lesson(base_url, watched):
    lesson = next(lesson for lesson in _lessons() if lesson.exercise)
    page = watched.page
    watched.open(f"{base_url}/{lesson.exercise.removesuffix('.ipynb')}.html")
    assert page.locator(f"article a[href$='{lesson.docname.split('/')[-1]}.html']").count() >= 1
    assert lesson.exercise in page.locator("article div.course-info").inner_text()
    watched.assert_clean(lesson.exercise)
    violations = _axe_violations(page)
    assert not violations, f"{lesson.exercise}: accessibility violations: {violations}"


@pytest.mark.slow
@pytest.mark.browser
def test_site_has_no_address_outside_itself(built_site):
    assert site_command.external_references(built_site) == []
    assert (built_site / "_static" / "mathjax" / site_command.MATHJAX_FILE).is_file()
    assert (built_site / "index.html").is_file() and (built_site / "search.html").is_file()


@pytest.mark.slow
@pytest.mark.browser
def test_every_page_names_an_icon_that_exists(built_site):
    """Browsers ask every page for an icon: without one, each page logs a 404 in the console (issue 24)."""
    import re

    assert (built_site / "favicon.ico").is_file()           # for a page without the link: index.html redirects
    pages = sorted(p for p in built_site.rglob("*.html") if "_static" not in p.parts and p.name != "index.html")
    assert pages
    for html in pages:
        icons = re.findall(r'<link[^>]*rel="(?:shortcut )?icon"[^>]*href="([^"]+)"', html.read_text(encoding="utf-8"))
        assert icons, f"{html.relative_to(built_site)} names no icon"
        assert all((html.parent / href).resolve().is_file() for href in icons), (html, icons)


_CUT_OFF_JS = """() => Array.from(document.querySelectorAll('article pre')).filter(pre => {
  if (pre.scrollWidth <= pre.clientWidth + 1) { return false; }      // it fits
  for (let el = pre; el && el.tagName !== 'ARTICLE'; el = el.parentElement) {
    const x = getComputedStyle(el).overflowX;
    if (x === 'auto' || x === 'scroll') { return false; }            // wider than its box, but it scrolls
  }
  return true;
}).map(pre => pre.textContent.split('\\n').reduce((a, b) => (b.length > a.length ? b : a), '').slice(0, 80))"""


@pytest.mark.parametrize("number", ["03", "04", "08"])
@pytest.mark.slow
@pytest.mark.browser
def test_long_code_lines_scroll_instead_of_being_cut_off(number, base_url, browser):
    """A narrow window: every code block or output wider than its box can be scrolled sideways."""
    lesson = next(lesson for lesson in _lessons() if lesson.number == number)
    context = browser.new_context(viewport={"width": 700, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{base_url}/{lesson.docname}.html", wait_until="load")
        assert page.locator("article pre").count() > 0
        assert page.evaluate(_CUT_OFF_JS) == [], f"{lesson.notebook}: code lines cut off at the page's edge"
    finally:
        context.close()


def test_the_site_ships_an_icon_and_scrolling_code():
    """Without building: conf.py names an icon that the static folder has, and long code scrolls."""
    here = Path(site_command.__file__).resolve().parents[1] / "site"
    conf = (here / "conf.py").read_text(encoding="utf-8")
    assert 'html_favicon = "_static/favicon.svg"' in conf
    icon = here / "static" / "favicon.svg"
    assert icon.is_file() and icon.read_text(encoding="utf-8").lstrip().startswith("<svg")
    assert 'html_extra_path = ["_static/root"]' in conf
    assert (here / "static" / "root" / "favicon.ico").read_bytes()[:4] == b"\x00\x00\x01\x00"   # an ICO file
    css = (here / "static" / "course.css").read_text(encoding="utf-8")
    assert "article div.highlight pre" in css and "overflow-x: auto" in css


# --- without a browser: errors people meet, and alt text ------------------------------------------------

def test_unwritable_out_dir_is_one_line_and_exit_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    if _skip_reason() and "site extra" in _skip_reason():
        pytest.skip(_skip_reason())
    assert cli(["site", "--out", str(blocker / "site")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fusion-course site: error: cannot write the site to") and "\n" not in err, err


def test_missing_tool_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(site_command.TOOLS, "no_such_module_for_the_site", "no-such-package")
    assert cli(["site", "--out", "unused"]) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install -e '.[site]'" in err and "no-such-package" in err and "\n" not in err, err


def test_show_stores_alt_text_that_the_site_uses():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fusion_course.figures import alt_text, figure_output
    from fusion_course.site.pages import figure_alts, image_key

    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [0, 1, 4])
    data, metadata = figure_output(fig, alt="A parabola rising from 0 to 4.")
    plt.close(fig)
    output = {"output_type": "display_data", "data": data, "metadata": metadata}
    assert alt_text(output) == "A parabola rising from 0 to 4."
    assert data["text/plain"] == "Figure: A parabola rising from 0 to 4."
    bare = {"output_type": "display_data", "metadata": {},
            "data": {"image/png": data["image/png"][:-8] + "AAAAAAA=", "text/plain": "<Figure size 640x480 with 2 Axes>"}}
    nb = {"cells": [
        {"cell_type": "markdown", "source": "# Lesson 99 · Test\n\n## 1. Curves", "metadata": {}},
        {"cell_type": "code", "source": "show(fig, alt=...)", "metadata": {}, "outputs": [output, bare]},
    ]}
    alts = figure_alts(nb)
    assert alts[image_key("image/png", data["image/png"])] == "A parabola rising from 0 to 4."
    fallback = alts[image_key("image/png", bare["data"]["image/png"])]
    assert "Lesson 99 · Test" in fallback and "1. Curves" in fallback and "2 panels" in fallback
    with pytest.raises(ValueError, match="alt must be a sentence"):
        figure_output(None, alt="  ")


def test_pages_replace_live_widgets_without_touching_the_notebook():
    import copy
    import json

    from fusion_course.site.pages import WIDGET_VIEW, prepare_notebook, read_course

    lessons = read_course(ROOT)
    assert [lesson.number for lesson in lessons][:1] == ["00"]
    assert {lesson.level for lesson in lessons[1:]} <= {"easy", "moderate", "hard"}
    for lesson in lessons:
        path = ROOT / lesson.notebook
        stored = path.read_bytes()
        nb = json.loads(stored)
        page = prepare_notebook(copy.deepcopy(nb), lesson, kind="lesson")
        outputs = [o for cell in page["cells"] for o in cell.get("outputs", [])]
        assert not any(WIDGET_VIEW in o.get("data", {}) for o in outputs), lesson.notebook
        assert "widgets" not in page.get("metadata", {})
        assert "fusion-course lab" in json.dumps(page["cells"][:3])
        assert path.read_bytes() == stored


def test_simulator_with_a_stored_picture_keeps_it_and_says_how_to_run_it():
    import base64

    from fusion_course.site.pages import WIDGET_VIEW, Lesson, figure_alts, image_key, prepare_notebook

    png = base64.b64encode(b"\x89PNG\r\n\x1a\n not really a picture").decode("ascii")
    simulator = {"output_type": "display_data", "metadata": {},
                 "data": {WIDGET_VIEW: {"model_id": "x"}, "image/png": png, "text/plain": "VBox(...)"}}
    nb = {"metadata": {"widgets": {"state": {}}}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# Lesson 01 · Test\n\n**Level: easy.**"},
        {"cell_type": "code", "metadata": {}, "source": "simulator = FusionSimulator(maps)\nsimulator",
         "outputs": [simulator]},
    ]}
    lesson = Lesson("01", "notebooks/01_test.ipynb", "Lesson 01 · Test", "easy", None)
    alts = figure_alts(nb)
    assert "Fusion Simulator" in alts[image_key("image/png", png)]
    outputs = prepare_notebook(nb, lesson, kind="lesson")["cells"][1]["outputs"]
    assert [sorted(o["data"]) for o in outputs] == [["image/png", "text/plain"], ["text/markdown", "text/plain"]]
    assert "fusion-course lab" in outputs[1]["data"]["text/markdown"] and "widgets" not in nb["metadata"]


def test_simulator_cell_saved_without_output_still_says_how_to_run_it():
    from fusion_course.site.pages import Lesson, prepare_notebook

    nb = {"metadata": {}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# Lesson 01 · Test"},
        {"cell_type": "code", "metadata": {}, "source": "FusionSimulator(maps)", "outputs": []},
    ]}
    lesson = Lesson("01", "notebooks/01_test.ipynb", "Lesson 01 · Test", "easy", None)
    outputs = prepare_notebook(nb, lesson, kind="lesson")["cells"][1]["outputs"]
    assert len(outputs) == 1 and "runs live in JupyterLab" in outputs[0]["data"]["text/markdown"]
