"""CSV exports of the farm's records, for a spreadsheet: captures, and scale weights.

One row per capture, newest last, with the goat, every measurement and its ±, the
estimated weight beside the goat's scale weight of the same day (where it was weighed;
days are UTC days, as every time the Pi stores), and the model versions that measured it.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta

from edge.measurements import MEASUREMENTS
from edge.store.db import Store
from edge.store.errors import InvalidRecordError

CAPTURE_COLUMNS = (
    "capture_id",
    "captured_at",
    "goat_tag",
    "status",
    "reason",
    *MEASUREMENTS,
    *(f"{name}_plus_minus" for name in MEASUREMENTS),
    "scale_weight_kg",
    "model_versions",
)
SCALE_COLUMNS = ("goat_tag", "weighed_at", "weight_kg", "notes")
FIT_COLUMNS = ("goat_tag", "weighed_at", "captured_at", "capture_id", "heart_girth_cm", "body_length_cm", "weight_kg")
# A scale weight and a capture this far apart still describe the same animal for the fit.
FIT_MAX_DAYS = 3
# A spreadsheet runs a cell that starts with one of these as a formula: a tag or a note
# typed as "=HYPERLINK(...)" must stay text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def captures_csv(store: Store, since: date | None, until: date | None, goat_tag: str | None) -> str:
    """Captures from `since` to `until`, both whole days (UTC) and both included."""
    if since and until and since > until:
        raise InvalidRecordError(f"since {since} is after until {until}")
    end = (until + timedelta(days=1)).isoformat() if until else None
    captures = store.select_captures(since.isoformat() if since else None, end, goat_tag, None)
    weighed = _scale_weights_by_day(store)
    rows = []
    for c in captures:
        plus_minus = c.get("measurement_uncertainty") or {}
        rows.append(
            {
                "capture_id": c["id"],
                "captured_at": c["captured_at"],
                "goat_tag": _text(c["goat_tag"]),
                "status": c["status"],
                "reason": _text(c["reason"]),
                **{name: _number(c["measurements"].get(name)) for name in MEASUREMENTS},
                **{f"{name}_plus_minus": _number(plus_minus.get(name)) for name in MEASUREMENTS},
                "scale_weight_kg": _number(weighed.get((c["goat_tag"], c["captured_at"][:10]))),
                "model_versions": json.dumps(c["model_versions"], sort_keys=True),
            }
        )
    return _csv(CAPTURE_COLUMNS, rows)


def scale_weights_csv(store: Store, goat_tag: str | None) -> str:
    goats = [store.get_goat(goat_tag)] if goat_tag else store.list_goats()
    rows = [
        {"goat_tag": _text(goat["tag"]), **weight, "notes": _text(weight["notes"])}
        for goat in goats
        for weight in store.scale_weights(goat["id"])
    ]
    return _csv(SCALE_COLUMNS, sorted(rows, key=lambda r: (r["weighed_at"], r["goat_tag"])))


def fit_weight_csv(store: Store) -> str:
    """`goat-edge fit-weight --samples` input: each scale weight with the goat's good capture
    nearest to it in time (within FIT_MAX_DAYS) that measured heart girth and body length."""
    rows = []
    for goat in store.list_goats():
        captures = [c for c in store.list_captures(limit=10_000, goat_tag=goat["tag"]) if _fits(c)]
        for weight in store.scale_weights(goat["id"]):
            nearest = _nearest(captures, datetime.fromisoformat(weight["weighed_at"]))
            if nearest is None:
                continue
            rows.append(
                {
                    "goat_tag": _text(goat["tag"]),
                    "weighed_at": weight["weighed_at"],
                    "captured_at": nearest["captured_at"],
                    "capture_id": nearest["id"],
                    "heart_girth_cm": _number(nearest["measurements"]["heart_girth_cm"]),
                    "body_length_cm": _number(nearest["measurements"]["body_length_cm"]),
                    "weight_kg": _number(weight["weight_kg"]),
                }
            )
    return _csv(FIT_COLUMNS, sorted(rows, key=lambda r: (r["weighed_at"], r["goat_tag"])))


def _fits(capture: dict) -> bool:
    found = capture["measurements"]
    return (
        capture["status"] == "ok"
        and found.get("heart_girth_cm") is not None
        and found.get("body_length_cm") is not None
    )


def _nearest(captures: list[dict], when: datetime) -> dict | None:
    def apart(capture: dict) -> timedelta:
        return abs(datetime.fromisoformat(capture["captured_at"]) - when)

    nearest = min(captures, key=apart, default=None)
    return nearest if nearest is not None and apart(nearest) <= timedelta(days=FIT_MAX_DAYS) else None


def _scale_weights_by_day(store: Store) -> dict[tuple[str, str], float]:
    """(goat tag, UTC day) -> that day's last scale weight."""
    return {
        (goat["tag"], weight["weighed_at"][:10]): weight["weight_kg"]
        for goat in store.list_goats()
        for weight in store.scale_weights(goat["id"])
    }


def _text(value: str | None) -> str:
    value = value or ""
    return "'" + value if value.startswith(FORMULA_START) else value


def _number(value) -> str:
    return "" if value is None else f"{value:g}"


def _csv(columns: tuple[str, ...], rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
