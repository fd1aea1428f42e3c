"""The explorer's page in real headless Chromium (Debian's `chromium`, driven by Playwright; no browser download):
the inspector's numbers against an independent numpy BP1–BP4 from /api/state for a hidden neuron, an output
neuron and a weight under both costs; step, play, editing a weight; bad input shown in the page; a file name
that stays text; and no request leaving 127.0.0.1, no page error. One browser for the module."""
from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from _explore import call, numpy_backprop

from viz.explorer import explore

if os.environ.get("TINYGRAD_NN_SKIP_BROWSER") == "1":
    pytest.skip("TINYGRAD_NN_SKIP_BROWSER=1", allow_module_level=True)

TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser() -> Iterator:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("headless Chromium is needed for the explorer tests: apt-get install chromium "
                    "(or set TINYGRAD_NN_SKIP_BROWSER=1 to skip them)")
    from playwright.sync_api import sync_playwright  # the [dev] extra brings it; its browser is Debian's

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def server() -> Iterator:
    explorer = explore(port=0)
    yield explorer
    explorer.stop()


class Page:
    """A page on the explorer that records every request and every page error."""

    def __init__(self, browser, url: str) -> None:
        self.url = url
        self.page = browser.new_page(viewport={"width": 1440, "height": 900})
        self.page.set_default_timeout(TIMEOUT_MS)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.goto(url)
        self.page.wait_for_selector("body.ready")

    def frames(self) -> int:
        return self.page.evaluate("() => window.__explore.frames")

    def until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while not condition():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            self.page.wait_for_timeout(50)

    def values(self) -> dict[str, float]:
        """The panel's numbers by role (data-q), at full precision (data-value)."""
        pairs = self.page.eval_on_selector_all("#panel [data-q]", "els => els.map(e => [e.dataset.q, e.dataset.value])")
        return {q: float(v) for q, v in pairs}

    def pick(self, selector: str) -> dict[str, float]:
        before = self.frames()
        if selector.startswith("[data-weight"):
            self.page.dispatch_event(selector, "click")    # a thin curve: click its element, not a pixel
        else:
            self.page.click(selector)
        self.until(lambda: self.frames() > before, f"the panel after clicking {selector}")
        return self.values()

    def close(self) -> None:
        port = self.url.split(":")[2].split("/")[0]
        self.page.close()
        outside = [u for u in self.requests if not (u.startswith(f"http://127.0.0.1:{port}/") or u.startswith("data:"))]
        assert not outside, outside
        assert not self.errors, self.errors


@pytest.fixture
def page(browser, server) -> Iterator[Page]:
    for body in ({"data": "circle", "sizes": [2, 4, 4, 2], "cost": "quadratic", "eta": 3.0, "batch_size": 10}, {}):
        assert call(server.url, "POST", "/api/config" if body else "/api/reset", body)[0] == 200
    p = Page(browser, server.url)
    yield p
    p.close()


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def check_panel(page: Page, url: str) -> None:
    """A hidden neuron (BP2), an output neuron (BP1) and a weight (BP4), each against numpy from /api/state."""
    state = call(url)[1]
    ref = numpy_backprop(state)
    eta = state["eta"]
    got = page.pick('[data-neuron="3,2"]')                                  # hidden: layer 3 of 2,4,4,2
    assert rel(got["z"], ref["z"][1][1]) < 1e-12 and rel(got["a"], ref["a"][2][1]) < 1e-12
    assert rel(got["sum"], state["weights"][2][0][1] * ref["delta"][2][0] + state["weights"][2][1][1] * ref["delta"][2][1]) < 1e-9
    assert rel(got["delta"], ref["delta"][1][1]) < 1e-9 and rel(got["closed"], ref["delta"][1][1]) < 1e-9
    assert rel(got["db"], ref["nabla_b"][1][1]) < 1e-9 and got["relerr"] < 1e-9
    assert rel(got["next"], state["biases"][1][1] - eta * ref["nabla_b"][1][1]) < 1e-9
    text = page.page.inner_text("#panel")
    assert "BP2" in text and "BP3" in text and "BP1" not in text
    got = page.pick('[data-neuron="4,1"]')                                  # output
    assert rel(got["delta"], ref["delta"][2][0]) < 1e-9 and got["y"] == ref["y"][0][0]
    formula = page.page.inner_text("#panel .eq.bp")
    assert "BP1" in formula and ("σ′" in formula) == (state["cost"] == "quadratic")
    got = page.pick('[data-weight="3,2,4"]')                                # w³₂₄
    assert rel(got["a-in"], ref["a"][1][3]) < 1e-12 and rel(got["delta"], ref["delta"][1][1]) < 1e-9
    assert rel(got["dw"], ref["nabla_w"][1][1][3]) < 1e-9 and rel(got["closed"], ref["nabla_w"][1][1][3]) < 1e-9
    assert rel(got["next"], state["weights"][1][1][3] - eta * ref["nabla_w"][1][1][3]) < 1e-9
    assert "BP4" in page.page.inner_text("#panel")


def test_inspector_quadratic_then_cross_entropy(page: Page, server) -> None:
    check_panel(page, server.url)
    page.page.select_option("#cost-fn", "cross-entropy")
    page.until(lambda: call(server.url)[1]["cost"] == "cross-entropy", "the cost to change")
    page.until(lambda: "cross-entropy" in page.page.inner_text("#example-line"), "the page to redraw")
    assert "cost=cross-entropy" in page.page.evaluate("() => location.hash")   # the lesson is in the URL
    check_panel(page, server.url)


def test_step_play_and_the_displayed_cost(page: Page, server) -> None:
    first = call(server.url)[1]
    page.page.click("#step")
    page.until(lambda: page.page.inner_text("#step-count") == "1", "one step")
    assert call(server.url)[1]["step"] == 1
    page.page.click("#play")
    page.until(lambda: int(page.page.inner_text("#step-count")) >= 100, "100 mini-batches while playing")
    page.page.click("#play")
    page.until(lambda: page.page.get_attribute("#play", "aria-pressed") == "false", "pause")
    state = call(server.url)[1]
    assert state["step"] >= 100 and state["training_cost"] != first["training_cost"]
    page.until(lambda: int(page.page.inner_text("#step-count")) == call(server.url)[1]["step"], "the last frame")
    shown = float(page.page.inner_text("#cost").replace("−", "-"))
    assert rel(shown, call(server.url)[1]["training_cost"]) < 1e-3
    assert page.page.locator("[data-neuron]").count() == 12 and page.page.locator("[data-weight]").count() == 32


def test_edit_a_weight_and_everything_recomputes(page: Page, server) -> None:
    page.pick('[data-weight="2,3,1"]')
    page.page.fill("#edit", "1.5")
    before = page.frames()
    page.page.press("#edit", "Enter")
    page.until(lambda: page.frames() > before, "the frame after the edit")
    state = call(server.url)[1]
    assert state["weights"][0][2][0] == 1.5
    got = page.values()
    ref = numpy_backprop(state)
    assert got["w"] == 1.5 and rel(got["dw"], ref["nabla_w"][0][2][0]) < 1e-9
    page.page.fill("#edit", "abc")
    page.page.press("#edit", "Enter")
    page.page.wait_for_selector("#error:not([hidden])")
    assert "value must be a number" in page.page.inner_text("#error")
    page.errors = [e for e in page.errors if "400" not in e]   # the browser logs the refused request


def test_bad_eta_and_layers_show_a_message(page: Page, server) -> None:
    page.page.fill("#eta", "-1")
    page.page.press("#eta", "Enter")
    page.page.wait_for_selector("#error:not([hidden])")
    assert "eta must be between" in page.page.inner_text("#error")
    assert call(server.url)[1]["eta"] == 3.0
    page.page.fill("#eta", "0.5")
    page.page.press("#eta", "Enter")
    page.page.wait_for_selector("#error[hidden]", state="attached")
    assert call(server.url)[1]["eta"] == 0.5
    page.page.click(".layer-count button:has-text('+')")
    page.until(lambda: page.page.locator("[data-neuron]").count() == 16, "a new hidden layer")
    assert call(server.url)[1]["sizes"] == [2, 4, 4, 4, 2]
    page.errors = [e for e in page.errors if "400" not in e]


def test_a_link_with_a_hash_reproduces_the_lesson_and_hides_controls(browser, server) -> None:
    p = Page(browser, server.url + "#data=xor&sizes=2,3,2&cost=cross-entropy&eta=0.7&batch=5&noise=0&seed=4&controls=0")
    try:
        p.until(lambda: call(server.url)[1]["sizes"] == [2, 3, 2], "the hash's network")
        state = call(server.url)[1]
        assert (state["data"], state["cost"], state["eta"], state["batch_size"], state["seed"]) == \
            ("xor", "cross-entropy", 0.7, 5, 4)
        assert not p.page.is_visible("#controls") and p.page.is_visible("#play")
    finally:
        p.close()


def test_digits_and_a_csv_name_that_stays_text(browser, tmp_path: Path) -> None:
    name = tmp_path / "<img src=x onerror=alert(1)>.csv"
    name.write_text("0,0,0\n1,1,1\n0.5,0.2,1\n-0.3,0.4,0\n")
    explorer = explore(data=str(name))
    try:
        p = Page(browser, explorer.url)
        assert p.page.locator("#data option[value=csv]").inner_text() == name.name
        assert p.page.locator("img").count() == 0
        p.page.select_option("#data", "digits")
        p.until(lambda: call(explorer.url)[1]["sizes"] == [64, 16, 10], "the digits network")
        p.page.wait_for_selector("#digit-box:not([hidden])")
        got = p.pick('[data-neuron="3,4"]')
        ref = numpy_backprop(call(explorer.url)[1])
        assert rel(got["delta"], ref["delta"][1][3]) < 1e-9
        p.close()
    finally:
        explorer.stop()
