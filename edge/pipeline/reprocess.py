"""`goat-edge reprocess`: stored captures measured again with the active models.

For each chosen capture whose raw photos are still on the Pi (not yet pruned after
reaching the cloud, and unchanged since they were stored), the photos go through the same
reading as a live capture (models, gate, geometry), and the result is stored as a new
measuring of the capture: the old one is kept, no longer current, and both go to the cloud,
which keeps every measuring and marks the newest current. The capture's own status (what
the associate saw at the chute) does not change. Each capture is one transaction, so a
stopped run leaves no capture half measured, and a second run skips the captures already
measured with these models: it resumes.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

from edge.detect.types import Detector
from edge.geometry.calibration import Calibration
from edge.jpeg import JpegError, decode_jpeg
from edge.keypoints import VIEWS
from edge.measure.estimate import MeasureSettings
from edge.measure.weight import WeightFormula
from edge.measurements import MEASUREMENTS
from edge.pipeline.from_images import measure_images, measuring_from
from edge.pipeline.gate import GateSettings
from edge.store import Store
from edge.store.errors import PhotoUnavailableError
from edge.store.records import as_utc_bound

log = logging.getLogger(__name__)


@dataclass
class ReprocessSummary:
    measured: list[str] = field(default_factory=list)  # capture ids measured again
    already: int = 0  # captures already measured with these models
    skipped: dict[str, str] = field(default_factory=dict)  # capture id -> why not


def reprocess(
    store: Store,
    detector: Detector,
    calibration: Calibration,
    settings: MeasureSettings,
    formula: WeightFormula,
    gate_settings: GateSettings,
    *,
    since: str | None = None,
    until: str | None = None,
    goat_tag: str | None = None,
) -> ReprocessSummary:
    summary = ReprocessSummary()
    versions = dict(detector.versions)
    chosen = store.select_captures(as_utc_bound(since, end=False), as_utc_bound(until, end=True), goat_tag)
    for capture in chosen:
        if capture["model_versions"] == versions:
            summary.already += 1
            continue
        if capture["calibration_hash"] not in (None, calibration.hash):
            summary.skipped[capture["id"]] = (
                f"taken with another calibration ({capture['calibration_hash']}, now {calibration.hash}); "
                "its photos would be measured with the wrong camera positions"
            )
            continue
        photos, why = _raw_photos(store, capture)
        if photos is None:
            summary.skipped[capture["id"]] = why
            continue
        measured = measure_images(photos, calibration, detector, formula, settings, gate_settings)
        measuring = measuring_from(measured, calibration.hash, formula)
        if measured.gate.status == "retake":
            reasons = {name: f"retake: {measured.gate.reason}" for name in MEASUREMENTS}
            measuring = dataclasses.replace(measuring, measurement_reasons=reasons)
        store.add_measuring(capture["id"], measuring)
        summary.measured.append(capture["id"])
        log.info("capture %s measured again with models %s", capture["id"], versions)
    return summary


def _raw_photos(store: Store, capture: dict):
    """The capture's raw photos, decoded, or None and why not."""
    photos = {}
    for view in VIEWS:
        try:
            photos[view] = decode_jpeg(store.raw_photo(capture, view))
        except PhotoUnavailableError as exc:
            return None, str(exc)
        except JpegError:
            return None, f"the raw {view} photo is not a JPEG"
    return photos, ""
