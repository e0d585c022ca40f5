"""A day at the chute on the tablet page, in a real browser (Chromium at tablet size).

The daemon runs as on the farm, on replayed photos: a goat, then an empty chute, in turn.
"""

from __future__ import annotations

import csv
import io
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import requests

from edge.store import Store
from tests.support.browser import TABLET_LANDSCAPE, launch_chromium, sync_playwright
from tests.support.captures import earlier_capture
from tests.support.daemon_helpers import Daemon, free_port, simulate_captures, write_config

pytestmark = pytest.mark.slow
TOKEN = "barn-door-4512"


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    """A goat (seed-000021), then the chute empty (empty-000022), in turn from the first shot."""
    from edge.cli import main as goat_edge

    folder = simulate_captures(tmp_path_factory.mktemp("replay"), seeds=(21,))
    assert goat_edge(["simulate", "--seed", "22", "--goats", "0", "--out", str(folder / "empty-000022")]) == 0
    return folder


@contextmanager
def tablet_page(url: str):
    """Chromium at tablet size, open on `url`, closed on the way out."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport=TABLET_LANDSCAPE, accept_downloads=True)
            page.requested = []  # every URL the page asks for, to show nothing comes from beyond the Pi
            page.on("request", lambda request: page.requested.append(request.url))
            page.goto(url)
            yield page
        finally:
            browser.close()


@contextmanager
def open_tablet(tmp_path, replay, token: str | None = None):
    """The daemon as the farm runs it, with goat B7's history, and the page open on it."""
    data = tmp_path / "data"
    with Store.open(data) as store:  # goat B7 was measured twice before, 21 and 10 days ago
        store.add_goat("B7", name="Bramble")
        earlier_capture(store, "B7", 21, 12.0)
        earlier_capture(store, "B7", 10, 13.0)
        store.add_scale_weight("B7", 12.6, weighed_at=datetime.now(UTC) - timedelta(days=10))
    config = write_config(tmp_path / "edge.toml", data, replay, free_port())
    if token:
        config.write_text(config.read_text().replace("[api]\n", f'[api]\ntoken = "{token}"\n'))
    with Daemon(config) as daemon, tablet_page(daemon.url) as page:
        yield page, daemon


@pytest.fixture
def tablet(tmp_path, replay):
    with open_tablet(tmp_path, replay) as opened:
        yield opened


@pytest.fixture
def locked_tablet(tmp_path, replay):
    with open_tablet(tmp_path, replay, token=TOKEN) as opened:
        yield opened


BUTTON_PIN = 17


@pytest.fixture
def button_tablet(tmp_path, replay):
    """The daemon's parts in this process, its button on gpiozero's MockFactory so the test
    can press it, the API served by uvicorn in a thread, and the page open in Chromium."""
    import threading

    import uvicorn
    from gpiozero.pins.mock import MockFactory

    from edge.api.app import create_app
    from edge.config import load_config
    from edge.daemon.run import start_button
    from edge.pipeline.context import build_context

    port = free_port()
    button_section = f'[button]\nenabled = true\npin = {BUTTON_PIN}\npin_factory = "mock"\n'
    config = load_config(write_config(tmp_path / "edge.toml", tmp_path / "data", replay, port, extra=button_section))
    ctx = build_context(config)
    factory = MockFactory()
    button, light = start_button(ctx, factory)
    server = uvicorn.Server(uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the API did not start"
            time.sleep(0.05)
        with tablet_page(f"http://127.0.0.1:{port}") as page:
            yield page, factory.pin(BUTTON_PIN)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        button.close()
        light.close()
        ctx.close()
        factory.reset()


def scan(page, tag: str) -> None:
    """What a keyboard-wedge tag reader does: type the number, then Enter."""
    page.locator("#tag").fill(tag)
    page.locator("#tag").press("Enter")


def capture_and_wait(page, measuring_shown: bool = True) -> None:
    page.get_by_role("button", name="Capture", exact=True).click()
    if measuring_shown:  # the previous goat's numbers give way to "Measuring…" at once
        page.wait_for_selector("#banner.measuring", timeout=5_000)
        assert page.locator("#measurements tr").count() == 0
    page.wait_for_selector("#banner.ok, #banner.retake, #banner.error", timeout=60_000)


def background(page, selector: str) -> str:
    return page.eval_on_selector(selector, "e => getComputedStyle(e).backgroundColor")


def test_a_day_at_the_chute(tablet):
    page, daemon = tablet

    # An ear tag the Pi does not know yet is registered on the spot.
    scan(page, "A12")
    page.wait_for_selector("#register:not([hidden])")
    assert "No goat with tag A12 yet." in page.locator("#register").inner_text()
    page.locator("#reg-name").fill("Daisy")
    page.get_by_role("button", name="Register").click()
    page.wait_for_function("() => document.getElementById('goat-chip').textContent.includes('Daisy')")
    assert page.locator("#goat-chip").inner_text() == "Goat A12 · Daisy"

    # The capture: a goat in the chute, the numbers in large type, the box cleared for the next goat.
    capture_and_wait(page)
    first = daemon.get("/api/captures").json()[0]
    assert first["goat_tag"] == "A12" and first["status"] == "ok", first["reason"]
    assert page.locator("#banner").inner_text() == "✓ Measured goat A12"
    girth_row = page.locator("#measurements tr", has_text="Heart girth").inner_text()
    assert f"{first['measurements']['heart_girth_cm']:.1f} cm" in girth_row
    assert page.locator("#tag").input_value() == "" and page.locator("#goat-chip").inner_text() == ""
    ok_colour = background(page, "#banner")

    # Another client (the hardware button, another tablet) captures: it appears here untouched.
    # The chute is empty this time, so it is a retake, which looks nothing like a result.
    assert requests.post(daemon.url + "/api/captures", json={}, timeout=60).status_code == 201
    page.wait_for_selector("#banner.retake", timeout=5_000)
    retake = page.locator("#banner").inner_text()
    # What to do first, then what the cameras saw.
    assert retake.startswith("RETAKE\nBring the goat into the chute, or check that nothing covers the camera.\n")
    assert "side, top and front cameras: no goat in view" in retake and "another tablet" in retake
    assert background(page, "#banner") != ok_colour and page.locator("#measurements tr").count() == 0

    # The goats of the day are a tap away.
    page.locator("#recent-goats button", has_text="A12").click()
    page.wait_for_function("() => document.getElementById('goat-chip').textContent === 'Goat A12 · Daisy'")
    page.locator("#tag").fill("")

    # A goat measured before (a kid of 12 and 13 kg): the tag matched whatever its case and spaces, the change
    # since last time, the daily gain, and a flag: far above its trend.
    scan(page, " b7 ")
    page.wait_for_function("() => document.getElementById('goat-chip').textContent.startsWith('Goat B7')")
    capture_and_wait(page)
    latest = daemon.get(f"/api/captures/{daemon.get('/api/captures').json()[0]['id']}").json()
    growth = latest["growth"]
    assert latest["goat_tag"] == "B7" and growth["days_since_previous"] == pytest.approx(10, abs=0.01)
    change = page.locator("#change").inner_text()
    assert change.startswith("Since last capture (10 days ago): weight +")
    assert f"{abs(growth['weight_change_kg']):.1f} kg" in change
    assert f"gain +{growth['average_daily_gain_kg']:.2f} kg/day" in change
    assert growth["flagged"] and "above this goat's trend" in page.locator("#trend-flag").inner_text()

    # A photo enlarges when tapped.
    page.locator("#images img").first.click()
    assert page.locator("#overlay").is_visible()
    page.get_by_role("button", name="Close").click()
    assert not page.locator("#overlay").is_visible()

    # The day's export: every capture, with its goat and numbers.
    with page.expect_download() as download:
        page.get_by_role("link", name="Captures CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert [(r["goat_tag"], r["status"]) for r in rows] == [
        ("B7", "ok"),
        ("B7", "ok"),
        ("A12", "ok"),
        ("", "retake"),
        ("B7", "ok"),
    ]
    assert rows[2]["heart_girth_cm"] == f"{first['measurements']['heart_girth_cm']:g}"

    # Everything the page used came from the Pi: it works on a farm with no internet.
    assert page.requested and all(url.startswith(daemon.url + "/") for url in page.requested)
    assert requests.get(daemon.url + "/api/docs", timeout=10).status_code == 404  # it would need a CDN


def test_the_farmer_finds_a_goat_its_growth_chart_and_the_herds_alerts(tablet):
    page, _ = tablet
    scan(page, "B7")
    page.wait_for_function("() => document.getElementById('goat-chip').textContent.startsWith('Goat B7')")
    capture_and_wait(page)  # far above its trend of 12 and 13 kg

    page.get_by_role("button", name="Goats").click()
    page.locator("#goat-search").fill("bram")  # by name, any case
    page.wait_for_function("() => document.querySelectorAll('#goat-list tbody tr').length === 1")
    row = page.locator("#goat-list tbody tr")
    assert row.inner_text().startswith("B7\tBramble") and "⚠ off trend" in row.inner_text()
    row.click()
    page.wait_for_selector("#goat-view:not([hidden])")
    assert page.locator("#goat-title").inner_text() == "Goat B7 · Bramble"
    assert "3 captures" in page.locator("#goat-facts").inner_text()
    assert page.locator("#weight-chart circle.estimate").count() == 3
    assert page.locator("#weight-chart rect.scale").count() == 1  # the scale weight beside the estimates
    assert page.locator("#girth-chart circle.estimate").count() == 3
    assert page.locator("#history tbody tr").count() == 3
    assert "⚠ off trend" in page.locator("#history tbody tr").first.inner_text()
    assert page.locator("#weights").inner_text().startswith(day_ago(10))

    # The farmer tapes the goat's girth: it is kept, and a slip of the thumb is refused by name.
    page.get_by_label("Taped measurement").select_option("heart_girth_cm")
    page.get_by_label("Centimetres").fill("0")
    page.get_by_role("button", name="Save tape").click()
    page.wait_for_function("() => document.getElementById('banner').className === 'error'")
    assert "heart_girth_cm" in page.locator("#banner").inner_text()
    page.get_by_label("Centimetres").fill("81.5")
    page.get_by_role("button", name="Save tape").click()
    page.wait_for_function("() => document.getElementById('taped').innerText.includes('81.5 cm')")
    assert "heart girth" in page.locator("#taped").inner_text()

    # One goat's captures for the vet: the export filtered by goat.
    page.get_by_role("button", name="Goats").click()
    page.get_by_label("Export goat").fill("b7")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export captures CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert [r["goat_tag"] for r in rows] == ["B7", "B7", "B7"]

    page.get_by_role("button", name="Alerts").click()
    page.wait_for_selector("#alert-list tr.flagged")
    assert page.locator("#alert-list").inner_text().startswith("B7 · Bramble")
    assert "cloud sync not set up" in page.locator("#status").inner_text()


def test_a_hardware_button_capture_appears_on_the_tablet_untouched(button_tablet):
    page, pin = button_tablet
    page.wait_for_function("() => events !== null && events.readyState === EventSource.OPEN")
    pin.drive_low()  # the associate presses the button on the Pi
    time.sleep(0.1)
    pin.drive_high()
    page.wait_for_selector("#banner.ok", timeout=60_000)
    assert page.locator("#banner").inner_text() == "✓ Measured no goat named · from the button"
    assert page.locator("#measurements tr").count() == 8


def day_ago(days: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).date().isoformat()


def test_a_refused_value_is_named_and_a_lost_pi_is_said_in_plain_words(tablet):
    page, daemon = tablet
    scan(page, "C3")
    page.locator("#reg-tag").evaluate("e => e.removeAttribute('maxlength')")  # as a scripted client could
    page.locator("#reg-tag").fill("C" * 40)
    page.get_by_role("button", name="Register").click()
    page.wait_for_selector("#banner.error")
    assert page.locator("#banner").inner_text() == "tag: String should have at most 32 characters"

    page.locator("#tag").fill("")  # no goat named: the capture can still be assigned later
    capture_and_wait(page)
    assert page.locator("#measurements tr").count() == 8
    daemon.terminate()  # the Pi goes away (Wi-Fi down, power cut)
    capture_and_wait(page, measuring_shown=False)
    assert page.locator("#banner").inner_text() == (
        "The Pi did not answer. The capture may have been stored: check Recent before retaking."
    )
    assert page.locator("#measurements tr").count() == 0  # the last goat's numbers are gone
    page.wait_for_selector("#status.offline", timeout=15_000)


def test_with_a_token_the_tablet_asks_for_it_once_and_is_refused_without_it(locked_tablet):
    page, daemon = locked_tablet
    page.wait_for_selector("#login:not([hidden])")
    assert requests.post(daemon.url + "/api/captures", json={}, timeout=60).status_code == 401

    page.locator("#token").fill("wrong")
    page.get_by_role("button", name="Unlock").click()
    page.wait_for_selector("#banner.error")
    assert "that is not this Pi's API token" in page.locator("#banner").inner_text()

    page.locator("#token").fill(TOKEN)
    page.get_by_role("button", name="Unlock").click()
    page.wait_for_selector("#login[hidden]", state="attached")
    capture_and_wait(page)
    assert page.locator("#banner.ok, #banner.retake").count() == 1
    # The session outlives a reload, and the page's scripts cannot read it.
    page.reload()
    page.wait_for_function("() => document.getElementById('recent').children.length > 0")
    assert page.locator("#login").is_hidden() and page.evaluate("document.cookie") == ""
