"""Every page of the website in a real browser, at desktop and phone width, as an online reader sees it.

Debian's Chromium (Playwright) opens the site built by the ``site`` fixture,
served on loopback, with the CDN scripts answered from local npm copies
(site_browser.py). Pages come from _toc.yml, so new chapters are covered
without changing this file.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

import nbtools
import site_browser as B
from site_build import toc_files

pytestmark = [pytest.mark.book, pytest.mark.browser]

PAGES = toc_files()
NOTEBOOK_PAGES = [f for f in PAGES if (nbtools.ROOT / f"{f}.ipynb").is_file()]
WIDTHS = {"desktop": B.DESKTOP, "phone": B.PHONE}
MAX_FIGURE_PIXELS = 1050  # course_utils.plot.MAX_WIDTH (10 in) at 100 dpi, plus room for a tight bounding box

# Text a reader sees, without code, scripts and typeset math: what must not look like TeX.
VISIBLE_PROSE = """() => {
  const root = (document.querySelector('main article') || document.querySelector('main') || document.body).cloneNode(true);
  root.querySelectorAll('pre, code, kbd, script, style, mjx-container, .highlight, .MathJax').forEach(e => e.remove());
  return root.textContent;
}"""
# MathJax typesets after "load"; wait for it, for the fonts and for every image (at most 60 s)
SETTLED = """async () => {
  const settled = (async () => {
    if (window.MathJax?.startup?.promise) await MathJax.startup.promise;
    await document.fonts.ready;
    await Promise.all([...document.images].filter(i => !i.complete)
      .map(i => new Promise(done => { i.addEventListener('load', done); i.addEventListener('error', done); })));
  })();
  await Promise.race([settled, new Promise(done => setTimeout(done, 60000))]);
}"""
RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\(?:frac|mathbf|mathrm|sigma|sum|partial|begin|end|left|right|text|tfrac|nabla|theta|alpha|hat|lfloor|cdot)\b|(?<![\w$])\$[^\s$][^$\n]{0,80}\$")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    try:
        B.install_assets()
        B.chromium_executable()
    except B.SetupError as err:
        pytest.fail(str(err))
    with sync_playwright() as p:
        chromium = B.launch(p)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def base_url(site):
    with B.serve(site) as url:
        yield url


class Reader:
    """One page in one viewport, with everything the browser complained about."""

    def __init__(self, browser, base_url: str, page_name: str, viewport: dict) -> None:
        self.context = browser.new_context(viewport=viewport)
        self.offline = B.Offline()
        self.offline.attach(self.context)
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"failed request: {r.url}")
                     if B.is_local(r.url) else None)
        self.page.on("response", lambda r: self.errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
        self.page.goto(urljoin(base_url, page_name + ".html"), wait_until="load", timeout=60_000)
        self.page.evaluate(SETTLED)

    def close(self) -> None:
        self.context.close()


@pytest.fixture(params=list(WIDTHS), scope="module")
def width(request):
    return request.param


@pytest.fixture(params=PAGES, scope="module")
def reader(request, browser, base_url, width):
    reader = Reader(browser, base_url, request.param, WIDTHS[width])
    reader.name = request.param
    yield reader
    reader.close()


def test_no_console_errors_and_nothing_fetched_from_outside(reader):
    assert not reader.errors, f"{reader.name}: {reader.errors[:5]}"
    assert not reader.offline.refused, f"{reader.name} requested URLs that have no local copy: {reader.offline.refused[:5]}"


def test_header_icons_are_drawn(reader):
    """The icon font (the theme's Font Awesome style sheet) loads and draws the header buttons."""
    page = reader.page
    loaded = page.evaluate("() => [...document.fonts].filter(f => /Font Awesome/.test(f.family) && f.status === 'loaded').length")
    icons = page.evaluate("""() => [...document.querySelectorAll('.article-header-buttons i, .article-header-buttons svg')]
        .filter(i => i.offsetParent !== null).map(i => i.getBoundingClientRect().width)""")
    assert loaded and icons and min(icons) > 4, f"{reader.name}: header icons not drawn (fonts {loaded}, widths {icons})"


def test_math_is_typeset(reader):
    page = reader.page
    untypeset = page.evaluate("""() => [...document.querySelectorAll('.math')]
        .filter(e => !e.querySelector('mjx-container')).map(e => e.textContent.slice(0, 80))""")
    assert not untypeset, f"{reader.name}: math left untypeset: {untypeset[:3]}"
    errors = page.evaluate("() => [...document.querySelectorAll('mjx-merror')].map(e => e.textContent)")
    assert not errors, f"{reader.name}: TeX errors: {errors[:3]}"
    prose = page.evaluate(VISIBLE_PROSE)
    raw = [prose[max(0, m.start() - 40): m.end() + 40] for m in RAW_TEX.finditer(prose)]
    assert not raw, f"{reader.name}: raw TeX in the text: {raw[:3]}"


def test_no_sideways_scroll(reader):
    overflow = reader.page.evaluate("""() => {
        const width = document.documentElement.clientWidth;
        const wide = [...document.querySelectorAll('body *')].filter(e => {
            const r = e.getBoundingClientRect();
            return r.width > 0 && r.right > width + 1 && getComputedStyle(e).position !== 'fixed';
        }).filter(e => { let p = e.parentElement;  // ignore content inside a box that scrolls by itself
            while (p) { const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll' || o === 'hidden') return false; p = p.parentElement; }
            return true; });
        return {scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 3).map(e => e.tagName + '.' + e.className)};
    }""")
    assert overflow["scroll"] <= overflow["width"], f"{reader.name} scrolls sideways: {overflow}"


def test_widgets_are_live_or_a_static_figure_with_a_note(reader):
    page = reader.page
    assert "Loading widget" not in page.inner_text("body"), f"{reader.name} shows 'Loading widget'"
    inert = page.evaluate("""() => [...document.querySelectorAll(
        '.cell_output :is(input, select, textarea, button:not(.copybtn), .widget-slider, .widget-dropdown, .jupyter-widgets)')]
        .map(e => e.outerHTML.slice(0, 120))""")
    assert not inert, f"{reader.name}: controls that cannot do anything without a kernel: {inert[:3]}"
    notes = page.evaluate("""() => [...document.querySelectorAll('.course-explorer-note')].map(note => {
        const cell = note.closest('.cell');
        return {text: note.textContent, figure: !!(cell && cell.querySelector('.cell_output img'))};
    })""")
    for note in notes:
        assert note["text"].strip().startswith("\u25b6 Run the notebook to explore") and note["figure"], note


def test_solutions_are_folded(reader):
    page = reader.page
    details = page.locator("main details")
    for i in range(details.count()):
        block = details.nth(i)
        assert block.get_attribute("open") is None, f"{reader.name}: solution {i} starts open"
        assert block.locator("summary").is_visible()
        hidden = block.locator(":scope > :not(summary)")
        assert hidden.count() and not any(hidden.nth(j).is_visible() for j in range(hidden.count())), \
            f"{reader.name}: the content of solution {i} shows while folded"
    assert ":class: dropdown" not in page.inner_text("main")


def test_figures_fit_and_are_readable(reader, width):
    figures = reader.page.evaluate("""() => [...document.querySelectorAll('.cell_output img')].map(img => ({
        src: img.getAttribute('src'), natural: img.naturalWidth, shown: img.getBoundingClientRect().width}))""")
    too_wide = [f for f in figures if f["natural"] > MAX_FIGURE_PIXELS]
    assert not too_wide, f"{reader.name}: figures wider than 10 inches (course_utils.plot.MAX_WIDTH): {too_wide[:3]}"
    broken = [f["src"] for f in figures if f["natural"] == 0]
    assert not broken, f"{reader.name}: figures that did not load: {broken[:3]}"
    if width == "desktop":  # shown at 70 % of its size or more: a 10-pt label stays at 7 pt or more
        shrunk = [f for f in figures if f["natural"] >= 700 and f["shown"] < 0.7 * f["natural"]]
        assert not shrunk, f"{reader.name}: figures shrunk below 70 %: {shrunk[:3]}"


# The last two checks open menus (the last one leaves the page), so they run after the others on each page.
def _on_screen(page, locator, width: int) -> None:
    """Wait until ``locator`` is visible and has finished sliding into the viewport."""
    locator.wait_for(state="visible", timeout=5000)
    for _ in range(25):
        box = locator.bounding_box()
        if box and 0 <= box["x"] and box["x"] + min(box["width"], 100) <= width:
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"{locator} stays off screen: {locator.bounding_box()}")


def _off_screen(page, locator, width: int) -> None:
    """Wait until ``locator`` is hidden or has slid out of the viewport."""
    for _ in range(25):
        box = locator.bounding_box()
        if not locator.is_visible() or not box or box["x"] + box["width"] <= 0 or box["x"] >= width:
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"{locator} stays on screen: {locator.bounding_box()}")


def test_page_contents_open_on_a_phone(reader, width):
    if width != "phone":
        pytest.skip("on a desktop the page contents stand beside the text")
    page = reader.page
    if not page.locator(".bd-sidebar-secondary .toc-entry").count():
        pytest.skip(f"{reader.name} has no sections to list")
    page.locator("button.secondary-toggle:visible").click()
    _on_screen(page, page.locator(".bd-sidebar-secondary .toc-entry a").first, B.PHONE["width"])
    page.locator("label.overlay-secondary").click(position={"x": 10, "y": 10})  # close it again, as a reader taps beside it
    _off_screen(page, page.locator(".bd-sidebar-secondary .toc-entry a").first, B.PHONE["width"])


def test_menu_opens(reader, width):
    page = reader.page
    link = page.locator(".bd-sidebar-primary a.reference.internal").first
    toggle = page.locator("button.primary-toggle:visible")
    assert toggle.count() == 1, f"{reader.name}: no visible menu button"
    if width == "phone":
        assert not link.is_visible(), f"{reader.name}: the phone menu is open before it is asked for"
        toggle.click()
        _on_screen(page, link, B.PHONE["width"])
        with page.expect_navigation():
            link.click()  # and its entries can be followed
    else:
        assert link.is_visible(), f"{reader.name}: no table of contents beside the page"
        toggle.click()
        _off_screen(page, link, B.DESKTOP["width"])
        toggle.click()
        _on_screen(page, link, B.DESKTOP["width"])


@pytest.mark.parametrize("page_name", NOTEBOOK_PAGES)
def test_colab_button_opens_this_notebook(browser, base_url, page_name):
    url, branch = nbtools.repository()
    reader = Reader(browser, base_url, page_name, B.DESKTOP)
    try:
        expected = f"https://colab.research.google.com/github/{url.split('github.com/')[1]}/blob/{branch}/{page_name}.ipynb"
        link = reader.page.locator(f'a[href="{expected}"]')
        assert link.count() == 1, f"{page_name}: no Colab launch link {expected}"
        reader.page.locator("button[aria-label='Launch interactive content']").click()
        link.wait_for(state="visible", timeout=5000)
    finally:
        reader.close()


def _anchors(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


def test_no_broken_internal_links(site):
    from bs4 import BeautifulSoup

    broken = []
    cache: dict[Path, set[str]] = {}
    for page_name in PAGES:
        page = site / f"{page_name}.html"
        soup = BeautifulSoup(page.read_text(), "html.parser")
        for a in soup.find_all("a", href=True):
            href = a["href"]
            parts = urlsplit(href)
            if parts.scheme or href.startswith(("mailto:", "//")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page_name}: {href}")
                continue
            if parts.fragment and target.suffix == ".html":
                if target not in cache:
                    cache[target] = _anchors(target.read_text())
                if parts.fragment not in cache[target]:
                    broken.append(f"{page_name}: {href} (no such anchor)")
    assert not broken, f"broken internal links: {broken[:10]}"
