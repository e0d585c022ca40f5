"""One capture, from a press to a stored result: cameras -> models -> gate -> geometry -> store.

Only one capture runs at a time. A press while one runs is refused at once
(CaptureBusyError), never queued, so an impatient second press cannot measure the same
goat twice.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from edge.camera.rig import CameraRig
from edge.detect.types import Detector
from edge.errors import GoatEdgeError
from edge.geometry.calibration import Calibration
from edge.keypoints import VIEWS
from edge.measure.estimate import MeasureSettings
from edge.measure.weight import WeightFormula
from edge.pipeline.from_images import ImageMeasurement, measure_images, measuring_from
from edge.pipeline.gate import GateSettings
from edge.pipeline.metrics import Metrics, TimedDetector
from edge.store import Store, check_free_disk
from edge.store.ids import new_id
from edge.store.records import CaptureRecord, ImageFile

log = logging.getLogger(__name__)


class CaptureBusyError(GoatEdgeError):
    def __init__(self):
        super().__init__("a capture is already running; wait for its result")


@dataclass(frozen=True)
class CaptureSettings:
    device_id: str
    min_free_disk_mb: float
    keep_synced_captures: int = 5000
    keep_annotated_days: float | None = 365.0
    keep_synced_captures_days: float | None = None
    measure: MeasureSettings = MeasureSettings()
    gate: GateSettings = GateSettings()
    weight_formula: WeightFormula = field(default_factory=WeightFormula)


class CapturePipeline:
    def __init__(
        self,
        rig: CameraRig,
        detector: Detector,
        calibration: Calibration,
        store: Store,
        settings: CaptureSettings,
        metrics: Metrics | None = None,
    ):
        self.metrics = metrics or Metrics()
        self.rig, self.calibration, self.store = rig, calibration, store
        self.detector: Detector = TimedDetector(detector, self.metrics)
        self.settings = settings
        self._running = threading.Lock()
        self._shots = 0

    @property
    def busy(self) -> bool:
        return self._running.locked()

    def capture(self, trigger: str, goat_tag: str | None = None) -> dict:
        """Take, measure and store one capture; returns the stored capture (Store.get_capture)."""
        if not self._running.acquire(blocking=False):
            raise CaptureBusyError()
        try:
            return self._capture(trigger, goat_tag)
        finally:
            self._running.release()

    def swap_models(self, detector: Detector, measure: MeasureSettings) -> bool:
        """Use these models from the next capture on; False (nothing changed) while a capture
        runs, so that no capture is measured half with one set and half with another."""
        if not self._running.acquire(blocking=False):
            return False
        try:
            self.detector = TimedDetector(detector, self.metrics)
            self.settings = dataclasses.replace(self.settings, measure=measure)
            return True
        finally:
            self._running.release()

    def wait_idle(self) -> None:
        """Block until a running capture has finished (on shutdown)."""
        with self._running:
            pass

    def _capture(self, trigger: str, goat_tag: str | None) -> dict:
        if goat_tag is not None:
            self.store.get_goat(goat_tag)  # an unknown tag is refused before the cameras fire
        captured_at = datetime.now(UTC)
        capture_id = new_id(captured_at)
        # Each line names the capture, so its whole life can be followed in the journal
        # (journalctl -u goat-edge -u goat-sync | grep <id>).
        log.info("capture %s: %s trigger, goat %s", capture_id, trigger, goat_tag or "not given")
        start_s = time.perf_counter()
        try:
            with self.metrics.capture() as outcome:
                check_free_disk(self.store.data_dir, self.settings.min_free_disk_mb)
                self._shots += 1
                frames = self.rig.capture_all(self._shots)
                cameras_s = time.perf_counter() - start_s
                measured = measure_images(
                    {v: frames[v].image_bgr for v in VIEWS},
                    self.calibration,
                    self.detector,
                    self.settings.weight_formula,
                    self.settings.measure,
                    self.settings.gate,
                )
                log.info(
                    "capture %s: cameras %.2f s, models and gate %.2f s: %s",
                    capture_id,
                    cameras_s,
                    time.perf_counter() - start_s - cameras_s,
                    measured.gate.status,
                )
                record = self._record(capture_id, captured_at, trigger, goat_tag, frames, measured)
                self.store.record_capture(record)
                outcome.update(status=record.status, reason=record.reason)
        except Exception as exc:
            log.warning("capture %s: failed after %.2f s: %s", capture_id, time.perf_counter() - start_s, exc)
            raise
        weight_kg = record.measurements.get("weight_kg")
        log.info(
            "capture %s: stored, %s, goat %s, weight %s, %.2f s%s",
            capture_id,
            record.status,
            goat_tag or "not given",
            f"{weight_kg:.1f} kg" if weight_kg is not None else "none",
            time.perf_counter() - start_s,
            f" ({record.reason})" if record.reason else "",
        )
        self._apply_retention()
        return self.store.get_capture(record.capture_id)

    def _apply_retention(self) -> None:
        """Make room for the next captures with what the cloud already has (edge/store/retention.py)."""
        settings = self.settings
        pruned = self.store.prune_synced_raw_images(settings.keep_synced_captures)
        if settings.keep_annotated_days is not None:
            pruned += self.store.prune_synced_annotated_images(settings.keep_annotated_days)
        if pruned:
            log.info("pruned %d images already in the cloud", pruned)
        if settings.keep_synced_captures_days is not None:
            forgotten = self.store.forget_synced_captures(settings.keep_synced_captures_days)
            if forgotten:
                log.info(
                    "deleted %d captures older than %g days, all in the cloud",
                    forgotten,
                    settings.keep_synced_captures_days,
                )

    def _record(
        self,
        capture_id: str,
        captured_at: datetime,
        trigger: str,
        goat_tag: str | None,
        frames,
        measured: ImageMeasurement,
    ) -> CaptureRecord:
        images = [ImageFile(v, "raw", frames[v].jpeg) for v in VIEWS]
        images += [ImageFile(v, "annotated", measured.annotated[v]) for v in VIEWS]
        measuring = measuring_from(measured, self.calibration.hash, self.settings.weight_formula)
        return CaptureRecord(
            capture_id=capture_id,
            captured_at=captured_at,
            device_id=self.settings.device_id,
            status=measured.gate.status,
            reason=measured.gate.reason,
            trigger=trigger,
            images=tuple(images),
            goat_tag=goat_tag,
            **vars(measuring),
        )
