"""Keypoints a person placed on captures' photos: stored per capture and view, replaced whole."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlite_utils import Database

from edge.store.errors import CaptureNotFoundError
from edge.store.records import iso_utc


@dataclass(frozen=True)
class ViewLabels:
    capture_id: str
    view: str
    keypoints: dict[str, list[float]]  # landmark -> [x_px, y_px], pixel centres at integers
    source: str  # the file they came from


def put_labels(db: Database, labels: list[ViewLabels]) -> None:
    """Store every view's labels; an earlier import's for the same photo are replaced.
    The caller holds the transaction, so an import lands whole or not at all."""
    now = iso_utc()
    for item in labels:
        if db.execute("SELECT 1 FROM captures WHERE id = ?", [item.capture_id]).fetchone() is None:
            raise CaptureNotFoundError(f"no capture {item.capture_id}")
        db.execute(
            "INSERT INTO labels (capture_id, view, keypoints_json, source, imported_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (capture_id, view) DO UPDATE SET keypoints_json = excluded.keypoints_json, "
            "source = excluded.source, imported_at = excluded.imported_at",
            [item.capture_id, item.view, json.dumps(item.keypoints, sort_keys=True), item.source, now],
        )


def get_labels(db: Database, capture_id: str | None = None) -> list[dict]:
    """Labels (capture_id, view, keypoints, source, imported_at), of one capture or all."""
    where, params = ("WHERE capture_id = ?", [capture_id]) if capture_id else ("", [])
    rows = db.query(f"SELECT * FROM labels {where} ORDER BY capture_id, view", params)
    return [{**row, "keypoints": json.loads(row.pop("keypoints_json"))} for row in rows]
