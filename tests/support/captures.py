"""Stored captures as the daemon would have recorded them, from simulated photos."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from edge.keypoints import VIEWS
from edge.measurements import MEASUREMENTS
from edge.store import Store
from edge.store.ids import new_id
from edge.store.records import CaptureRecord, ImageFile
from tests.support.sync_helpers import jpeg


def measured_record(capture, measured, measuring, at: datetime, goat_tag: str) -> CaptureRecord:
    """A button capture at `at` of `goat_tag`: the raw photos, the annotated ones and the
    measuring the models made of them."""
    return CaptureRecord(
        capture_id=new_id(at),
        captured_at=at,
        device_id="barn",
        status=measured.gate.status,
        reason=measured.gate.reason,
        trigger="button",
        images=tuple(ImageFile(v, "raw", capture.jpegs[v]) for v in VIEWS)
        + tuple(ImageFile(v, "annotated", measured.annotated[v]) for v in VIEWS),
        goat_tag=goat_tag,
        **vars(measuring),
    )


def earlier_capture(store: Store, tag: str, days_ago: float, weight_kg: float) -> None:
    """A good capture of goat `tag` some days ago that estimated `weight_kg` (its photos are
    placeholders: only its numbers are read)."""
    at = datetime.now(UTC) - timedelta(days=days_ago)
    store.record_capture(
        CaptureRecord(
            capture_id=new_id(at),
            captured_at=at,
            device_id="goat-edge-1",
            status="ok",
            reason=None,
            trigger="button",
            images=tuple(ImageFile(v, k, jpeg(n)) for n, (v, k) in enumerate((v, "raw") for v in VIEWS)),
            measurements={m: (weight_kg if m == "weight_kg" else 70.0) for m in MEASUREMENTS},
            measurement_reasons={},
            model_versions={},
            calibration_hash=None,
            weight_formula=None,
            goat_tag=tag,
        )
    )
