"""A farm's edge store with captures in it, and the cloud state to compare it with."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg

from edge.config import config_from_dict
from edge.jpeg import encode_jpeg
from edge.keypoints import VIEW_KEYPOINTS
from edge.measurements import MEASUREMENTS
from edge.store import Store
from edge.store.ids import new_id
from edge.store.records import CaptureRecord, ImageFile

DEVICE_ID = "barn-east"
VIEWS = ("side", "top", "front")


@dataclass
class Cloud:
    """One test's own PostgreSQL database and pair of buckets, on the session's servers."""

    database_url: str
    endpoint_url: str
    captures_bucket: str
    processed_bucket: str
    client: object


def jpeg(seed: int, size_px=(160, 120)) -> bytes:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (size_px[1], size_px[0], 3), dtype=np.uint8)
    return encode_jpeg(image, 95)


def sample_keypoints(i: int) -> dict[str, dict[str, list[float]]]:
    """Keypoints as a capture stores them, inside the 160x120 test photos; the i-th capture's
    models are less sure the larger i is."""
    return {
        view: {name: [20.0 + 12 * k, 30.0 + (i % 7) + k, round(0.99 - 0.01 * i, 2)] for k, name in enumerate(names)}
        for view, names in VIEW_KEYPOINTS.items()
    }


def record_captures(
    store: Store, count: int, start: int = 0, goat_tag: str | None = None, device_id: str = DEVICE_ID
) -> list[str]:
    """`count` whole captures as the daemon stores them: 3 raw + 3 annotated photos, measurements."""
    ids = []
    base = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    for i in range(start, start + count):
        at = base + timedelta(seconds=37 * i, milliseconds=i)
        images = tuple(
            ImageFile(v, k, jpeg(i * 10 + n))
            for n, (v, k) in enumerate((v, k) for v in VIEWS for k in ("raw", "annotated"))
        )
        ok = i % 5 != 4
        rec = CaptureRecord(
            capture_id=new_id(at),
            captured_at=at,
            device_id=device_id,
            status="ok" if ok else "retake",
            reason=None if ok else "top camera: goat not fully in view",
            trigger="button",
            images=images,
            measurements={m: (50.0 + i + n if ok else None) for n, m in enumerate(MEASUREMENTS)},
            measurement_reasons={},
            measurement_uncertainty={m: 0.5 + n / 10 for n, m in enumerate(MEASUREMENTS)} if ok else {},
            keypoints=sample_keypoints(i),
            model_versions={v: "0123456789abcdef" for v in VIEWS},
            calibration_hash="d3dcda71d9e3e7d2",
            weight_formula={"divisor_cm3_per_kg": 10838.2},
            goat_tag=goat_tag,
        )
        store.record_capture(rec)
        ids.append(rec.capture_id)
    return ids


def sync_section(cloud: Cloud, **sync) -> dict:
    return {
        "database_url": cloud.database_url,
        "s3_endpoint_url": cloud.endpoint_url,
        "captures_bucket": cloud.captures_bucket,
        "processed_bucket": cloud.processed_bucket,
        **sync,
    }


def sync_config(data_dir: Path, cloud: Cloud, **sync):
    return config_from_dict(
        {"device": {"id": DEVICE_ID}, "storage": {"data_dir": str(data_dir)}, "sync": sync_section(cloud, **sync)},
        env={},
    )


def write_config_file(path: Path, data_dir: Path, cloud: Cloud, device_id: str = DEVICE_ID, **sync) -> Path:
    lines = [f'[device]\nid = "{device_id}"', f'[storage]\ndata_dir = "{data_dir}"', "[sync]"]
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in sync_section(cloud, **sync).items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def farm(data: Path, captures: int, device_id: str = DEVICE_ID) -> None:
    """A farm's store: goat A12, `captures` captures of it, one scale weight and its girth
    taped by hand."""
    with Store.open(data) as store:
        store.add_goat("A12", sex="female")
        record_captures(store, captures, goat_tag="A12", device_id=device_id)
        store.add_scale_weight("A12", 41.5)
        store.add_taped("A12", {"heart_girth_cm": 79.5})


def once(config: Path, capsys) -> dict:
    """`goat-sync once --json`, its report."""
    from cloud_sync.cli import main as goat_sync

    assert goat_sync(["once", "--config", str(config), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def s3_keys(cloud: Cloud) -> set[str]:
    """bucket/key of every object in both buckets."""
    return {
        f"{bucket}/{obj['Key']}"
        for bucket in (cloud.captures_bucket, cloud.processed_bucket)
        for page in cloud.client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for obj in page.get("Contents", [])
    }


def object_sha256(cloud: Cloud, bucket_key: str) -> str:
    bucket, key = bucket_key.split("/", 1)
    return hashlib.sha256(cloud.client.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()


def s3_objects(cloud: Cloud) -> dict[str, str]:
    """bucket/key -> sha256 of the body, for both buckets."""
    return {k: object_sha256(cloud, k) for k in s3_keys(cloud)}


def expected_objects(store: Store, cloud: Cloud) -> dict[str, str | None]:
    """What the buckets must hold for this store: every photo with its recorded sha256, and
    each measuring's measurements.json (None: its content is checked on its own)."""
    from cloud_sync.keys import capture_key, image_key, measurements_key

    wanted = {}
    for capture in store.list_captures(limit=10_000):
        key = capture_key(capture["device_id"], capture["captured_at"])
        for image in capture["images"]:
            bucket = cloud.captures_bucket if image["kind"] == "raw" else cloud.processed_bucket
            wanted[f"{bucket}/{image_key(key, image['view'], image['kind'])}"] = image["sha256"]
        for measuring in store.list_measurings(capture["id"]):
            later = None if measuring["measurement_id"] == capture["id"] else measuring["measurement_id"]
            wanted[f"{cloud.processed_bucket}/{measurements_key(key, later)}"] = None
    return wanted


def assert_cloud_matches(store: Store, cloud: Cloud) -> None:
    """Every object present with the right checksum, every row exactly once, nothing pending."""
    wanted, found = expected_objects(store, cloud), s3_objects(cloud)
    assert set(found) == set(wanted)
    assert all(found[k] == sha for k, sha in wanted.items() if sha is not None)
    captures = store.list_captures(limit=10_000)
    counts = row_counts(cloud.database_url)
    measurings = sum(len(store.list_measurings(c["id"])) for c in captures)
    assert counts["captures"] == len(captures) and counts["measurements"] == measurings
    goats = {c["goat_tag"] for c in captures if c["goat_tag"]}
    assert counts["tape_measurements"] == sum(len(store.taped(store.get_goat(g)["id"])) for g in goats)
    assert store.outbox_counts()["pending"] == 0


def row_counts(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("devices", "goats", "captures", "measurements", "scale_weights", "tape_measurements")
        }


def aws_test_env(s3) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": s3.ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": s3.SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "PATH": os.environ["PATH"],
    }
