"""Everything a capture needs, built once at start-up from the config, closed in reverse.

Start-up fails early, with the problem named: a bad calibration or weight formula, a
missing or corrupt model file, a store that cannot be opened or migrated.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from edge.camera.factory import make_camera
from edge.camera.rig import CameraRig
from edge.config import EdgeConfig
from edge.detect.detector import NcnnDetector
from edge.detect.types import Detector
from edge.geometry.calibration import Calibration, default_calibration, load_calibration
from edge.measure.estimate import MeasureSettings
from edge.measure.uncertainty import uncertainty_for
from edge.measure.weight import WeightFormula
from edge.pipeline.capture import CapturePipeline, CaptureSettings
from edge.pipeline.gate import GateSettings
from edge.pipeline.metrics import Metrics
from edge.registry import Registry
from edge.store.db import Store

log = logging.getLogger(__name__)


@dataclass
class EdgeContext:
    config: EdgeConfig
    calibration: Calibration
    store: Store
    detector: Detector
    rig: CameraRig
    pipeline: CapturePipeline
    model_problem: str | None = None  # a promoted set that would not load (the old one runs on)

    def reload_models(self) -> bool:
        """Load the active model set if it is not the one running, and switch to it between
        captures (goat-edge models promote / rollback). True when it switched. A set that
        will not load is named in model_problem, and the running set stays."""
        wanted = active_detector_dir(self.config)
        running = getattr(self.detector, "models_dir", None)
        if running is None:
            return False
        if Path(running) == wanted:
            self.model_problem = None  # rolled back to the running set: nothing is wrong any more
            return False
        try:
            detector = active_detector(self.config)
            measure = measure_settings(self.config, detector)
        except Exception as exc:  # whatever a bad model set raises, the running one stays
            problem = f"models in {wanted} did not load, still running {running}: {exc}"
            if problem != self.model_problem:
                log.error("%s", problem)
            self.model_problem = problem
            return False
        while not self.pipeline.swap_models(detector, measure):
            time.sleep(0.2)  # a capture is running: switch right after it
        old, self.detector, self.model_problem = self.detector, detector, None
        old.close()
        log.info("models: now %s (%s)", wanted.name, ", ".join(f"{k} {v}" for k, v in detector.versions.items()))
        return True

    def close(self) -> None:
        """Finish a running capture, then stop the parts in the reverse of their start."""
        self.pipeline.wait_idle()
        self.rig.close()
        self.detector.close()
        self.store.close()


def calibration_of(config: EdgeConfig) -> Calibration:
    if config.measure.calibration is None:
        log.info("calibration: the simulated chute's (no measure.calibration set)")
        return default_calibration()
    return load_calibration(config.measure.calibration)


def active_detector_dir(config: EdgeConfig) -> Path:
    """The active model set's folder: a promoted version (goat-edge models promote), or the
    installed release's models."""
    return Registry(Path(config.storage.data_dir) / "models").active_dir(config.models.dir)


def active_detector(config: EdgeConfig) -> NcnnDetector:
    """The detector of the active model set."""
    models_dir = active_detector_dir(config)
    if models_dir != config.models.dir:
        log.info("models: version %s (promoted)", models_dir.name)
    return NcnnDetector(config.models.model_copy(update={"dir": models_dir}))


def measure_settings(config: EdgeConfig, detector: NcnnDetector) -> MeasureSettings:
    """How the configured measure section reads this detector's keypoints, with the
    uncertainty fitted for its models where there is one."""
    return MeasureSettings(
        min_confidence=config.measure.min_keypoint_confidence,
        girth_shape_factor=config.measure.girth_shape_factor,
        uncertainty=uncertainty_for(
            config.measure.uncertainty or detector.models_dir / "uncertainty.yaml", dict(detector.versions)
        ),
        max_uncertainty_pct=config.measure.max_uncertainty_pct,
        max_weight_uncertainty_pct=config.measure.max_weight_uncertainty_pct,
    )


def weight_formula(config: EdgeConfig) -> WeightFormula:
    return WeightFormula.load(config.measure.weight_formula) if config.measure.weight_formula else WeightFormula()


def build_context(config: EdgeConfig) -> EdgeContext:
    calibration = calibration_of(config)
    formula = weight_formula(config)
    store = Store.open(Path(config.storage.data_dir))
    try:
        removed = store.sweep_orphans()
        if removed:
            log.warning("removed %d files left by an interrupted capture", len(removed))
        detector = active_detector(config)
    except BaseException:
        store.close()
        raise
    sizes = {view: calibration[view].size_px for view in calibration.cameras}
    rig = CameraRig(config.cameras, sizes, factory=make_camera)
    settings = CaptureSettings(
        device_id=config.device.id,
        min_free_disk_mb=config.storage.min_free_disk_mb,
        keep_synced_captures=config.storage.keep_synced_captures,
        keep_annotated_days=config.storage.keep_annotated_days,
        keep_synced_captures_days=config.storage.keep_synced_captures_days,
        measure=measure_settings(config, detector),
        gate=GateSettings(min_keypoint_confidence=config.measure.min_keypoint_confidence),
        weight_formula=formula,
    )
    metrics = Metrics()
    metrics.watch(store, Path(config.storage.data_dir))
    pipeline = CapturePipeline(rig, detector, calibration, store, settings, metrics)
    return EdgeContext(config, calibration, store, detector, rig, pipeline)
