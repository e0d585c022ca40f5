"""Measurements taken by hand with a tape (or a stick, or calipers) on a goat: the farm's own
truth for the camera's centimetres. `goat-edge labels compare` and scripts/retrain.py report
the models' MAPE against them for the held-out goats photographed within a few days.

Synced to the cloud like scale weights, so the farm's truth is kept with its records.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlite_utils import Database

from edge.measurements import LENGTHS
from edge.store import outbox
from edge.store.errors import InvalidRecordError
from edge.store.goats import get_goat
from edge.store.ids import new_id
from edge.store.records import iso_utc

TAPED = LENGTHS + ("heart_girth_cm",)
MAX_TAPE_CM = 400.0  # longer than any goat's girth or length


def check_taped(values: dict[str, float]) -> None:
    if not values:
        raise InvalidRecordError("give at least one taped measurement, e.g. heart_girth_cm")
    for name, value_cm in values.items():
        if name not in TAPED:
            raise InvalidRecordError(f"'{name}' is not a measurement a tape gives; use one of {', '.join(TAPED)}")
        if isinstance(value_cm, bool) or not isinstance(value_cm, (int, float)) or not math.isfinite(value_cm):
            raise InvalidRecordError(f"{name}: {value_cm!r} is not a number of centimetres")
        if not 0 < value_cm < MAX_TAPE_CM:
            raise InvalidRecordError(f"{name}: {value_cm} cm is impossible for a goat (above 0, below {MAX_TAPE_CM:g})")


def add_taped(
    db: Database, tag: str, values: dict[str, float], measured_at: datetime | None = None, notes: str | None = None
) -> list[dict]:
    """One row per measurement, all taken at measured_at (now when not given)."""
    check_taped(values)
    goat = get_goat(db, tag)
    now = iso_utc()
    rows = [
        {
            "id": new_id(),
            "goat_id": goat["id"],
            "measured_at": iso_utc(measured_at) if measured_at else now,
            "name": name,
            "value_cm": float(value_cm),
            "notes": notes,
            "created_at": now,
        }
        for name, value_cm in values.items()
    ]
    db.table("tape_measurements").insert_all(rows)
    for row in rows:
        outbox.enqueue(db, "row", "tape_measurements", row["id"])
    return rows


def taped_of(db: Database, goat_id: str) -> list[dict]:
    return list(
        db.query(
            "SELECT name, value_cm, measured_at, notes FROM tape_measurements WHERE goat_id = ? "
            "ORDER BY measured_at, name",
            [goat_id],
        )
    )


def taped_near(db: Database, goat_id: str, at: str, within_days: float) -> dict[str, float]:
    """Each measurement taped on this goat nearest to `at` (ISO, UTC), within_days either side."""
    moment = datetime.fromisoformat(at)
    low, high = (iso_utc(moment + timedelta(days=d)) for d in (-within_days, within_days))
    nearest: dict[str, tuple[float, float]] = {}
    for row in db.query(
        "SELECT name, value_cm, measured_at FROM tape_measurements WHERE goat_id = ? AND measured_at BETWEEN ? AND ?",
        [goat_id, low, high],
    ):
        gap_s = abs((datetime.fromisoformat(row["measured_at"]) - moment).total_seconds())
        if row["name"] not in nearest or gap_s < nearest[row["name"]][0]:
            nearest[row["name"]] = (gap_s, row["value_cm"])
    return {name: value for name, (_, value) in nearest.items()}
