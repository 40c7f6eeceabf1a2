"""The built book, checked as a reader would see it: offline, in headless Chromium.

Run after ``make book-test`` (``make test`` does both); ``SEQLAB_BOOK_HTML`` points at the built
HTML. Without a built book or without Chromium these tests skip with a message, except under CI
(``CI=true``), where either is a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = Path(os.environ.get("SEQLAB_BOOK_HTML", ROOT / "_build" / "test" / "_build" / "html"))
SCREENSHOTS = ROOT / "_build" / "screenshots"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Errors that the Jupyter Book theme itself logs on every page (FACTS.md), allowed by name.
KNOWN_THEME_ERRORS = (
    "Identifier 'THEBE_JS_URL' has already been declared",
    # pydata-sphinx-theme, on a browser profile with no stored light/dark choice
    "Got invalid theme mode: . Resetting to auto.",
)
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

pytestmark = pytest.mark.book


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} (CI=true: this is a failure, not a skip)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def html_dir() -> Path:
    if not (HTML / "index.html").is_file():
        _missing(f"no built book at {HTML}; run `make book-test` first")
    return HTML


def chapter_pages(html_dir: Path) -> list[Path]:
    """Every page made from a chapter of the book (the notebooks and intro)."""
    sources = sorted((ROOT / "book").glob("*.ipynb")) + [ROOT / "book" / "intro.md"]
    pages = [html_dir / "book" / f"{src.stem}.html" for src in sources]
    missing = [p for p in pages if not p.is_file()]
    assert not missing, f"chapters missing from the built book: {missing}"
    return pages


def test_no_page_loads_anything_from_a_cdn(html_dir):
    offenders = []
    for page in html_dir.rglob("*.html"):
        text = page.read_text(encoding="utf-8", errors="replace")
        for tag, url in re.findall(r"<(script|link)\b[^>]*?(?:src|href)=[\"']([^\"']+)", text):
            if urlparse(url).scheme in ("http", "https") or url.startswith("//"):
                if tag == "script" or "stylesheet" in text[text.find(url) - 200 : text.find(url)]:
                    offenders.append(f"{page.relative_to(html_dir)}: <{tag}> {url}")
    assert not offenders, "pages load from the network:\n" + "\n".join(offenders)


def test_plotly_and_mathjax_are_served_by_the_book(html_dir):
    assert (html_dir / "_static" / "plotly.min.js").stat().st_size > 1_000_000
    assert (html_dir / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_every_chapter_has_a_colab_launch_button(html_dir):
    for src in sorted((ROOT / "book").glob("*.ipynb")):
        text = (html_dir / "book" / f"{src.stem}.html").read_text(encoding="utf-8")
        assert "colab.research.google.com/github/" in text, f"{src.stem}: no Colab launch button"


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        _missing("Chromium is not installed (Debian: apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    home = tempfile.mkdtemp(prefix="seqlab-chromium-")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium,
            headless=True,
            env={**os.environ, "HOME": home},
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def server(html_dir):
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output readable
        pass


_READY_JS = """() => document.fonts.status === 'loaded' &&
  [...document.querySelectorAll('.js-plotly-plot')].every(g => g.querySelector('svg.main-svg')) &&
  (!document.querySelector('.math') || !!(window.MathJax && MathJax.startup))"""


def open_page(browser, url: str):
    """Open ``url`` with every non-local request blocked and recorded; return (page, log)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log = {"external": [], "errors": []}

    def route(r):
        host = urlparse(r.request.url).hostname
        if r.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            r.continue_()
        else:
            log["external"].append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: log["errors"].append(str(e)))
    page.on(
        "console",
        lambda m: log["errors"].append(m.text) if m.type == "error" else None,
    )
    page.goto(url, wait_until="load")
    # Ready when every Plotly figure has drawn, the web fonts are in and MathJax has started
    # (not Chromium's "network idle": the appendix page never reaches it although no request stays pending). A figure that
    # never draws is reported by the tests, so a timeout here is not an error.
    try:
        page.wait_for_function(_READY_JS, timeout=15_000)
    except Exception as e:  # playwright's TimeoutError; playwright is imported lazily here
        if type(e).__name__ != "TimeoutError":
            raise
    # MathJax 3 resolves this promise once the page is typeset.
    page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    return page, log


def unexpected_errors(log) -> list[str]:
    return [
        e
        for e in log["errors"]
        if not any(known in e for known in KNOWN_THEME_ERRORS)
        # a blocked external request shows up as a console error; it is reported separately
        and "net::ERR_FAILED" not in e
    ]


def test_chapter_pages_render_offline_and_their_sliders_move(html_dir, server, browser):
    """Every chapter page, opened once: screenshot; every Plotly figure drawn, math typeset,
    nothing from a CDN, no JavaScript error, no layout fault (:data:`_LAYOUT_JS`), no widget
    view; then every figure with a slider, moved to its last step, changes what is drawn."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems = []
    moved = 0
    for path in chapter_pages(html_dir):
        rel = path.relative_to(html_dir).as_posix()
        page, log = open_page(browser, f"{server}/{rel}")
        page.screenshot(path=str(SCREENSHOTS / f"{path.stem}.png"), full_page=True)
        plots = page.locator(".js-plotly-plot")
        for i in range(plots.count()):
            if plots.nth(i).locator("svg.main-svg").count() == 0:
                problems.append(f"{rel}: Plotly figure {i} did not draw")
        n_math = page.locator(".math, span.math, div.math").count()
        if n_math and page.locator("mjx-container").count() == 0:
            problems.append(f"{rel}: {n_math} math elements, none typeset by MathJax")
        if re.search(r"\\\(|\\\[|\$\$", page.locator("article").inner_text()):
            problems.append(f"{rel}: raw TeX delimiters visible in the text")
        problems += [f"{rel}: {p}" for p in page.evaluate(_LAYOUT_JS)]
        body = page.content()
        if "Loading widget" in body or "application/vnd.jupyter.widget-view+json" in body:
            problems.append(f"{rel}: a widget view reached the static book")
        problems += [f"{rel}: request to a non-local host {u}" for u in log["external"]]
        problems += [f"{rel}: JavaScript error: {e}" for e in unexpected_errors(log)]
        problems += [f"{rel}: {p}" for p in _move_every_slider(page)]
        moved += page.evaluate(_N_SLIDERS_JS)
        page.close()
    assert not problems, "\n".join(problems)
    assert moved > 0, "no chapter has a slider figure"


_N_SLIDERS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')]
  .filter(gd => (gd.layout.sliders || []).length).length"""


def _move_every_slider(page) -> list[str]:
    """Move every slider of the page to its last step; the figures whose drawing did not change."""
    problems = []
    for i in range(page.evaluate(_N_SLIDERS_JS)):
        before = page.evaluate(_STATE_JS, i)
        rail = page.locator(".js-plotly-plot:has(.slider-container) .slider-rail-rect").nth(i)
        rail.scroll_into_view_if_needed()
        box = rail.bounding_box()
        page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
        page.wait_for_timeout(300)
        if page.evaluate(_STATE_JS, i) == before:
            problems.append(f"moving slider {i} did not change the plot")
    return problems


def test_timeline_chapter_draws_its_figure_and_math(html_dir, server, browser):
    page, _ = open_page(browser, f"{server}/book/00_timeline.html")
    assert page.locator(".js-plotly-plot svg.main-svg").count() >= 1
    assert page.locator(".js-plotly-plot .scatterlayer .point").count() >= 10
    assert page.locator("mjx-container").count() >= 3
    page.close()


# What a reader would see as broken, found in the rendered page (a list of messages):
# - math MathJax could not typeset: an error node, or a TeX command left as text in the
#   assistive MathML it keeps (e.g. <mtext>\texttt{...}</mtext>);
# - a table row whose cells (colspans counted) differ from the header's (a '|' inside math
#   splits a Markdown table cell);
# - code or output wider than the column (a horizontal scrollbar at 1280 px).
_LAYOUT_JS = r"""() => {
  const out = [];
  const article = document.querySelector('article') || document.body;
  for (const e of article.querySelectorAll('mjx-merror, mjx-container [data-mjx-error]'))
    out.push('math error: ' + (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 80));
  for (const t of article.querySelectorAll('mjx-assistive-mml mtext'))
    if (/\\[a-zA-Z]+/.test(t.textContent)) out.push('untypeset TeX: ' + t.textContent.slice(0, 80));
  const width = r => [...r.cells].reduce((n, c) => n + (c.colSpan || 1), 0);
  for (const table of article.querySelectorAll('table')) {
    const rows = [...table.rows];
    if (!rows.length) continue;
    const n = width(rows[0]);
    rows.forEach((r, i) => { if (width(r) !== n) out.push(
      `table row ${i} has ${width(r)} cells, header ${n}: ` + r.innerText.slice(0, 60)); });
  }
  for (const pre of article.querySelectorAll('pre')) {
    if (pre.closest('.js-plotly-plot')) continue;
    if (pre.scrollWidth > pre.clientWidth + 2) out.push(
      `wider than the column (${pre.scrollWidth} > ${pre.clientWidth} px): ` +
      (pre.innerText.split('\n').find(l => l.length > 80) || '').slice(0, 60));
  }
  // tables and display equations: wider than the box that scrolls them, or than the article
  const right = article.getBoundingClientRect().right;
  const scroller = e => {
    for (let a = e; a && a !== article; a = a.parentElement)
      if (/auto|scroll|hidden/.test(getComputedStyle(a).overflowX)) return a;
    return null;
  };
  for (const e of article.querySelectorAll('table, mjx-container[display="true"]')) {
    if (e.closest('.js-plotly-plot')) continue;
    const box = scroller(e) || e;
    const what = e.tagName === 'TABLE' ? 'table' : 'equation';
    if (box.scrollWidth > box.clientWidth + 2 || e.getBoundingClientRect().right > right + 2)
      out.push(`${what} wider than the column (${box.scrollWidth} > ${box.clientWidth} px): ` +
               [...e.innerText.replace(/\s+/g, ' ')].slice(0, 60).join(''));
  }
  // TeX left as text in the prose: $...\command...$ or \command{ outside code
  for (const p of article.querySelectorAll('p, li, td, th, dd')) {
    if (p.closest('pre, code, .highlight, mjx-container')) continue;
    let text = '';
    for (const n of p.childNodes) if (n.nodeType === 3) text += n.textContent;
    const m = text.match(/\$[^$]*\\[a-zA-Z]+[^$]*\$|\\[a-zA-Z]+\{/);
    if (m) out.push('raw TeX in the text: ' + [...m[0]].slice(0, 60).join(''));
  }
  return out;
}"""


# The visible traces and their data of the i-th figure with a slider.
_STATE_JS = """(i) => {
  const gd = [...document.querySelectorAll('.js-plotly-plot')]
    .filter(g => (g.layout.sliders || []).length)[i];
  return JSON.stringify(gd.data.map(t => [t.visible, t.y, t.z]));
}"""


def choose_menu_entry(page, gd, n: int) -> None:
    """Open the dropdown of the figure ``gd`` (a locator) and click its entry ``n``."""
    gd.scroll_into_view_if_needed()
    gd.locator(".updatemenu-header-group").click()
    page.wait_for_timeout(300)
    gd.locator(".updatemenu-dropdown-button").nth(n).click()
    page.wait_for_timeout(300)


def test_attention_heatmaps_draw_and_their_controls_change_them(html_dir, server, browser):
    """Chapter 4: the alignment heatmaps drew, the math typeset, and a reader's clicks on the
    heatmap's dropdown (input, attention kind) and then on its slider (training step) change
    what is drawn, without a JavaScript error."""
    page, log = open_page(browser, f"{server}/book/04_attention.html")
    assert page.locator(".js-plotly-plot .heatmaplayer").count() >= 1, "no heatmap drew"
    assert page.locator("mjx-container").count() >= 10, "the chapter's math did not typeset"
    i = page.evaluate(_MENU_INDEX_JS)
    assert i >= 0, "no heatmap figure with a dropdown"
    gd = page.locator(".js-plotly-plot").nth(i)
    before = page.evaluate(_HEATMAP_STATE_JS, i)
    choose_menu_entry(page, gd, 1)  # the second entry
    picked = page.evaluate(_HEATMAP_STATE_JS, i)
    assert picked != before, "choosing another dropdown entry did not change the heatmap"
    box = gd.locator(".slider-rail-rect").bounding_box()
    page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)  # last step
    page.wait_for_timeout(300)
    moved = page.evaluate(_HEATMAP_STATE_JS, i)
    assert moved != picked, "moving the training-step slider did not change the heatmap"
    assert not unexpected_errors(log), unexpected_errors(log)
    page.close()


def test_transformer_heads_heatmaps_change_with_input_layer_and_head(html_dir, server, browser):
    """Chapter 5: the GPT's heads and the encoder-decoder's cross-attention heads drew as
    heatmaps; for each, the dropdown (input x layer) and the slider (head) change the map."""
    page, log = open_page(browser, f"{server}/book/05_transformer.html")
    indices = page.evaluate(_HEAD_HEATMAPS_JS)
    assert len(indices) >= 2, "the GPT heads and cross-attention heatmaps did not both draw"
    for i in indices:
        gd = page.locator(".js-plotly-plot").nth(i)
        before = page.evaluate(_HEATMAP_STATE_JS, i)
        choose_menu_entry(page, gd, 1)
        picked = page.evaluate(_HEATMAP_STATE_JS, i)
        assert picked != before, f"figure {i}: the dropdown did not change the heatmap"
        box = gd.locator(".slider-rail-rect").bounding_box()
        page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)  # last head
        page.wait_for_timeout(300)
        assert page.evaluate(_HEATMAP_STATE_JS, i) != picked, f"figure {i}: slider did nothing"
    assert not unexpected_errors(log), unexpected_errors(log)
    page.close()


# Heatmap figures with a "head" slider and a dropdown of several entries.
_HEAD_HEATMAPS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')]
  .map((gd, i) => [gd, i])
  .filter(([gd]) => gd.data.some(t => t.type === 'heatmap')
    && (gd.layout.updatemenus || []).some(m => (m.buttons || []).length > 1)
    && (gd.layout.sliders || []).some(
      s => JSON.stringify(s.currentvalue || {}).includes('head')))
  .map(([, i]) => i)"""


_MENU_INDEX_JS = """() => [...document.querySelectorAll('.js-plotly-plot')]
  .findIndex(gd => (gd.layout.updatemenus || []).length
                   && gd.data.some(t => t.type === 'heatmap'))"""

# The visible traces (their z) of the i-th figure on the page.
_HEATMAP_STATE_JS = """(i) => {
  const gd = document.querySelectorAll('.js-plotly-plot')[i];
  return JSON.stringify(gd.data.filter(t => t.visible !== false).map(t => t.z));
}"""


def test_cost_chapter_draws_its_measurements_and_switches_time_and_memory(
    html_dir, server, browser
):
    """Chapter 6: the timing and memory figures and the copy-task figure drew, the math typeset,
    and the attention figure's dropdown switches between time and memory."""
    page, log = open_page(browser, f"{server}/book/06_attention_cost.html")
    assert page.locator(".js-plotly-plot .scatterlayer .point").count() >= 10, "no points drew"
    assert page.locator(".js-plotly-plot").count() >= 3, "a figure of the chapter is missing"
    assert page.locator("mjx-container").count() >= 5, "the chapter's math did not typeset"
    i = page.evaluate(_MENU_ONLY_INDEX_JS)
    assert i >= 0, "no figure with a dropdown (the attention time/memory figure)"
    gd = page.locator(".js-plotly-plot").nth(i)
    before = page.evaluate(_VISIBLE_Y_JS, i)
    choose_menu_entry(page, gd, 1)  # time -> memory
    assert page.evaluate(_VISIBLE_Y_JS, i) != before, "the dropdown did not change the figure"
    assert not unexpected_errors(log), unexpected_errors(log)
    page.close()


_MENU_ONLY_INDEX_JS = """() => [...document.querySelectorAll('.js-plotly-plot')]
  .findIndex(gd => (gd.layout.updatemenus || []).length
                   && !(gd.layout.sliders || []).length)"""

# The visible traces (their y) of the i-th figure on the page.
_VISIBLE_Y_JS = """(i) => {
  const gd = document.querySelectorAll('.js-plotly-plot')[i];
  return JSON.stringify(gd.data.filter(t => t.visible !== false).map(t => t.y));
}"""


def test_scaling_chapter_live_fit_moves_with_its_controls(html_dir, server, browser):
    """Chapter 7: the sweep's figures drew, the math typeset, and the live L(N) fit's dropdown
    (count of N x budget) and slider (smallest sizes left out) change the fit drawn."""
    page, log = open_page(browser, f"{server}/book/07_scaling.html")
    assert page.locator(".js-plotly-plot").count() >= 5, "a figure of the chapter is missing"
    assert page.locator("mjx-container").count() >= 5, "the chapter's math did not typeset"
    i = page.evaluate(_LIVE_FIT_JS)
    assert i >= 0, "no L(N) fit figure with a 'left out' slider and a dropdown"
    gd = page.locator(".js-plotly-plot").nth(i)
    before = page.evaluate(_VISIBLE_Y_JS, i)
    choose_menu_entry(page, gd, 0)  # the first budget: the page opens on the longest
    picked = page.evaluate(_VISIBLE_Y_JS, i)
    assert picked != before, "the dropdown did not change the fit"
    box = gd.locator(".slider-rail-rect").bounding_box()
    page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(300)
    assert page.evaluate(_VISIBLE_Y_JS, i) != picked, "the slider did not change the fit"
    assert not unexpected_errors(log), unexpected_errors(log)
    page.close()


def test_data_pages_draw_forecasts_tokens_and_math(html_dir, server, browser):
    """Chapter 8b: the sunspot forecasts (truth + six models) and the two tokenizer panels
    drew, the math typeset, and a legend click hides a model's forecast."""
    page, log = open_page(browser, f"{server}/book/08b_time_series_and_tokens.html")
    assert page.locator(".js-plotly-plot").count() >= 2, "a figure of the page is missing"
    n_traces = page.evaluate(_TRACE_COUNTS_JS)
    assert n_traces[0] >= 7, f"the forecast figure has {n_traces[0]} traces (truth + 6 models)"
    assert page.locator("mjx-container").count() >= 3, "the page's math did not typeset"
    gd = page.locator(".js-plotly-plot").nth(0)
    before = page.evaluate(_VISIBILITY_JS)
    gd.locator(".legend .traces .legendtoggle").nth(1).click()  # hide the first model
    page.wait_for_timeout(1000)  # plotly waits out its double-click delay before it toggles
    assert page.evaluate(_VISIBILITY_JS) != before, "the legend click hid nothing"
    assert not unexpected_errors(log), unexpected_errors(log)
    page.close()


_LIVE_FIT_JS = """() => [...document.querySelectorAll('.js-plotly-plot')]
  .findIndex(gd => (gd.layout.updatemenus || []).length
    && (gd.layout.sliders || []).some(
      s => JSON.stringify(s.currentvalue || {}).includes('left out')))"""
_SLIDER_AND_MENU_INDEX_JS = """() => [...document.querySelectorAll('.js-plotly-plot')]
  .findIndex(gd => (gd.layout.updatemenus || []).length && (gd.layout.sliders || []).length)"""

_VISIBLE_FLAGS_JS = """(i) => {
  const gd = document.querySelectorAll('.js-plotly-plot')[i];
  return JSON.stringify([gd.data.map(t => t.visible), (gd.layout.title || {}).text]);
}"""


def test_choosing_chapter_shows_its_table_and_its_recommendation_answers(html_dir, server, browser):
    """Chapter 8: the measured table has one row per property with links to the sections that
    measured it; the "when to use what" figure drew and its dropdown (latency budget, budget)
    switches to another precomputed recommendation."""
    page, log = open_page(browser, f"{server}/book/08_choosing.html")
    table = page.locator("table.seqlab-choosing")
    assert table.count() == 1, "the comparison table is missing"
    assert table.locator("tbody tr").count() == 8, "one row per property expected"
    assert table.locator("a[href*='03_gru.html']").count() >= 1, "no link to chapter 3"
    assert table.locator("a[href*='07_scaling.html']").count() >= 1, "no link to chapter 7"
    assert page.locator(".js-plotly-plot").count() >= 3, "a figure of the chapter is missing"
    assert page.locator(".js-plotly-plot .barlayer .point").count() >= 3, "no bars drew"
    i = page.evaluate(_SLIDER_AND_MENU_INDEX_JS)
    assert i >= 0, "no figure with a slider and a dropdown (the recommendation)"
    gd = page.locator(".js-plotly-plot").nth(i)
    before = page.evaluate(_VISIBLE_FLAGS_JS, i)
    choose_menu_entry(page, gd, 1)
    assert page.evaluate(_VISIBLE_FLAGS_JS, i) != before, "the dropdown changed nothing"
    assert not unexpected_errors(log), unexpected_errors(log)
    page.close()


_TRACE_COUNTS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')]
  .map(gd => gd.data.length)"""
_VISIBILITY_JS = """() => JSON.stringify(
  document.querySelectorAll('.js-plotly-plot')[0].data.map(t => t.visible))"""
