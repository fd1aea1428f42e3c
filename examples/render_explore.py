"""Screenshots of the explorer page (`tinygrad-nn explore`) in headless Chromium: docs/explore.png for the README,
and with --all the states worth checking by eye (initial, trained, a neuron, a weight, the digits) in a folder.

    PYTHONPATH=. python examples/render_explore.py [--all DIR]

Needs the [explore] extra, playwright (python package) and Debian's `chromium` (never a downloaded browser).
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from viz.explorer import explore

ROOT = Path(__file__).resolve().parents[1]


def _frames(page: Page) -> int:
    return page.evaluate("() => window.__explore.frames")


def _wait_frame(page: Page, before: int) -> None:
    while _frames(page) <= before:
        page.wait_for_timeout(30)


def _train(page: Page, steps: int) -> None:
    page.click("#play")
    while int(page.inner_text("#step-count")) < steps:
        page.wait_for_timeout(100)
    page.click("#play")
    page.wait_for_timeout(400)   # the last frame in flight


def _click(page: Page, selector: str) -> None:
    before = _frames(page)
    if selector.startswith("[data-weight"):
        page.dispatch_event(selector, "click")
    else:
        page.click(selector)
    _wait_frame(page, before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", metavar="DIR", help="also write the states worth checking into DIR")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("headless Chromium is needed for the screenshots: apt-get install chromium")
    out = Path(args.all) if args.all else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    explorer = explore(data="circle", seed=0)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
            page.goto(explorer.url)
            page.wait_for_selector("body.ready")
            if out:
                page.screenshot(path=out / "1-initial.png", full_page=True)
            _train(page, 1500)
            if out:
                page.screenshot(path=out / "2-trained.png", full_page=True)
            _click(page, '[data-neuron="3,2"]')
            page.screenshot(path=ROOT / "docs" / "explore.png", full_page=True)
            if out:
                page.screenshot(path=out / "3-neuron.png", full_page=True)
                _click(page, '[data-neuron="4,2"]')
                page.screenshot(path=out / "4-output.png", full_page=True)
                _click(page, '[data-weight="3,2,1"]')
                page.screenshot(path=out / "5-weight.png", full_page=True)
                page.select_option("#data", "digits")
                page.wait_for_selector("#digit-box:not([hidden])")
                _train(page, 800)
                _click(page, '[data-neuron="3,4"]')
                page.screenshot(path=out / "6-digits.png", full_page=True)
            browser.close()
    finally:
        explorer.stop()
    print(f"wrote {ROOT / 'docs' / 'explore.png'}" + (f" and the states in {out}" if out else ""))


if __name__ == "__main__":
    main()
