"""What the tablet page relies on from the API, checked against a running daemon."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
import requests

from tests.support.daemon_helpers import Daemon, free_port, simulate_captures, write_config

pytestmark = pytest.mark.slow
TOKEN = "barn-door-4512"


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    return simulate_captures(tmp_path_factory.mktemp("replay"), seeds=(21,))


@pytest.fixture
def daemon(tmp_path, replay):
    config = write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port(), api=f'token = "{TOKEN}"\n')
    with Daemon(config) as running:
        yield running


def bearer() -> dict:
    return {"Authorization": f"Bearer {TOKEN}"}


def first_event(daemon: Daemon, last_event_id: str) -> dict:
    """The first capture event of a stream opened as a reconnecting browser opens it."""
    with requests.get(
        daemon.url + "/api/events", headers={"Last-Event-ID": last_event_id}, stream=True, timeout=10
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines(decode_unicode=True)
        for line in lines:
            if line == "event: capture":
                event_id, data = next(lines), next(lines)
                return {"id": event_id.removeprefix("id: "), **json.loads(data.removeprefix("data: "))}
    raise AssertionError("no capture event")


def test_a_tablet_that_reconnects_gets_the_captures_stored_meanwhile(daemon):
    ids = [daemon.post("/api/captures", json={}, headers=bearer()).json()["id"] for _ in range(3)]
    # It saw the first before its Wi-Fi dropped: the second comes first, with its growth field.
    event = first_event(daemon, ids[0])
    assert event["id"] == ids[1] and "growth" in event


def test_wrong_access_codes_are_refused_for_a_minute_after_five(daemon):
    for _ in range(5):
        assert daemon.post("/api/session", json={"token": "guess"}).status_code == 401
    refused = daemon.post("/api/session", json={"token": TOKEN})
    assert refused.status_code == 429 and "wait 60 seconds" in refused.json()["detail"]
    assert daemon.post("/api/captures", json={}, headers=bearer()).status_code == 201  # the token still works


def test_the_csv_keeps_a_typed_formula_as_text_and_refuses_dates_the_wrong_way_round(daemon):
    assert daemon.post("/api/goats", json={"tag": "=HYPERLINK(1)"}, headers=bearer()).status_code == 201
    assert daemon.post("/api/captures", json={"goat_tag": "=hyperlink(1)"}, headers=bearer()).status_code == 201
    exported = daemon.get("/api/export/captures.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    (row,) = csv.DictReader(io.StringIO(exported.text))
    assert row["goat_tag"] == "'=HYPERLINK(1)"
    backwards = daemon.get("/api/export/captures.csv", params={"since": "2026-12-07", "until": "2026-12-01"})
    assert backwards.status_code == 422 and "since 2026-12-07 is after until 2026-12-01" in backwards.json()["detail"]


def test_the_fit_weight_csv_pairs_each_scale_weight_with_the_nearest_capture(daemon):
    assert daemon.post("/api/goats", json={"tag": "D4"}, headers=bearer()).status_code == 201
    captured = daemon.post("/api/captures", json={"goat_tag": "D4"}, headers=bearer()).json()
    assert captured["status"] == "ok", captured["reason"]
    assert daemon.post("/api/goats/D4/weights", json={"weight_kg": 31.5}, headers=bearer()).status_code == 201
    (row,) = csv.DictReader(io.StringIO(daemon.get("/api/export/fit-weight.csv").text))
    assert row["capture_id"] == captured["id"] and row["weight_kg"] == "31.5"
    for name in ("heart_girth_cm", "body_length_cm"):  # six significant digits
        assert float(row[name]) == pytest.approx(captured["measurements"][name], abs=1e-3)


def test_another_sites_page_cannot_reach_the_pi_through_a_farm_browser(daemon):
    # DNS rebinding: a page on another site, its name pointed at the Pi, brings its own name.
    renamed = requests.get(daemon.url + "/api/captures", headers={"Host": "goats.example.com"}, timeout=10)
    assert renamed.status_code == 400 and "does not answer to the name 'goats.example.com'" in renamed.json()["detail"]
    # A form or script on another site that posts to the Pi: refused before any token check.
    for header in ({"Origin": "http://goats.example.com"}, {"Sec-Fetch-Site": "cross-site"}):
        cross = daemon.post("/api/captures", json={}, headers={**bearer(), **header})
        assert cross.status_code == 403 and "another web site" in cross.json()["detail"]
    same = daemon.post("/api/captures", json={}, headers={**bearer(), "Origin": daemon.url})
    assert same.status_code == 201
    page = daemon.get("/")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"


def test_a_huge_body_is_refused_before_it_is_read(daemon):
    huge = daemon.post("/api/goats", data=b"x" * 10_000_000, headers={**bearer(), "Content-Type": "application/json"})
    assert huge.status_code == 413 and huge.json() == {"detail": "the request body is over 64 KiB"}
    assert daemon.get("/api/health").status_code == 200


def test_an_api_open_to_the_network_without_a_token_does_not_start(tmp_path, replay):
    config = write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port())
    config.write_text(config.read_text().replace("[api]\n", '[api]\nhost = "0.0.0.0"\n'))
    done = subprocess.run(
        [sys.executable, "-m", "edge.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "GOATDEV_API_TOKEN"},
    )
    assert done.returncode != 0
    assert "api.host 0.0.0.0 lets anyone on the farm's network in: set api.token" in done.stderr + done.stdout


HOSTILE_WEIGHTS = [
    ('{"weight_kg": NaN}', "finite number"),
    ('{"weight_kg": Infinity}', "finite number"),
    ('{"weight_kg": 1e400}', "finite number"),
    ('{"weight_kg": true}', "valid number"),
    ('{"weight_kg": "40"}', "valid number"),
    ('{"weight_kg": -3}', "greater than 0"),
    ('{"weight_kg": 40, "weighed_at": "0001-01-01T00:00:00+05:00"}', "give a time since 2000"),
    ('{"weight_kg": 40, "weighed_at": "9999-12-31T23:59:59-05:00"}', "give a time since 2000"),
    ('{"weight_kg": 40, "weighed_at": "2026-12-01T08:00:00"}', "give the time zone"),
]


@pytest.mark.parametrize(("body", "named"), HOSTILE_WEIGHTS)
def test_an_impossible_scale_weight_is_a_422_that_names_it_and_stores_nothing(daemon, body, named):
    assert daemon.post("/api/goats", json={"tag": "E5"}, headers=bearer()).status_code == 201
    refused = daemon.post("/api/goats/E5/weights", data=body, headers={**bearer(), "Content-Type": "application/json"})
    assert refused.status_code == 422 and named in refused.text
    assert daemon.get("/api/goats/E5/summary").json()["scale_weights"] == []


@pytest.mark.parametrize(
    ("tag", "named"),
    [
        ("A\x0012", "U+0000"),
        ("A12\u202e", "U+202E"),  # right-to-left override: shows as another tag
        ("A\u200b12", "U+200B"),  # zero-width space: a look-alike of A12
        ("\x07", "U+0007"),
    ],
)
def test_a_tag_with_invisible_or_control_characters_is_refused_by_name(daemon, tag, named):
    refused = daemon.post("/api/goats", json={"tag": tag}, headers=bearer())
    assert refused.status_code == 422 and named in refused.json()["detail"]
    assert "type the tag as printed on the ear" in refused.json()["detail"]


def test_tags_are_stored_in_one_unicode_form_and_a_huge_value_is_not_echoed(daemon):
    made = daemon.post("/api/goats", json={"tag": "Ame\u0301lie"}, headers=bearer()).json()  # e + combining accent
    assert made["tag"] == "Am\u00e9lie" and daemon.get("/api/goats/Am%C3%A9lie").status_code == 200
    long_name = daemon.post("/api/goats", json={"tag": "F6", "name": "x" * 50_000}, headers=bearer())
    assert long_name.status_code == 422 and len(long_name.content) < 1_000


def test_measurements_taped_by_hand_are_kept_with_the_goat_and_impossible_ones_refused(daemon):
    assert daemon.post("/api/goats", json={"tag": "T7"}, headers=bearer()).status_code == 201
    taped = {"heart_girth_cm": 81.5, "withers_height_cm": 63.0}
    answer = daemon.post(
        "/api/goats/T7/tape", json={"measurements": taped, "measured_at": "2026-12-01T09:00:00Z"}, headers=bearer()
    )
    assert answer.status_code == 201 and {r["name"]: r["value_cm"] for r in answer.json()} == taped
    assert daemon.post("/api/goats/T7/tape", json={"measurements": taped}).status_code == 401  # changes need the token
    for body, named in (
        ({"measurements": {"weight_kg": 40.0}}, "measurements"),  # a scale weight, not a tape
        ({"measurements": {"heart_girth_cm": -3}}, "heart_girth_cm"),
        ({"measurements": {"heart_girth_cm": "80"}}, "heart_girth_cm"),
        ({"measurements": {}}, "measurements"),
        ({"measurements": taped, "measured_at": "2099-01-01T00:00:00Z"}, "measured_at"),
    ):
        refused = daemon.post("/api/goats/T7/tape", json=body, headers=bearer())
        assert refused.status_code == 422 and named in json.dumps(refused.json()["detail"]), (body, refused.text)
    assert daemon.post("/api/goats/Z404/tape", json={"measurements": taped}, headers=bearer()).status_code == 404
    kept = daemon.get("/api/goats/T7/tape", headers=bearer()).json()
    assert [(r["name"], r["value_cm"], r["measured_at"]) for r in kept] == [
        ("heart_girth_cm", 81.5, "2026-12-01T09:00:00.000+00:00"),
        ("withers_height_cm", 63.0, "2026-12-01T09:00:00.000+00:00"),
    ]
