"""Three photos -> keypoints -> quality gate -> measurements, with annotated copies."""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.detect.detector import PoseDetector, ViewDetections
from edge.detect.quality import GateResult, GateSettings, gate
from edge.errors import GoatEdgeError
from edge.geometry.calibration import Calibration
from edge.geometry.camera import VIEWS
from edge.measure.annotate import annotate
from edge.measure.estimate import MeasurementResult, MeasureSettings, measure
from edge.measure.weight import WeightFormula

ANNOTATED_JPEG_QUALITY = 88  # for a tablet screen; the raw image keeps the camera's quality


@dataclass(frozen=True)
class ImageMeasurement:
    gate: GateResult
    result: MeasurementResult | None  # None on a retake: no numbers from a bad capture
    detections: dict[str, ViewDetections]
    annotated: dict[str, bytes] = field(repr=False)  # JPEG files
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
    # Each annotated copy is encoded as soon as it is drawn: three full-size copies held at
    # once cost 8 MB more at a fresh process's peak and 4-5 MB at the daemon's
    # (benchmarks/RESULTS.md).
    annotated = {}
    for view, d in detections.items():
        kps = d.keypoints() if d.goats else {}
        box = d.goats[0].box_px if d.goats else None
        annotated[view] = _jpeg(view, annotate(images_bgr[view], calibration[view], kps, box, result))
    return ImageMeasurement(verdict, result, detections, annotated, dict(detector.versions))


def _jpeg(view: str, image_bgr: np.ndarray) -> bytes:
    ok, jpeg = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, ANNOTATED_JPEG_QUALITY])
    if not ok:
        raise GoatEdgeError(f"{view} camera: cannot encode the annotated image")
    return jpeg.tobytes()
