"""Stored captures as the daemon would have recorded them, from simulated photos."""

from __future__ import annotations

from datetime import datetime

from edge.keypoints import VIEWS
from edge.store.ids import new_id
from edge.store.records import CaptureRecord, ImageFile


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
