"""The associate presses the button (or the tablet's Capture), and a whole capture is stored.

The cameras replay photos from the simulated chute, the shipped NCNN models run, and the
store is a real SQLite file. Daemon tests run `goat-edge run` as a subprocess and talk to
its HTTP API, as the tablet does.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from gpiozero.pins.mock import MockFactory

from edge.cli import main as goat_edge
from edge.config import load_config
from edge.daemon.run import start_button
from edge.pipeline.context import build_context
from edge.store import Store
from tests.support.daemon_helpers import (
    ROOT,
    Daemon,
    assert_complete,
    free_port,
    simulate_captures,
    stored_files,
    wait_for,
    write_config,
)

BUTTON_PIN, LED_PIN = 17, 27  # the config's default LED pin


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    return simulate_captures(tmp_path_factory.mktemp("replay"), seeds=(11, 12))


@pytest.fixture
def config_path(tmp_path, replay):
    return write_config(
        tmp_path / "edge.toml",
        tmp_path / "data",
        replay,
        free_port(),
        extra=f'[button]\nenabled = true\npin = {BUTTON_PIN}\npin_factory = "mock"\n',
    )


@pytest.fixture
def running(config_path):
    """The daemon's parts in this process, with the button on gpiozero's MockFactory."""
    config = load_config(config_path)
    ctx = build_context(config)
    factory = MockFactory()
    button, light = start_button(ctx, factory)
    try:
        yield ctx, factory.pin(BUTTON_PIN), factory.pin(LED_PIN)
    finally:
        button.close()
        ctx.close()
        light.close()
        factory.reset()


def press(pin, hold_s: float = 0.1) -> None:
    pin.drive_low()
    time.sleep(hold_s)
    pin.drive_high()


def test_a_button_press_stores_a_capture_with_images_measurements_and_outbox(running):
    ctx, pin, led = running
    press(pin)
    [capture] = wait_for(lambda: ctx.store.list_captures())
    wait_for(lambda: not ctx.pipeline.busy)
    time.sleep(0.1)  # the button's thread sets the light just after the capture returns
    changes = len(led.states)
    time.sleep(0.6)  # longer than a blink: a good capture leaves the LED steadily on
    assert led.state is True and len(led.states) == changes
    assert capture["trigger"] == "button"
    assert_complete(ctx.store, capture)
    # The first shot replays the goat of seed 12, which the shipped models measure.
    truth = json.loads((ctx.config.cameras.side.folder / "seed-000012" / "truth.json").read_text())
    true_cm = truth["goats"][0]["measurements"]
    assert capture["status"] == "ok"
    for name in ("body_length_cm", "withers_height_cm", "rump_height_cm"):
        assert capture["measurements"][name] == pytest.approx(true_cm[name], rel=0.10), name
    assert capture["model_versions"] == ctx.detector.versions
    assert capture["calibration_hash"] == ctx.calibration.hash
    # Each number says how sure it is (models/uncertainty.yaml, fitted for the shipped models).
    for name, value in capture["measurements"].items():
        if value is not None:
            measure_config = ctx.config.measure
            weight = name == "weight_kg"
            limit = measure_config.max_weight_uncertainty_pct if weight else measure_config.max_uncertainty_pct
            assert 0 < capture["measurement_uncertainty"][name] <= limit / 100 * value, name
    # What the models found is kept with it, for correcting later (goat-edge labels export).
    assert set(capture["keypoints"]) == {"side", "top", "front"}
    assert len(capture["keypoints"]["top"]["hook_left"]) == 3
    # The capture row, six images and the measurements row wait for the sync worker.
    assert ctx.store.outbox_counts()["pending"] == 8


def test_presses_during_a_capture_are_ignored_not_queued(running):
    ctx, pin, _ = running
    press(pin)
    wait_for(lambda: ctx.pipeline.busy, timeout_s=10)
    presses_while_busy = 0
    while ctx.pipeline.busy:
        press(pin, hold_s=0.06)
        presses_while_busy += 1
        time.sleep(0.06)  # longer than the bounce time, so each is a press of its own
    assert presses_while_busy >= 1
    time.sleep(1.0)  # a queued press would have started a second capture by now
    assert len(ctx.store.list_captures()) == 1
    press(pin)  # once idle, the next press captures again
    wait_for(lambda: len(ctx.store.list_captures()) == 2)


def test_the_tablet_captures_and_reads_the_result_back(config_path):
    with Daemon(config_path) as daemon:
        assert daemon.get("/").headers["content-type"].startswith("text/html")
        assert daemon.post("/api/goats", json={"tag": "A12", "sex": "female"}).status_code == 201
        duplicate = daemon.post("/api/goats", json={"tag": "A12"})
        assert duplicate.status_code == 409 and "goat tag 'A12' already exists" in duplicate.json()["detail"]
        made = daemon.post("/api/captures", json={"goat_tag": "A12"})
        assert made.status_code == 201, made.text
        capture = made.json()
        assert capture["goat_tag"] == "A12"
        image = daemon.get(f"/api/captures/{capture['id']}/images/top", params={"kind": "annotated"})
        assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"
        assert [c["id"] for c in daemon.get("/api/captures").json()] == [capture["id"]]
        unknown = daemon.post("/api/captures", json={"goat_tag": "Z99"})
        assert unknown.status_code == 404 and "Z99" in unknown.json()["detail"]


def rendering_cameras(config_path):
    """The config with cameras that render the chute (about a second a capture, so requests
    and signals land mid-capture) instead of replaying photos. Their first frame also works
    out each camera's pixel rays, which on a busy 2-core machine took the side camera past
    the default 5 s ("not responding") about one run in six: these tests are not about a
    slow camera."""
    text = config_path.read_text().replace('backend = "replay"', 'backend = "simulated"')
    config_path.write_text(text.replace("[cameras.side]", "[cameras]\ntimeout_s = 30\n[cameras.side]", 1))
    return config_path


def test_simultaneous_capture_requests_give_one_capture_and_busy_answers(config_path):
    with Daemon(rendering_cameras(config_path)) as daemon:
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: daemon.post("/api/captures"), range(4)))
        # Four requests within a second-long capture: one runs, three are told to wait.
        assert sorted(a.status_code for a in answers) == [201, 409, 409, 409], [a.text for a in answers]
        busy = [a for a in answers if a.status_code == 409]
        assert all("a capture is already running" in a.json()["detail"] for a in busy)
        assert len(daemon.get("/api/captures").json()) == 1


def test_a_corrupt_front_photo_fails_the_capture_by_name_and_stores_nothing(tmp_path, replay):
    photos = shutil.copytree(replay, tmp_path / "photos")
    for folder in photos.iterdir():
        (folder / "front.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    config = write_config(tmp_path / "edge.toml", tmp_path / "data", photos, free_port())
    with Daemon(config) as daemon:
        failed = daemon.post("/api/captures")
        assert failed.status_code == 503
        assert "front camera returned a corrupt image" in failed.json()["detail"]
        assert daemon.get("/api/captures").json() == []
        assert stored_files(tmp_path / "data") == set()
        for folder in photos.iterdir():  # the technician fixes the camera; the next capture works
            shutil.copyfile(replay / folder.name / "front.jpg", folder / "front.jpg")
        assert daemon.post("/api/captures").status_code == 201


def test_below_the_disk_floor_a_capture_is_refused_with_a_message(tmp_path, replay):
    config = write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port(), min_free_disk_mb=100000000)
    with Daemon(config) as daemon:
        refused = daemon.post("/api/captures")
        assert refused.status_code == 503
        assert "MB free on the data disk; captures need at least 100000000 MB" in refused.json()["detail"]
        assert daemon.get("/api/captures").json() == []


@pytest.mark.slow
def test_sigterm_lets_the_running_capture_finish_and_be_stored(tmp_path, config_path):
    rendering_cameras(config_path)  # the signal lands mid-capture
    notify = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify))
    listener.settimeout(60)
    daemon = Daemon(config_path, env={"NOTIFY_SOCKET": str(notify)})
    try:
        daemon.wait_ready()
        assert listener.recv(256) == b"READY=1"
        answer = {}
        request = threading.Thread(target=lambda: answer.update(r=daemon.post("/api/captures")))
        request.start()
        wait_for(lambda: daemon.get("/api/health").json()["busy"], timeout_s=30)
        code, log = daemon.terminate()
        request.join(60)
        assert code == 0, log
        assert answer["r"].status_code == 201, (answer["r"].text, log)
        assert listener.recv(256) == b"STOPPING=1"
    finally:
        listener.close()
        if daemon.proc.poll() is None:
            daemon.kill()
    with Store.open(tmp_path / "data") as store:
        [capture] = store.list_captures()
        assert_complete(store, capture)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: f.unlink(), "model file not found"),
        (lambda f: f.write_bytes(f.read_bytes()[:100_000]), "corrupt NCNN weights file"),
    ],
)
def test_a_missing_or_corrupt_model_file_is_named_at_start_up(tmp_path, replay, capsys, damage, message):
    models = shutil.copytree(ROOT / "models", tmp_path / "models")
    damage(models / "top" / "model.ncnn.bin")
    config = write_config(
        tmp_path / "edge.toml", tmp_path / "data", replay, free_port(), extra=f'[models]\ndir = "{models}"\n'
    )
    assert goat_edge(["run", "--config", str(config)]) == 2
    assert f"{models / 'top' / 'model.ncnn.bin'}: {message}" in capsys.readouterr().err


def test_capture_from_the_command_line_prints_the_stored_result(config_path, capsys):
    assert goat_edge(["capture", "--config", str(config_path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["trigger"] == "cli" and printed["status"] in ("ok", "retake")
    assert all(open(image["file"], "rb").read(2) == b"\xff\xd8" for image in printed["images"])
    with Store.open(load_config(config_path).storage.data_dir) as store:
        assert store.get_capture(printed["id"])["measurements"] == printed["measurements"]


def test_raw_photos_already_in_the_cloud_are_pruned_beyond_the_retention(tmp_path, replay):
    config_path = write_config(
        tmp_path / "edge.toml", tmp_path / "data", replay, free_port(), storage="keep_synced_captures = 1\n"
    )
    ctx = build_context(load_config(config_path))
    try:
        first = ctx.pipeline.capture("cli")
        second = ctx.pipeline.capture("cli")
        # The sync worker confirms the first capture only.
        synced = [
            e.id
            for e in ctx.store.pending_outbox(100)
            if e.row_id == first["id"] or e.image_id in {i["id"] for i in first["images"]}
        ]
        ctx.store.mark_done(synced)
        ctx.pipeline.capture("cli")
        pruned = {(i["view"], i["kind"]) for i in ctx.store.get_capture(first["id"])["images"] if i["pruned_at"]}
        assert pruned == {("side", "raw"), ("top", "raw"), ("front", "raw")}
        for image in ctx.store.get_capture(second["id"])["images"]:  # not synced: kept
            assert image["pruned_at"] is None and ctx.store.image_path(image).is_file()
    finally:
        ctx.close()


def test_with_a_capture_retention_set_old_captures_in_the_cloud_leave_the_pi(tmp_path, replay):
    # A retention of about a second, so that the first capture is "old" by the third.
    storage = "keep_synced_captures_days = 0.00001\nkeep_annotated_days = 0.00001\n"
    config_path = write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port(), storage=storage)
    ctx = build_context(load_config(config_path))
    try:
        first = ctx.pipeline.capture("cli")
        second = ctx.pipeline.capture("cli")
        synced = [  # the sync worker confirms the first capture only
            e.id
            for e in ctx.store.pending_outbox(100)
            if e.row_id == first["id"] or e.image_id in {i["id"] for i in first["images"]}
        ]
        ctx.store.mark_done(synced)
        time.sleep(1.0)
        third = ctx.pipeline.capture("cli")
        assert [c["id"] for c in ctx.store.list_captures()] == [third["id"], second["id"]]
        for capture in (second, third):  # not in the cloud yet: kept whole
            assert all(ctx.store.image_path(i).is_file() for i in capture["images"])
        assert ctx.store.sweep_orphans() == []
    finally:
        ctx.close()


def test_goat_records_weights_and_later_assignment_through_the_api_with_a_token(config_path):
    text = config_path.read_text().replace("[api]\n", '[api]\ntoken = "barn-secret"\n')
    config_path.write_text(text)
    auth = {"Authorization": "Bearer barn-secret"}
    with Daemon(config_path) as daemon:
        refused = daemon.post("/api/goats", json={"tag": "C3"})
        assert refused.status_code == 401 and "API token" in refused.json()["detail"]
        assert daemon.post("/api/goats", json={"tag": "C3", "name": "Clover"}, headers=auth).status_code == 201
        patched = requests.patch(daemon.url + "/api/goats/C3", json={"breed": "Saanen"}, headers=auth, timeout=30)
        assert patched.json()["breed"] == "Saanen" and patched.json()["name"] == "Clover"
        bad = daemon.post("/api/goats/C3/weights", json={"weight_kg": -4}, headers=auth)
        assert bad.status_code == 422 and "weight_kg" in bad.text
        assert daemon.post("/api/goats/C3/weights", json={"weight_kg": 38.2}, headers=auth).status_code == 201
        capture = daemon.post("/api/captures", headers=auth).json()
        assigned = requests.put(
            f"{daemon.url}/api/captures/{capture['id']}/goat", json={"tag": "C3"}, headers=auth, timeout=30
        )
        assert assigned.status_code == 200 and assigned.json()["goat_tag"] == "C3"
        assert [c["id"] for c in daemon.get("/api/captures", params={"goat_tag": "C3"}).json()] == [capture["id"]]
        assert daemon.get("/api/captures/not-a-capture").status_code == 404
        assert daemon.get("/api/goats/NOPE").status_code == 404


def test_capture_from_the_command_line_goes_through_a_running_daemon(config_path, capsys):
    with Daemon(config_path) as daemon:
        assert goat_edge(["capture", "--config", str(config_path), "--json"]) == 0
        printed = json.loads(capsys.readouterr().out)
        # The daemon holds the cameras, so it took the capture: the API says so.
        assert printed["trigger"] == "api"
        assert [c["id"] for c in daemon.get("/api/captures").json()] == [printed["id"]]
        assert all(open(image["file"], "rb").read(2) == b"\xff\xd8" for image in printed["images"])
