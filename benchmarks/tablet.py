"""The tablet page in Chromium: page load, and the time from a capture's end to its result on screen.

    .venv/bin/python -m benchmarks.tablet [--runs 10] [--screenshots docs/images]

Runs the daemon on replayed photos (a goat, then an empty chute, in turn) and Debian's
chromium at 1280x800, and times, side by side:

- page load: navigation to the load event, and to the Recent list filled from the API;
- a capture the tablet asked for: from the capture's answer arriving at the browser to the
  result on screen;
- a capture from elsewhere (the button, another tablet): from the Pi's answer to that client
  to the result on this tablet's screen, through the event stream (/api/events).

Times are wall-clock milliseconds on one machine, so the browser's and this script's clocks
agree. With --screenshots, also writes each screen at 1280x800 and 800x1280 (the README's).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from edge.argtypes import positive_int
from edge.store import Store
from tests.support.browser import TABLET_LANDSCAPE, launch_chromium, sync_playwright
from tests.support.captures import earlier_capture
from tests.support.daemon_helpers import Daemon, free_port, simulate_captures, write_config

PORTRAIT = {"width": 800, "height": 1280}
# Records when the result banner last changed to a result, on the epoch clock.
WATCH_BANNER = """
window.__shownAt = null;
new MutationObserver(() => {
  const c = document.getElementById('banner').className;
  if (c === 'ok' || c === 'retake') window.__shownAt = performance.timeOrigin + performance.now();
}).observe(document.getElementById('banner'), {attributes: true, childList: true, subtree: true});
"""
CAPTURE_ANSWER_END = """
() => {
  const posts = performance.getEntriesByType('resource').filter(e => e.name.endsWith('/api/captures'));
  return performance.timeOrigin + posts[posts.length - 1].responseEnd;
}
"""


def replay_folder(root: Path) -> Path:
    from edge.cli import main as goat_edge

    folder = simulate_captures(root / "replay", seeds=(21,))
    assert goat_edge(["simulate", "--seed", "22", "--goats", "0", "--out", str(folder / "empty-000022")]) == 0
    return folder


def time_page_load(browser, url: str) -> tuple[float, float]:
    page = browser.new_page(viewport=TABLET_LANDSCAPE)
    start = time.time()
    page.goto(url, wait_until="load")
    loaded = time.time()
    page.wait_for_function("() => document.getElementById('recent').children.length > 0")
    filled = time.time()
    page.close()
    return 1000 * (loaded - start), 1000 * (filled - start)


def time_own_capture(page) -> float:
    page.evaluate(WATCH_BANNER)
    page.get_by_role("button", name="Capture", exact=True).click()
    page.wait_for_function("() => window.__shownAt !== null", timeout=60_000)
    return page.evaluate("window.__shownAt") - page.evaluate(CAPTURE_ANSWER_END)


def time_capture_from_elsewhere(page, url: str) -> float:
    page.evaluate(WATCH_BANNER)
    requests.post(url + "/api/captures", json={}, timeout=60).raise_for_status()
    answered_ms = 1000 * time.time()
    page.wait_for_function("() => window.__shownAt !== null", timeout=10_000)
    return page.evaluate("window.__shownAt") - answered_ms


def screenshots(browser, url: str, out: Path) -> list[Path]:
    """Each screen in both orientations: a result with the change since last time, a retake,
    registering a new tag, a goat's page, the herd's alerts."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, viewport in (("landscape", TABLET_LANDSCAPE), ("portrait", PORTRAIT)):
        page = browser.new_page(viewport=viewport)
        page.goto(url)
        page.locator("#tag").fill("B7")
        page.locator("#tag").press("Enter")
        page.wait_for_function("() => document.getElementById('goat-chip').textContent.startsWith('Goat B7')")
        for screen in ("result", "retake"):
            page.get_by_role("button", name="Capture", exact=True).click()
            page.wait_for_selector("#banner.ok, #banner.retake", timeout=60_000)
            page.wait_for_function("() => [...document.querySelectorAll('#images img')].every(i => i.complete)")
            written.append(out / f"tablet-{screen}-{name}.png")
            page.screenshot(path=written[-1], full_page=True)
        page.locator("#tag").fill("N41")
        page.locator("#tag").press("Enter")
        page.wait_for_selector("#register:not([hidden])")
        written.append(out / f"tablet-register-{name}.png")
        page.screenshot(path=written[-1])
        page.get_by_role("button", name="Goats").click()
        page.wait_for_selector("#goat-list tbody tr")
        page.locator("#goat-list tbody tr", has_text="B7").click()
        page.wait_for_selector("#weight-chart circle")
        written.append(out / f"tablet-goat-{name}.png")
        page.screenshot(path=written[-1], full_page=True)
        page.get_by_role("button", name="Alerts").click()
        page.wait_for_selector("#alert-list tr")
        written.append(out / f"tablet-alerts-{name}.png")
        page.screenshot(path=written[-1])
        page.close()
    return written


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):8.0f} {min(values):8.0f} {max(values):8.0f}"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=positive_int, default=10)
    p.add_argument("--screenshots", type=Path, help="folder for the screens' PNGs (docs/images)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with Store.open(root / "data") as store:
            store.add_goat("B7", name="Bramble")  # a kid weighed by the cameras 21 and 10 days ago
            earlier_capture(store, "B7", 21, 12.0)
            earlier_capture(store, "B7", 10, 13.0)
            store.add_scale_weight("B7", 12.6, weighed_at=datetime.now(UTC) - timedelta(days=10))
        config = write_config(root / "edge.toml", root / "data", replay_folder(root), free_port())
        with Daemon(config) as daemon, sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                for _ in range(2):  # a goat and an empty chute, so Recent has something to show
                    requests.post(daemon.url + "/api/captures", json={}, timeout=60).raise_for_status()
                rows = {"page load, to the load event": [], "page load, to Recent filled": []}
                own, elsewhere = [], []
                for _ in range(args.runs):
                    load_ms, filled_ms = time_page_load(browser, daemon.url)
                    rows["page load, to the load event"].append(load_ms)
                    rows["page load, to Recent filled"].append(filled_ms)
                page = browser.new_page(viewport=TABLET_LANDSCAPE)
                page.goto(daemon.url)
                page.wait_for_function("() => document.getElementById('recent').children.length > 0")
                for _ in range(args.runs):
                    own.append(time_own_capture(page))
                    elsewhere.append(time_capture_from_elsewhere(page, daemon.url))
                rows["result on screen, this tablet's capture"] = own
                rows["result on screen, a capture from elsewhere"] = elsewhere
                if args.screenshots:
                    for path in screenshots(browser, daemon.url, args.screenshots):
                        print(f"wrote {path}")
            finally:
                browser.close()
    print(f"{'ms, ' + str(args.runs) + ' runs each':46} {'median':>8} {'min':>8} {'max':>8}")
    for name, values in rows.items():
        print(f"{name:46} {summary(values)}")


if __name__ == "__main__":
    main()
