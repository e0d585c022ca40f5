"""Everything a capture needs, built once at start-up from the config, closed in reverse.

Start-up fails early, with the problem named: a bad calibration or weight formula, a
missing or corrupt model file, a store that cannot be opened or migrated.
"""

from __future__ import annotations

import logging
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

    def close(self) -> None:
        """Finish a running capture, then stop the parts in the reverse of their start."""
        self.pipeline.wait_idle()
        self.rig.close()
        self.detector.close()
        self.store.close()


def _calibration(config: EdgeConfig) -> Calibration:
    if config.measure.calibration is None:
        log.info("calibration: the simulated chute's (no measure.calibration set)")
        return default_calibration()
    return load_calibration(config.measure.calibration)


def build_context(config: EdgeConfig) -> EdgeContext:
    calibration = _calibration(config)
    formula = WeightFormula.load(config.measure.weight_formula) if config.measure.weight_formula else WeightFormula()
    store = Store.open(Path(config.storage.data_dir))
    try:
        removed = store.sweep_orphans()
        if removed:
            log.warning("removed %d files left by an interrupted capture", len(removed))
        # A promoted model set (goat-edge models promote) over the installed release's.
        models_dir = Registry(Path(config.storage.data_dir) / "models").active_dir(config.models.dir)
        if models_dir != config.models.dir:
            log.info("models: version %s (promoted)", models_dir.name)
        detector = NcnnDetector(config.models.model_copy(update={"dir": models_dir}))
    except BaseException:
        store.close()
        raise
    sizes = {view: calibration[view].size_px for view in calibration.cameras}
    rig = CameraRig(config.cameras, sizes, factory=make_camera)
    settings = CaptureSettings(
        device_id=config.device.id,
        min_free_disk_mb=config.storage.min_free_disk_mb,
        keep_synced_captures=config.storage.keep_synced_captures,
        measure=MeasureSettings(
            min_confidence=config.measure.min_keypoint_confidence,
            girth_shape_factor=config.measure.girth_shape_factor,
            uncertainty=uncertainty_for(
                config.measure.uncertainty or models_dir / "uncertainty.yaml", dict(detector.versions)
            ),
            max_uncertainty_pct=config.measure.max_uncertainty_pct,
            max_weight_uncertainty_pct=config.measure.max_weight_uncertainty_pct,
        ),
        gate=GateSettings(min_keypoint_confidence=config.measure.min_keypoint_confidence),
        weight_formula=formula,
    )
    pipeline = CapturePipeline(rig, detector, calibration, store, settings)
    return EdgeContext(config, calibration, store, detector, rig, pipeline)
