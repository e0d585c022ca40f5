"""The tablet page in a real browser (Chromium at tablet size), against a running daemon."""

from __future__ import annotations

import pytest

from tests.support.browser import TABLET_LANDSCAPE, launch_chromium, sync_playwright
from tests.support.daemon_helpers import Daemon, free_port, simulate_captures, write_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    return simulate_captures(tmp_path_factory.mktemp("replay"), seeds=(21,))


@pytest.fixture
def tablet(tmp_path, replay):
    """The daemon on replayed photos, and a tablet-sized Chromium page open on it."""
    config = write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port())
    with Daemon(config) as daemon, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport=TABLET_LANDSCAPE)
            page.goto(daemon.url)
            yield page, daemon
        finally:
            browser.close()


def test_capture_on_the_tablet_shows_the_numbers_and_the_three_annotated_photos(tablet):
    page, daemon = tablet
    page.get_by_role("button", name="Capture").click()
    page.wait_for_selector("#banner.ok, #banner.retake", timeout=60_000)
    stored = daemon.get("/api/captures").json()
    assert len(stored) == 1
    capture = stored[0]
    assert page.locator("#banner").inner_text().startswith("Measured" if capture["status"] == "ok" else "Retake")
    if capture["status"] == "ok":
        girth = capture["measurements"]["heart_girth_cm"]
        row = page.locator("#measurements tr", has_text="Heart girth")
        assert f"{girth:.1f} cm" in row.inner_text()
    photos = page.locator("#images img")
    assert photos.count() == 3
    page.wait_for_function("[...document.querySelectorAll('#images img')].every(i => i.complete && i.naturalWidth > 0)")
    assert sorted(photos.nth(i).get_attribute("alt") for i in range(3)) == ["front camera", "side camera", "top camera"]
