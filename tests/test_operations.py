"""Knowing when a barn's Pi breaks before the farm does: health per part, metrics, the journal.

The daemon runs as on the farm (`goat-edge run`) on replayed photos; a camera is "unplugged"
by taking its replay folder away, and plugged back by returning it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest

from edge.cli import main as goat_edge
from edge.store import Store
from edge.store.outbox import SYNC_CONFIGURED_STATE
from tests.support.daemon_helpers import ROOT, Daemon, free_port, simulate_captures, wait_for, write_config

VIEWS = ("side", "top", "front")


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    """A goat, then an empty chute (shots count from 1, so the goat's folder is read first)."""
    folder = simulate_captures(tmp_path_factory.mktemp("replay"), seeds=(31,))
    assert goat_edge(["simulate", "--seed", "32", "--goats", "0", "--out", str(folder / "empty-000032")]) == 0
    return folder


def own_folders(tmp_path, replay, config):
    """Each camera with a replay folder of its own, so that one can be unplugged alone."""
    text = config.read_text()
    for view in VIEWS:
        own = shutil.copytree(replay, tmp_path / f"{view}-camera")
        text = text.replace(
            f'[cameras.{view}]\nbackend = "replay"\nfolder = "{replay}"',
            f'[cameras.{view}]\nbackend = "replay"\nfolder = "{own}"',
        )
    config.write_text(text + "[health]\ncamera_recheck_s = 5\n")
    return config


def metric(text: str, name: str, labels: str = "") -> float:
    """One sample's value from Prometheus text, e.g. metric(t, "goat_captures_total", 'outcome="ok"')."""
    pattern = rf"^{re.escape(name)}{re.escape('{' + labels + '}') if labels else ''} (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"{name}{{{labels}}} not in metrics"
    return float(found.group(1))


def test_an_unplugged_camera_turns_health_503_naming_it_until_it_is_back(tmp_path, replay):
    config = own_folders(tmp_path, replay, write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port()))
    with Daemon(config) as daemon:
        # At start-up the cameras are opened, and each part is reported.
        health = wait_for(lambda: (h := daemon.get("/api/health")).json()["parts"]["cameras"]["side"]["ok"] and h)
        assert health.status_code == 200 and health.json()["status"] == "ok" and health.json()["problems"] == []
        assert set(health.json()["parts"]) == {
            "cameras",
            "models",
            "database",
            "disk",
            "outbox",
            "sync",
            "last_capture",
        }
        assert health.json()["parts"]["models"]["versions"].keys() >= set(VIEWS)

        (tmp_path / "side-camera").rename(tmp_path / "side-camera-unplugged")
        failed = daemon.post("/api/captures")
        assert failed.status_code == 503 and "side camera" in failed.json()["detail"]
        down = daemon.get("/api/health")
        assert down.status_code == 503 and down.json()["status"] == "down"
        assert [p for p in down.json()["problems"] if "side camera" in p]
        cameras = down.json()["parts"]["cameras"]
        assert cameras["side"]["ok"] is False and cameras["top"]["ok"] is True

        (tmp_path / "side-camera-unplugged").rename(tmp_path / "side-camera")
        # Noticed while idle (health.camera_recheck_s), before anyone captures again.
        wait_for(lambda: daemon.get("/api/health").status_code == 200, timeout_s=20)
        assert daemon.post("/api/captures").status_code == 201


@pytest.mark.parametrize(
    "setting, problem",
    [
        ("min_free_disk_mb = 100000000", "data disk: "),
        ("max_pending_age_h = 0.0002", "sync: an entry has waited"),
    ],
    ids=["disk-low", "outbox-old"],
)
def test_a_low_disk_or_a_stalled_sync_turns_health_503(tmp_path, replay, setting, problem):
    config = write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port())
    text = config.read_text()
    if setting.startswith("min_free"):
        text = text.replace("min_free_disk_mb = 10", setting)
    else:  # sync set up (never reached here), and an entry waiting longer than allowed
        text += f'[sync]\ndatabase_url = "postgresql://pi@127.0.0.1:9/none"\n[health]\n{setting}\n'
        config.write_text(text)
        with Daemon(config) as daemon:
            assert daemon.post("/api/captures").status_code == 201
            time.sleep(1.0)
            answer = daemon.get("/api/health")
        assert answer.status_code == 503 and any(problem in p for p in answer.json()["problems"])
        assert answer.json()["parts"]["outbox"]["ok"] is False
        return
    config.write_text(text)
    with Daemon(config) as daemon:
        answer = daemon.get("/api/health")
    assert answer.status_code == 503 and any(problem in p for p in answer.json()["problems"])
    assert answer.json()["parts"]["disk"]["ok"] is False


def test_health_knows_sync_is_set_up_from_goat_sync_whose_secrets_it_cannot_read(tmp_path, replay):
    config = write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port())
    with Daemon(config) as daemon:
        assert daemon.get("/api/health").json()["sync"]["configured"] is False
        with Store.open(tmp_path / "data") as store:  # as goat-sync does at its start
            store.set_sync_state(SYNC_CONFIGURED_STATE, "yes")
        assert daemon.get("/api/health").json()["sync"]["configured"] is True


def test_without_the_token_health_says_only_whether_all_is_well(tmp_path, replay):
    api = 'host = "0.0.0.0"\ntoken = "barn-secret"\n'
    config = write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port(), api=api)
    with Daemon(config) as daemon:
        bare = daemon.get("/api/health").json()
        full = daemon.get("/api/health", headers={"Authorization": "Bearer barn-secret"}).json()
        assert daemon.get("/metrics").status_code == 401
    assert set(bare) == {"status", "device_id"}
    assert {"problems", "parts", "outbox", "sync"} <= set(full)


def test_metrics_count_captures_by_outcome_and_retakes_by_reason(tmp_path, replay):
    config = write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port())
    with Daemon(config) as daemon:
        before = daemon.get("/metrics")
        assert before.status_code == 200 and before.headers["content-type"].startswith("text/plain")
        assert metric(before.text, "goat_captures_total", 'outcome="ok"') == 0
        goat = daemon.post("/api/captures").json()
        empty = daemon.post("/api/captures").json()
        assert (goat["status"], empty["status"]) == ("ok", "retake")
        after = daemon.get("/metrics").text
    assert metric(after, "goat_captures_total", 'outcome="ok"') == 1
    assert metric(after, "goat_captures_total", 'outcome="retake"') == 1
    assert metric(after, "goat_retakes_total", 'reason="no_goat"') == 1
    assert metric(after, "goat_capture_seconds_count") == 2
    for view in VIEWS:
        assert metric(after, "goat_inference_seconds_count", f'model="{view}"') == 2
    # Gauges read from the store at the scrape: 8 outbox entries per capture, nothing synced here.
    assert metric(after, "goat_outbox_entries", 'state="pending"') == 16
    assert metric(after, "goat_outbox_oldest_pending_seconds") > 0
    assert 0 < metric(after, "goat_disk_free_ratio") <= 1


def test_a_captures_whole_life_can_be_followed_in_the_journal_by_its_id(tmp_path, replay):
    config = write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port())
    daemon = Daemon(config).wait_ready()
    try:
        assert daemon.post("/api/goats", json={"tag": "A12"}).status_code == 201
        capture = daemon.post("/api/captures", json={"goat_tag": "A12"}).json()
        for _ in range(3):
            assert daemon.post("/api/captures", json={"goat_tag": "Z99"}).status_code == 404
    finally:
        code, log = daemon.terminate()
    lines = [line for line in log.splitlines() if capture["id"] in line]
    assert len(lines) == 3, log
    assert "api trigger, goat A12" in lines[0]
    assert re.search(r"cameras \d+\.\d\d s, models and gate \d+\.\d\d s: ok", lines[1])
    weight = capture["measurements"]["weight_kg"]
    assert re.search(rf"stored, ok, goat A12, weight {weight:.1f} kg, \d+\.\d\d s", lines[2])
    refusals = [line for line in log.splitlines() if "refused" in line and "Z99" in line]
    assert len(refusals) == 3 and "404" in refusals[0]
    assert code == 0


def test_refusals_are_logged_but_a_flood_of_them_writes_only_a_few_lines(tmp_path, replay):
    config = write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port(), api='token = "barn-secret"\n')
    daemon = Daemon(config).wait_ready()
    try:
        for i in range(40):
            wrong = {"Authorization": f"Bearer guess-{i}"}
            assert daemon.post("/api/goats", json={"tag": "A1"}, headers=wrong).status_code == 401
    finally:
        code, log = daemon.terminate()
    refused = [line for line in log.splitlines() if "refused without the token" in line]
    assert code == 0 and 1 <= len(refused) <= 10, log[-3000:]


def test_a_port_already_taken_stops_the_daemon_with_the_reason_and_never_says_ready(tmp_path, replay):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(0.5)
    try:
        config = write_config(tmp_path / "edge.toml", tmp_path / "data", replay, port)
        done = subprocess.run(
            [sys.executable, "-m", "edge.cli", "run", "--config", str(config)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify.sock")},
        )
        sent = []
        with contextlib.suppress(TimeoutError):
            while True:
                sent.append(notify.recv(256).decode())
    finally:
        taken.close()
        notify.close()
    assert done.returncode == 2
    assert f"cannot serve the API on 127.0.0.1:{port} (is another goat-edge running?)" in done.stderr
    assert "READY=1" not in sent  # systemd is never told a daemon without its API is ready
