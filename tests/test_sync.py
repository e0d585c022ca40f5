"""The farm's internet comes and goes; every capture reaches the cloud once, intact.

Real services: a throwaway PostgreSQL cluster and a SeaweedFS S3 server on loopback.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from cloud_sync.cli import main as goat_sync
from edge.store import Store
from edge.store.db import DB_NAME
from edge.store.outbox import LAST_SYNC_STATE
from tests.support.services import free_ports
from tests.support.sync_helpers import (
    DEVICE_ID,
    Cloud,
    assert_cloud_matches,
    farm,
    once,
    record_captures,
    row_counts,
    s3_objects,
    sync_config,
    write_config_file,
)


@pytest.mark.slow
def test_captures_stored_offline_arrive_exactly_once_when_the_cloud_comes_back(tmp_path, cloud, capsys):
    data = tmp_path / "data"
    farm(data, 3)
    (dead_port,) = free_ports(1)
    offline = Cloud(
        f"postgresql://postgres@127.0.0.1:{dead_port}/x",
        f"http://127.0.0.1:{dead_port}",
        cloud.captures_bucket,
        cloud.processed_bucket,
        None,
    )
    report = once(write_config_file(tmp_path / "offline.toml", data, offline, timeout_s=2.0), capsys)
    assert report["offline"] and report["uploaded"] == report["upserted"] == 0
    with Store.open(data) as store:  # capturing carries on while offline
        record_captures(store, 2, start=3, goat_tag="A12")
        pending = store.outbox_counts()["pending"]
        assert store.get_sync_state(LAST_SYNC_STATE) is None  # the tablet says "never synced"
    assert report["pending"] < pending

    online = write_config_file(tmp_path / "online.toml", data, cloud)
    before = datetime.now(UTC)
    report = once(online, capsys)
    assert not report["offline"] and report["pending"] == 0 and report["parked"] == 0
    with Store.open(data) as store:  # and now when the cloud was last reached
        assert datetime.fromisoformat(store.get_sync_state(LAST_SYNC_STATE)) >= before
    assert report["uploaded"] == 5 * 7  # six photos and measurements.json per capture
    with Store.open(data) as store:
        assert_cloud_matches(store, cloud)
    assert row_counts(cloud.database_url) == {
        "devices": 1,
        "goats": 1,
        "captures": 5,
        "measurements": 5,
        "scale_weights": 1,
        "tape_measurements": 1,
    }
    again = once(online, capsys)  # nothing left, nothing sent twice
    assert again["uploaded"] == again["upserted"] == 0
    assert row_counts(cloud.database_url)["captures"] == 5


def test_the_cloud_rows_carry_the_goat_the_measurements_and_the_photo_keys(tmp_path, cloud, capsys):
    data = tmp_path / "data"
    with Store.open(data) as store:
        store.add_goat("B7", name="Bella", breed="Boer", sex="female", birth_date="2025-03-01")
        [capture_id] = record_captures(store, 1)
        store.assign_goat(capture_id, "B7")  # chosen after the capture
        capture = store.get_capture(capture_id)
    once(write_config_file(tmp_path / "edge.toml", data, cloud), capsys)
    with psycopg.connect(cloud.database_url) as conn:
        tag, key, images = conn.execute(
            "SELECT g.tag, c.capture_key, c.images FROM captures c JOIN goats g ON g.id = c.goat_id WHERE c.id = %s",
            [capture_id],
        ).fetchone()
        length, uncertainty, keypoints = conn.execute(
            "SELECT body_length_cm, uncertainty, keypoints FROM measurements WHERE capture_id = %s", [capture_id]
        ).fetchone()
    assert tag == "B7" and key == f"{DEVICE_ID}_20261126T080000000Z"
    assert length == capture["measurements"]["body_length_cm"]
    assert uncertainty == capture["measurement_uncertainty"] and uncertainty["body_length_cm"] == 0.5
    assert keypoints == capture["keypoints"] and keypoints["top"]["hook_left"][:2] == [92.0, 36.0]
    side = next(i for i in images if i["view"] == "side" and i["kind"] == "raw")
    assert side["key"] == f"captures/{key}/{key}_side.jpg" and side["bucket"] == cloud.captures_bucket
    document = json.loads(
        cloud.client.get_object(Bucket=cloud.processed_bucket, Key=f"results/{key}/measurements.json")["Body"].read()
    )
    assert document["measurements"] == capture["measurements"] and document["capture_id"] == capture_id
    assert document["uncertainty"] == capture["measurement_uncertainty"] and document["uncertainty_coverage"] == 0.9


def test_a_photo_changed_after_capture_is_quarantined_and_the_rest_syncs(tmp_path, cloud, capsys):
    data = tmp_path / "data"
    with Store.open(data) as store:
        ids = record_captures(store, 2)
        damaged = next(i for i in store.get_capture(ids[0])["images"] if i["view"] == "top" and i["kind"] == "raw")
        path = store.image_path(damaged)
    path.write_bytes(path.read_bytes()[:-100] + b"\x00" * 100)  # a flipped bit on the SD card
    report = once(write_config_file(tmp_path / "edge.toml", data, cloud), capsys)
    assert report["parked"] == 1 and report["pending"] == 0
    assert any("changed since capture (sha256 differs)" in e for e in report["errors"])
    found = s3_objects(cloud)
    assert not any(k.endswith("_top.jpg") and ids[0] in k for k in found)
    assert len(found) == 2 * 7 - 1
    with psycopg.connect(cloud.database_url) as conn:
        images = conn.execute("SELECT images FROM captures WHERE id = %s", [ids[0]]).fetchone()[0]
    top = next(i for i in images if i["view"] == "top" and i["kind"] == "raw")
    assert "key" not in top and top["missing"]
    with Store.open(data) as store:
        [entry] = [e for e in store.parked_outbox()]
        assert "changed since capture" in entry.last_error


def test_the_heartbeat_reports_the_device_and_what_is_still_pending(tmp_path, cloud, capsys):
    data = tmp_path / "data"
    with Store.open(data) as store:
        record_captures(store, 1)
    once(write_config_file(tmp_path / "edge.toml", data, cloud), capsys)
    with psycopg.connect(cloud.database_url) as conn:
        seen, pending, age = conn.execute(
            "SELECT now() - last_seen, pending_count, oldest_pending_age_s FROM devices WHERE id = %s", [DEVICE_ID]
        ).fetchone()
    assert seen.total_seconds() < 60 and pending == 0 and age is None


def test_a_missing_bucket_parks_those_uploads_and_the_others_go_on(tmp_path, cloud, capsys):
    data = tmp_path / "data"
    with Store.open(data) as store:
        record_captures(store, 1)
    broken = Cloud(cloud.database_url, cloud.endpoint_url, cloud.captures_bucket, "no-such-bucket-here", cloud.client)
    report = once(write_config_file(tmp_path / "edge.toml", data, broken), capsys)
    # Three raw photos reach their bucket; the annotated ones and measurements.json are refused.
    assert report["uploaded"] == 3 and report["parked"] == 4
    assert any("NoSuchBucket" in e for e in report["errors"])
    assert row_counts(cloud.database_url)["captures"] == 1


def test_migrate_is_idempotent_and_names_a_bad_url(postgres, capsys):
    url = postgres.create_database(f"m{uuid.uuid4().hex[:8]}")
    assert goat_sync(["migrate", "--database-url", url]) == 0
    assert "001_schema.sql" in capsys.readouterr().out
    assert goat_sync(["migrate", "--database-url", url]) == 0
    assert "schema up to date" in capsys.readouterr().out
    (dead_port,) = free_ports(1)
    assert goat_sync(["migrate", "--database-url", f"postgresql://postgres@127.0.0.1:{dead_port}/x"]) == 2
    assert "goat-sync migrate: error:" in capsys.readouterr().err


def test_without_a_database_url_goat_sync_says_what_to_set(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GOATDEV_DATABASE_URL", raising=False)
    config = tmp_path / "edge.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n')
    assert goat_sync(["once", "--config", str(config)]) == 2
    assert "set sync.database_url in the config or GOATDEV_DATABASE_URL" in capsys.readouterr().err


def test_the_sync_config_is_checked_like_the_rest(tmp_path):
    from edge.config import ConfigError

    with pytest.raises(ConfigError, match="'sync.upload_concurrency'"):
        sync_config(tmp_path, Cloud("postgresql://x", "http://x", "aaa", "bbb", None), upload_concurrency=0)


def test_while_offline_the_loop_waits_longer_each_time_up_to_the_cap():
    import random

    from cloud_sync.cli import Backoff
    from cloud_sync.worker import PassReport

    backoff = Backoff(interval_s=15, max_s=300, rng=random.Random(1))
    offline = [backoff.after(PassReport(pending=9, offline=True)) for _ in range(12)]
    assert all(0 < w <= 300 for w in offline)
    assert offline[0] < offline[3] < offline[6] and max(offline) > 150  # growing, then capped
    assert backoff.after(PassReport(uploaded=5, pending=4)) == 0  # back online with more to send
    assert backoff.after(PassReport()) == 15  # nothing left: the normal pause
    assert backoff.after(PassReport(pending=2, offline=True)) <= 2  # the next outage starts short again


def test_a_capture_measured_again_reaches_the_cloud_beside_its_first_measuring(tmp_path, cloud, capsys):
    from edge.store import Measuring

    data = tmp_path / "data"
    with Store.open(data) as store:
        [capture_id] = record_captures(store, 1)
        first = store.get_capture(capture_id)
    config = write_config_file(tmp_path / "edge.toml", data, cloud)
    once(config, capsys)
    with Store.open(data) as store:
        again = Measuring(
            measurements={**first["measurements"], "body_length_cm": 77.7},
            measurement_reasons={},
            model_versions={"side": "newer"},
            calibration_hash=first["calibration_hash"],
            weight_formula=first["weight_formula"],
        )
        newer = store.add_measuring(capture_id, again)
        assert store.get_capture(capture_id)["measurements"]["body_length_cm"] == 77.7
        assert [m["is_current"] for m in store.list_measurings(capture_id)] == [False, True]
    report = once(config, capsys)
    # Both rows, the first no longer current; both documents, the first one written once and
    # left as it was (sending it again finds it there).
    assert report["upserted"] == 2 and report["uploaded"] == 2
    with psycopg.connect(cloud.database_url) as conn:
        rows = conn.execute(
            "SELECT id::text, is_current, body_length_cm, model_versions FROM measurements WHERE capture_id = %s "
            "ORDER BY measured_at",
            [capture_id],
        ).fetchall()
    assert rows == [
        (capture_id, False, first["measurements"]["body_length_cm"], first["model_versions"]),
        (newer, True, 77.7, {"side": "newer"}),
    ]
    key = f"{DEVICE_ID}_20261126T080000000Z"
    with Store.open(data) as store:
        assert_cloud_matches(store, cloud)
    results = f"{cloud.processed_bucket}/results/{key}"
    documents = {k for k in s3_objects(cloud) if k.startswith(f"{results}/measurements")}
    assert documents == {f"{results}/measurements.json", f"{results}/measurements-{newer}.json"}


def test_an_upload_sent_again_after_its_answer_was_lost_leaves_the_first_copy(tmp_path, cloud, capsys):
    """Objects are written once (If-None-Match: *): the second PUT of a key finds it taken,
    which the worker takes as sent, and a versioned bucket still holds one version."""
    import sqlite3

    for bucket in (cloud.captures_bucket, cloud.processed_bucket):
        cloud.client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    data = tmp_path / "data"
    farm(data, 1)
    config = write_config_file(tmp_path / "edge.toml", data, cloud)
    once(config, capsys)
    first = s3_objects(cloud)
    # As if every answer had been lost: the outbox says nothing was sent.
    with sqlite3.connect(data / DB_NAME) as db:
        resent = db.execute("UPDATE outbox SET state = 'pending', done_at = NULL").rowcount
    report = once(config, capsys)
    assert resent > 0 and report["pending"] == 0 and report["parked"] == 0 and report["errors"] == []
    assert s3_objects(cloud) == first
    for bucket in (cloud.captures_bucket, cloud.processed_bucket):
        versions = cloud.client.list_object_versions(Bucket=bucket).get("Versions", [])
        assert len(versions) == len({v["Key"] for v in versions}) > 0


def test_each_capture_reaching_the_cloud_is_logged_by_its_id(tmp_path, cloud, capsys, caplog):
    data = tmp_path / "data"
    with Store.open(data) as store:
        [capture_id] = record_captures(store, 1)
    caplog.set_level("INFO", logger="goat-sync")
    once(write_config_file(tmp_path / "edge.toml", data, cloud), capsys)
    lines = [r.getMessage() for r in caplog.records if capture_id in r.getMessage()]
    assert lines == [
        f"capture {capture_id}: in the cloud (row and 6 photos)",
        f"capture {capture_id}: measuring {capture_id} in the cloud",
    ]
