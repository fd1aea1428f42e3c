"""The player page driven in real Chromium through Playwright: inside Jupyter's ``<iframe srcdoc>`` (where
``history.replaceState`` is refused) and with node names that try to break out of the page's ``<script>``.

Debian's ``chromium`` is launched (never a downloaded browser); every wait is for a condition, with a
generous timeout, so a busy machine makes the tests slower, never red.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import viz
from tinygrad_nn import Value
from viz.cli import _scalar_cost

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(os.environ.get("TINYGRAD_NN_SKIP_BROWSER") == "1",
                                reason="TINYGRAD_NN_SKIP_BROWSER=1")
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api") if CHROMIUM else None
    if CHROMIUM is None:
        pytest.fail("headless Chromium is needed for the player tests: apt-get install chromium "
                    "(or set TINYGRAD_NN_SKIP_BROWSER=1 to skip them)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _open(browser, path: Path, width: int = 1000, height: int = 800):
    """A new page at `path`, collecting its uncaught errors; returns (page, errors)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(path.resolve().as_uri())
    return page, errors


_IN_VIEW = """(box) => {   // the running Value's box (not its op) overlaps the visible part of the graph's scroll box
  const node = Array.from(box.querySelectorAll("g.node.current"))
    .find(g => g.querySelector("title").textContent.startsWith("v"));
  if (!node) return "no current node";
  const r = node.getBoundingClientRect(), c = box.getBoundingClientRect();
  const inside = r.right > c.left && r.left < c.right && r.bottom > c.top && r.top < c.bottom;
  return inside ? "ok" : `node at x ${r.left | 0}–${r.right | 0}, view ${c.left | 0}–${c.right | 0}`;
}"""


def test_the_player_follows_the_step_inside_a_jupyter_iframe(browser, tmp_path: Path) -> None:
    """Jupyter shows `_repr_html_`: the page in an <iframe srcdoc>, where replaceState throws SecurityError.
    Every step must still run to the end: the label, the panel and the scroll box follow the running node."""
    cost = _scalar_cost([2, 3, 1], 0, "quadratic")
    animation = viz.animate_backward(cost)
    host = tmp_path / "notebook.html"   # a narrow output cell: the graph must scroll to show each node
    host.write_text(f"<!DOCTYPE html><html><body>{animation._repr_html_().replace('width:100%', 'width:460px')}"
                    f"</body></html>", encoding="utf-8")
    page, errors = _open(browser, host)
    frame = page.frame_locator("iframe")
    frame.locator("#step-label").wait_for()
    n = animation.steps
    for k in range(1, n + 1):
        if k > 1:
            frame.locator("#next").click()
        assert frame.locator("#step-label").text_content() == f"step {k} of {n}"
        assert frame.locator("#graph").evaluate(_IN_VIEW) == "ok", f"step {k}"
    assert errors == []
    page.close()


NASTY = ["<!--<script>x", "</script><script>window.__pwned = 1</script>", "a\u2028b\u2029c", "x</SCRIPT >&amp;",
         "\\\"'<img src=x onerror=window.__pwned=2>"]


def test_names_cannot_break_the_players_script(browser, tmp_path: Path) -> None:
    """Names that close the <script>, open an HTML comment or hold U+2028 travel as text: the page runs,
    steps, shows them verbatim, and no injected script runs."""
    x = Value(1.5, name=NASTY[0])
    w = Value(-0.5, name=NASTY[1])
    u = x * w
    u.name = NASTY[2]
    c = (u + Value(2.0, name=NASTY[3])).tanh() * Value(3.0, name=NASTY[4])
    c.name = NASTY[1]
    path = viz.animate_backward(c, tmp_path / "nasty.html", title=NASTY[0])
    page, errors = _open(browser, path)
    page.locator("#step-label").wait_for()
    assert page.locator("#step-label").text_content().startswith("step 1 of ")
    panels = []
    for _ in range(4):
        panels.append(page.locator("#panel").text_content())
        page.locator("#next").click()
    panels.append(page.locator("#panel").text_content())
    shown = "\n".join(panels)
    for name in (NASTY[0], NASTY[1], NASTY[2]):
        assert name in shown, name
    assert page.evaluate("() => window.__pwned") is None
    assert page.evaluate("() => document.querySelectorAll('script').length") == 2   # the data and the player
    assert page.locator("h1").text_content().startswith(NASTY[0])
    assert errors == []
    page.close()
