"""Captures on disk and in the database: their files, their rows, reading them back, sweeping.

Writing a capture is two steps the Store runs in order: `write_images` puts the JPEGs on
disk (durably), then `insert_capture` adds every row in one transaction. A crash between
the two leaves only files no row names, which `sweep_orphans` removes at the next start.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from edge.keypoints import VIEWS
from edge.store import outbox
from edge.store.errors import CaptureNotFoundError
from edge.store.files import ensure_dir, sha256_hex, write_file_atomic
from edge.store.goats import goat_id
from edge.store.ids import new_id
from edge.store.records import (
    KINDS,
    MEASUREMENT_COLUMNS,
    CaptureRecord,
    Measuring,
    StoredImage,
    iso_utc,
    measuring_of,
)

IMAGES_DIR = "images"


def capture_folder(data_dir: Path, rec: CaptureRecord) -> Path:
    day = rec.captured_at.astimezone(UTC)
    return data_dir / IMAGES_DIR / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}" / rec.capture_id


def image_name(view: str, kind: str) -> str:
    return f"{view}.jpg" if kind == "raw" else f"{view}.{kind}.jpg"


def write_images(folder: Path, rec: CaptureRecord) -> list[StoredImage]:
    """The capture's JPEGs in its folder (capture_folder), each written atomically."""
    ensure_dir(folder)
    stored = []
    for image in rec.images:
        path = folder / image_name(image.view, image.kind)
        write_file_atomic(path, bytes(image.jpeg))
        stored.append(
            StoredImage(
                id=new_id(),
                view=image.view,
                kind=image.kind,
                path=path,
                sha256=sha256_hex(image.jpeg),
                bytes=len(image.jpeg),
            )
        )
    return stored


def insert_capture(
    db: Database, data_dir: Path, rec: CaptureRecord, images: list[StoredImage]
) -> tuple[str | None, list[int]]:
    """Every row of one capture; the caller holds the transaction. Returns (goat id, outbox ids)."""
    goat = goat_id(db, rec.goat_tag)
    db.table("captures").insert(
        {
            "id": rec.capture_id,
            "captured_at": iso_utc(rec.captured_at),
            "device_id": rec.device_id,
            "status": rec.status,
            "reason": rec.reason,
            "goat_id": goat,
            "trigger": rec.trigger,
            "created_at": iso_utc(),
        }
    )
    db.table("images").insert_all(
        [
            {
                "id": im.id,
                "capture_id": rec.capture_id,
                "view": im.view,
                "kind": im.kind,
                "path": im.path.relative_to(data_dir).as_posix(),
                "sha256": im.sha256,
                "bytes": im.bytes,
            }
            for im in images
        ]
    )
    # A capture's first measuring shares its id (migration 5).
    db.table("measurements").insert(
        _measurement_row(rec.capture_id, rec.capture_id, iso_utc(rec.captured_at), measuring_of(rec))
    )
    # Parents before children: a worker going in id order never sends an images row (which
    # goes up with its file) before its capture, nor a row before the file it names.
    ids = [outbox.enqueue(db, "row", "captures", rec.capture_id)]
    ids += [outbox.enqueue(db, "object", "images", im.id, im.id) for im in images]
    ids.append(outbox.enqueue(db, "row", "measurements", rec.capture_id))
    return goat, ids


def _measurement_row(measurement_id: str, capture_id: str, measured_at: str, m: Measuring) -> dict:
    return {
        "id": measurement_id,
        "capture_id": capture_id,
        "measured_at": measured_at,
        "is_current": 1,
        **{name: _real(m.measurements.get(name)) for name in MEASUREMENT_COLUMNS},
        "reasons_json": json.dumps(m.measurement_reasons, sort_keys=True),
        "uncertainty_json": json.dumps(
            {name: float(v) for name, v in m.measurement_uncertainty.items()}, sort_keys=True
        ),
        "keypoints_json": json.dumps(
            {view: {n: [float(v) for v in p] for n, p in found.items()} for view, found in m.keypoints.items()}
        ),
        "model_versions_json": json.dumps(m.model_versions, sort_keys=True),
        "calibration_hash": m.calibration_hash,
        "weight_formula_json": None if m.weight_formula is None else json.dumps(m.weight_formula, sort_keys=True),
    }


def add_measuring(db: Database, capture_id: str, measuring: Measuring, measured_at: datetime) -> tuple[str, list[int]]:
    """A new current measuring of a stored capture; the one it replaces is kept, no longer
    current. Both rows go to the outbox, the old one first, so the cloud never holds two
    current rows. The caller holds the transaction. Returns (the new row's id, outbox ids)."""
    if not capture_exists(db, capture_id):
        raise CaptureNotFoundError(f"no capture {capture_id}")
    previous = [
        r[0] for r in db.execute("SELECT id FROM measurements WHERE capture_id = ? AND is_current = 1", [capture_id])
    ]
    db.execute("UPDATE measurements SET is_current = 0 WHERE capture_id = ? AND is_current = 1", [capture_id])
    measurement_id = new_id(measured_at)
    db.table("measurements").insert(_measurement_row(measurement_id, capture_id, iso_utc(measured_at), measuring))
    ids = [outbox.enqueue(db, "row", "measurements", old) for old in previous]
    ids.append(outbox.enqueue(db, "row", "measurements", measurement_id))
    return measurement_id, ids


def get_measurement(db: Database, measurement_id: str) -> dict:
    """One measuring, shaped like a capture (get_capture) whose measurement fields are this
    measuring's, with measurement_id, measured_at and is_current."""
    row = db.execute("SELECT capture_id FROM measurements WHERE id = ?", [measurement_id]).fetchone()
    if row is None:
        raise CaptureNotFoundError(f"no measurement {measurement_id}")
    capture = get_capture(db, row[0])
    found = next(db.query("SELECT * FROM measurements WHERE id = ?", [measurement_id]))
    return {**capture, **_measured_fields(found), "is_current": bool(found["is_current"])}


def list_measurings(db: Database, capture_id: str) -> list[dict]:
    """Every measuring of a capture, oldest first: id, measured_at, is_current, model_versions, measurements."""
    return [
        {**_measured_fields(row), "is_current": bool(row["is_current"])}
        for row in db.query("SELECT * FROM measurements WHERE capture_id = ? ORDER BY measured_at, id", [capture_id])
    ]


def _measured_fields(row: dict) -> dict:
    """A measurements row's fields as get_capture shows them."""
    return {
        "measurement_id": row["id"],
        "measured_at": row["measured_at"],
        "measurements": {name: row[name] for name in MEASUREMENT_COLUMNS},
        "measurement_reasons": json.loads(row["reasons_json"] or "{}"),
        "measurement_uncertainty": json.loads(row["uncertainty_json"] or "{}"),
        "keypoints": json.loads(row["keypoints_json"] or "{}"),
        "model_versions": json.loads(row["model_versions_json"] or "{}"),
        "calibration_hash": row["calibration_hash"],
        "weight_formula": json.loads(row["weight_formula_json"]) if row["weight_formula_json"] else None,
    }


def _real(value) -> float | None:
    return None if value is None else float(value)  # sqlite3 cannot bind numpy scalars


def capture_exists(db: Database, capture_id: str) -> bool:
    return db.execute("SELECT 1 FROM captures WHERE id = ?", [capture_id]).fetchone() is not None


_ORDER = {(view, kind): i for i, (view, kind) in enumerate((v, k) for k in KINDS for v in VIEWS)}


def _as_dicts(db: Database, where: str, params: list, limit: int | None = None) -> list[dict]:
    """Captures with goat tag, measurements and images, in three queries whatever their number."""
    sql = (
        f"SELECT c.*, g.tag AS goat_tag, m.id AS measurement_id, m.measured_at, "
        f"{', '.join('m.' + n for n in MEASUREMENT_COLUMNS)}, "
        "m.reasons_json, m.uncertainty_json, m.keypoints_json, m.model_versions_json, m.calibration_hash, "
        "m.weight_formula_json "
        "FROM captures c LEFT JOIN goats g ON g.id = c.goat_id "
        "LEFT JOIN measurements m ON m.capture_id = c.id AND m.is_current = 1 "
        f"WHERE {where} ORDER BY c.captured_at DESC, c.id DESC"
    )
    if limit is not None:
        sql, params = sql + " LIMIT ?", [*params, limit]
    captures = []
    for row in db.query(sql, params):
        captures.append(
            {
                **{
                    k: row[k]
                    for k in (
                        "id",
                        "captured_at",
                        "device_id",
                        "status",
                        "reason",
                        "goat_id",
                        "goat_tag",
                        "trigger",
                        "created_at",
                    )
                },
                **_measured_fields({**row, "id": row["measurement_id"]}),
                "images": [],
            }
        )
    by_id = {c["id"]: c for c in captures}
    if by_id:
        marks = ", ".join("?" * len(by_id))
        for image in db.query(f"SELECT * FROM images WHERE capture_id IN ({marks})", list(by_id)):
            by_id[image.pop("capture_id")]["images"].append(image)
    for c in captures:
        c["images"].sort(key=lambda im: _ORDER[(im["view"], im["kind"])])
    return captures


def get_capture(db: Database, capture_id: str) -> dict:
    found = _as_dicts(db, "c.id = ?", [capture_id])
    if not found:
        raise CaptureNotFoundError(f"no capture {capture_id}")
    return found[0]


def newest_capture_id(db: Database) -> str | None:
    row = db.execute("SELECT id FROM captures ORDER BY captured_at DESC, id DESC LIMIT 1").fetchone()
    return row[0] if row else None


def list_captures(db: Database, limit: int = 50, goat_tag: str | None = None, before: str | None = None) -> list[dict]:
    """Newest first; `before` is the id of the last capture of the previous page."""
    where, params = ["1"], []
    if goat_tag is not None:
        where.append("c.goat_id = ?")
        params.append(goat_id(db, goat_tag))
    if before is not None:
        row = db.execute("SELECT captured_at FROM captures WHERE id = ?", [before]).fetchone()
        if row is None:
            raise CaptureNotFoundError(f"no capture {before} to list captures before")
        where.append("(c.captured_at, c.id) < (?, ?)")
        params += [row[0], before]
    return _as_dicts(db, " AND ".join(where), params, limit)


def select_captures(
    db: Database,
    since: str | None = None,
    until: str | None = None,
    goat_tag: str | None = None,
    status: str | None = None,
) -> list[dict]:
    """Every capture from `since` up to but not including `until` (ISO times in UTC), of one
    goat or status where given; oldest first."""
    where, params = ["1"], []
    for clause, value in (
        ("c.captured_at >= ?", since),
        ("c.captured_at < ?", until),
        ("c.goat_id = ?", goat_id(db, goat_tag) if goat_tag is not None else None),
        ("c.status = ?", status),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    return _as_dicts(db, " AND ".join(where), params)[::-1]


def referenced_paths(db: Database) -> set[str]:
    """Image paths (relative) whose files must stay; a pruned image's file may go."""
    return {r[0] for r in db.execute("SELECT path FROM images WHERE pruned_at IS NULL")}


def sweep_orphans(db: Database, data_dir: Path, keep_folders: set[Path]) -> list[Path]:
    """Delete files under images/ no row names (a killed capture, temp files) and then empty folders."""
    root = data_dir / IMAGES_DIR
    keep = referenced_paths(db)
    removed = []
    for folder_name, _, files in os.walk(root, topdown=False):
        folder = Path(folder_name)
        if any(folder.is_relative_to(k) for k in keep_folders):
            continue  # a capture being written right now in another thread
        for name in files:
            path = folder / name
            if path.relative_to(data_dir).as_posix() not in keep:
                path.unlink(missing_ok=True)
                removed.append(path)
        holds_busy = any(k.is_relative_to(folder) for k in keep_folders)  # its day folder, say
        if folder != root and not holds_busy and not any(folder.iterdir()):
            folder.rmdir()
            removed.append(folder)
    return removed
