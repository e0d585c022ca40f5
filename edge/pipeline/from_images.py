"""Three photos -> keypoints -> quality gate -> measurements, with annotated copies."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.detect.types import Detector, ViewDetections
from edge.geometry.calibration import Calibration
from edge.jpeg import encode_jpeg
from edge.keypoints import VIEWS
from edge.measure.estimate import MeasurementResult, MeasureSettings, measure
from edge.measure.weight import WeightFormula
from edge.measurements import MEASUREMENTS
from edge.pipeline.annotate import annotate
from edge.pipeline.gate import GateResult, GateSettings, gate
from edge.store.records import Measuring

ANNOTATED_JPEG_QUALITY = 88  # for a tablet screen; the raw image keeps the camera's quality


@dataclass(frozen=True)
class ImageMeasurement:
    gate: GateResult
    result: MeasurementResult | None  # None on a retake: no numbers from a bad capture
    detections: dict[str, ViewDetections]
    annotated: dict[str, bytes] = field(repr=False)  # JPEG files
    model_versions: dict[str, str] = field(default_factory=dict)


def measuring_from(measured: ImageMeasurement, calibration_hash: str, formula: WeightFormula) -> Measuring:
    """What the store keeps of one measuring: the values with their reasons and ±, the
    keypoints found, and which models, calibration and weight formula gave them. A retake
    keeps its keypoints and no values."""
    result = measured.result
    formula = result.weight_formula if result else formula
    return Measuring(
        measurements=dict(result.measurements) if result else dict.fromkeys(MEASUREMENTS),
        measurement_reasons=dict(result.reasons) if result else {},
        model_versions=dict(measured.model_versions),
        calibration_hash=calibration_hash,
        weight_formula={
            "divisor_cm3_per_kg": formula.divisor_cm3_per_kg,
            "source": formula.source,
            "samples": formula.samples,
        },
        measurement_uncertainty=dict(result.uncertainty) if result else {},
        keypoints={
            view: {name: [kp.x_px, kp.y_px, kp.confidence] for name, kp in d.keypoints().items()}
            for view, d in measured.detections.items()
            if d.goats
        },
    )


def measure_images(
    images_bgr: dict[str, np.ndarray],
    calibration: Calibration,
    detector: Detector,
    weight_formula: WeightFormula = WeightFormula(),
    settings: MeasureSettings = MeasureSettings(),
    gate_settings: GateSettings = GateSettings(),
) -> ImageMeasurement:
    detections = {
        view: detector.detect(view, images_bgr[view], calibration[view], mirrored_chute=calibration.mirrored_chute)
        for view in VIEWS
    }
    verdict = gate(detections, gate_settings)
    result = None
    if verdict.status == "ok":
        keypoints = {view: d.keypoints() for view, d in detections.items()}
        result = measure(keypoints, calibration, weight_formula, settings)
    # Each annotated copy is encoded as soon as it is drawn, so that three full-size copies
    # are never held at once (the daemon's peak memory: benchmarks/RESULTS.md).
    annotated = {}
    for view, d in detections.items():
        kps = d.keypoints() if d.goats else {}
        box = d.goats[0].box_px if d.goats else None
        annotated[view] = encode_jpeg(
            annotate(images_bgr[view], calibration[view], kps, box, result), ANNOTATED_JPEG_QUALITY
        )
    return ImageMeasurement(verdict, result, detections, annotated, dict(detector.versions))
