"""Three photos -> keypoints -> quality gate -> measurements, with annotated copies."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.detect.detector import PoseDetector, ViewDetections
from edge.detect.quality import GateResult, GateSettings, gate
from edge.geometry.calibration import Calibration
from edge.geometry.camera import VIEWS
from edge.measure.annotate import annotate
from edge.measure.estimate import MeasurementResult, MeasureSettings, measure
from edge.measure.weight import WeightFormula


@dataclass(frozen=True)
class ImageMeasurement:
    gate: GateResult
    result: MeasurementResult | None  # None on a retake: no numbers from a bad capture
    detections: dict[str, ViewDetections]
    annotated: dict[str, np.ndarray] = field(repr=False)
    model_versions: dict[str, str] = field(default_factory=dict)


def measure_images(images_bgr: dict[str, np.ndarray], calibration: Calibration, detector: PoseDetector,
                   weight_formula: WeightFormula = WeightFormula(),
                   settings: MeasureSettings = MeasureSettings(),
                   gate_settings: GateSettings = GateSettings()) -> ImageMeasurement:
    detections = {view: detector.detect(view, images_bgr[view], calibration[view]) for view in VIEWS}
    verdict = gate(detections, gate_settings)
    result = None
    if verdict.status == "ok":
        keypoints = {view: d.keypoints() for view, d in detections.items()}
        result = measure(keypoints, calibration, weight_formula, settings)
    annotated = {}
    for view, d in detections.items():
        kps = d.keypoints() if d.goats else {}
        box = d.goats[0].box_px if d.goats else None
        annotated[view] = annotate(images_bgr[view], calibration[view], kps, box, result)
    return ImageMeasurement(verdict, result, detections, annotated, dict(detector.versions))
