"""Keypoints from the three views + calibration -> 3D landmarks -> measurements.

The views are used together:
- landmarks that two views see (withers, hip, point of shoulder, pin bone, the widest
  chest points) are triangulated, so the top view's lateral position fixes the side
  view's scale and vice versa;
- the sternum, seen only from the side, lies on the midsagittal plane: the vertical
  plane through the triangulated withers and hip;
- the hip bones, seen only from above, lie at rump height: the side view's back
  height fixes the top view's scale.
A measurement whose landmarks are missing, unsure or impossible is null with a reason;
the others are still computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge.geometry.calibration import Calibration
from edge.geometry.triangulate import GeometryError, Plane, Ray, intersect_plane, pixel_ray, triangulate
from edge.keypoints import VIEW_KEYPOINTS, Keypoint, ViewKeypoints
from edge.measure.uncertainty import COVERAGE, UncertaintyModel, half_widths, standard_deviations
from edge.measure.weight import GIRTH_SHAPE_FACTOR, WeightFormula, heart_girth_from_chest
from edge.measurements import LENGTHS, MEASUREMENTS, landmarks_for, length_from_landmarks

# The side view's flank landmarks are the right ones when the side camera stands on the
# chute's other side (edge/detect/orientation.py); the front and top views see both.
TRIANGULATED = (
    "withers",
    "hip",
    "tail_head",
    "point_of_shoulder_left",
    "pin_left",
    "point_of_shoulder_right",
    "pin_right",
    "shoulder_left",
    "shoulder_right",
)
MIDLINE_PAIRS = (("withers", "hip"), ("withers", "tail_head"), ("hip", "tail_head"))
# Plausible bounds for any goat, kid to buck; outside them the geometry is wrong.
MAX_HEIGHT_CM = 200.0
MAX_LENGTH_CM = 250.0


@dataclass(frozen=True)
class MeasureSettings:
    min_confidence: float = 0.5
    max_residual_px: float = 12.0  # views that disagree by more saw different things
    # A keypoint on the outline is ~0.8 px sure across it, a model's ~4 px: (4 / 0.8)^2.
    outline_weight: float = 25.0
    girth_shape_factor: float = GIRTH_SHAPE_FACTOR
    # With a fitted model, each measurement gets a 90 % ± and is null where the ± is wider
    # than this share of the value. The weight goes with the girth squared times the body
    # length, so its share is about twice the girth's plus the length's.
    uncertainty: UncertaintyModel | None = None
    max_uncertainty_pct: float = 15.0
    max_weight_uncertainty_pct: float = 20.0


@dataclass(frozen=True)
class MeasurementResult:
    measurements: dict[str, float | None]
    reasons: dict[str, str]  # why each null measurement is null
    landmarks_cm: dict[str, np.ndarray]
    calibration_hash: str
    weight_formula: WeightFormula = field(default_factory=WeightFormula)
    # Measurement -> the ± (its own unit) that covers the true value in 90 % of captures;
    # empty without a fitted uncertainty model.
    uncertainty: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "measurements": {k: (None if v is None else round(v, 2)) for k, v in self.measurements.items()},
            "uncertainty": {k: round(v, 2) for k, v in self.uncertainty.items()},
            "uncertainty_coverage": COVERAGE if self.uncertainty else None,
            "reasons": dict(self.reasons),
            "landmarks_cm": {k: [round(float(c), 3) for c in v] for k, v in self.landmarks_cm.items()},
            "calibration_hash": self.calibration_hash,
            "weight_formula": {
                "divisor_cm3_per_kg": round(self.weight_formula.divisor_cm3_per_kg, 1),
                "source": self.weight_formula.source,
                "samples": self.weight_formula.samples,
            },
        }


class _Landmarks:
    """3D landmark estimates, and for each one that failed, the reason."""

    def __init__(
        self,
        keypoints: dict[str, ViewKeypoints],
        calibration: Calibration,
        settings: MeasureSettings,
        memo: dict | None = None,
    ):
        self.calibration = calibration
        self.settings = settings
        self.points: dict[str, np.ndarray] = {}
        self.failures: dict[str, str] = {}
        self._rays: dict[str, list[Ray]] = {}
        self._seen: dict[str, list[tuple[str, Keypoint]]] = {}  # what each landmark's rays came from
        self._notes: dict[str, list[str]] = {}
        # Rays and triangulations by the keypoints they came from, shared by the measurings of
        # one capture that move one keypoint at a time (edge/measure/uncertainty.py).
        self._memo = memo if memo is not None else {}
        for view, names in VIEW_KEYPOINTS.items():
            found = keypoints.get(view, {})
            for name in dict.fromkeys([*names, *found]):
                self._observe(view, name, found.get(name))

    def _observe(self, view: str, name: str, kp) -> None:
        notes = self._notes.setdefault(name, [])
        rays = self._rays.setdefault(name, [])
        camera = self.calibration[view]
        if kp is None:
            notes.append(f"{view} view did not find it")
        elif not (-1 <= kp.x_px <= camera.width_px and -1 <= kp.y_px <= camera.height_px):
            notes.append(
                f"{view} view put it at ({kp.x_px:.4g}, {kp.y_px:.4g}), outside its "
                f"{camera.width_px}x{camera.height_px} image"
            )
        elif kp.confidence < self.settings.min_confidence:
            notes.append(f"{view} view confidence {kp.confidence:.2f} < {self.settings.min_confidence:.2f}")
        else:
            key = ("ray", view, kp)
            if key not in self._memo:
                self._memo[key] = pixel_ray(camera, kp.x_px, kp.y_px, kp.across_outline)
            rays.append(self._memo[key])
            self._seen.setdefault(name, []).append((view, kp))

    def rays(self, name: str, view: str | None = None) -> list[Ray]:
        return [r for r in self._rays.get(name, []) if view is None or r.view == view]

    def fail(self, name: str, reason: str) -> None:
        notes = "; ".join(self._notes.get(name, []))
        self.failures[name] = f"{reason} ({notes})" if notes else reason

    def triangulate(self, name: str) -> None:
        rays = self.rays(name)
        if len(rays) < 2:
            self.fail(name, f"{name.replace('_', ' ')} needs two views")
            return
        key = ("triangulated", name, tuple(self._seen[name]))
        if key not in self._memo:
            try:
                self._memo[key] = triangulate(
                    rays, self.calibration.cameras, name, self.settings.max_residual_px, self.settings.outline_weight
                )
            except GeometryError as exc:
                # The reason, not the exception: a kept exception's traceback would hold this
                # capture's frames, photos and all, until Python's cycle collector ran.
                self._memo[key] = str(exc)
        found = self._memo[key]
        if isinstance(found, str):
            self.failures[name] = found
            return
        try:
            self._accept(name, found)
        except GeometryError as exc:
            self.failures[name] = str(exc)

    def _accept(self, name: str, point_cm: np.ndarray) -> None:
        """Keep a landmark only where a goat can be, so no plane is built on a wrong one."""
        z_cm = float(point_cm[2])
        if z_cm < 0:
            raise GeometryError(f"impossible geometry: {name} would be {-z_cm:.1f} cm below the floor")
        if z_cm > MAX_HEIGHT_CM:
            raise GeometryError(f"impossible geometry: {name} would be {z_cm:.0f} cm high")
        self.points[name] = point_cm
        self.failures.pop(name, None)

    def on_plane(self, name: str, view: str, plane: Plane | None, plane_reason: str) -> None:
        """One view's ray meets a plane the landmark lies on, when no two views saw it.

        Views that saw it and disagree are not overruled: the landmark stays unknown.
        """
        if name in self.points or len(self.rays(name)) >= 2:
            return
        rays = self.rays(name, view)
        if plane is None:
            self.fail(name, plane_reason)
        elif not rays:
            self.fail(name, f"{name.replace('_', ' ')} not seen by the {view} view")
        else:
            try:
                self._accept(name, intersect_plane(rays[0], plane, self.calibration[view], name))
            except GeometryError as exc:
                self.failures[name] = str(exc)


def _midsagittal_plane(lm: _Landmarks) -> tuple[Plane | None, str]:
    for a, b in MIDLINE_PAIRS:
        if a in lm.points and b in lm.points:
            try:
                return Plane.vertical_through(lm.points[a], lm.points[b]), ""
            except GeometryError as exc:
                return None, f"no midline of the animal: {exc}"
    return None, "no midline of the animal: withers, hip and tail head were not triangulated"


def estimate_landmarks(
    keypoints: dict[str, ViewKeypoints],
    calibration: Calibration,
    settings: MeasureSettings = MeasureSettings(),
    memo: dict | None = None,
) -> _Landmarks:
    lm = _Landmarks(keypoints, calibration, settings, memo)
    for name in TRIANGULATED:
        lm.triangulate(name)
    midline, why = _midsagittal_plane(lm)
    for name in ("withers", "hip", "sternum"):
        lm.on_plane(name, "side", midline, why)
    rump = Plane.horizontal(lm.points["hip"][2]) if "hip" in lm.points else None
    for name in ("hook_left", "hook_right"):
        lm.on_plane(name, "top", rump, "hip bones need the rump height: " + lm.failures.get("hip", ""))
    return lm


def _check_plausible(name: str, value: float, values: dict[str, float | None]) -> str | None:
    if name in ("withers_height_cm", "rump_height_cm"):
        if value <= 0:
            return f"impossible geometry: {value:.1f} cm is below the floor"
        if value > MAX_HEIGHT_CM:
            return f"impossible geometry: {value:.0f} cm is taller than any goat"
    elif name == "chest_depth_cm":
        if value <= 0:
            return f"impossible geometry: the sternum is {-value:.1f} cm above the withers"
        withers = values.get("withers_height_cm")
        if withers is not None and value >= withers:
            return "impossible geometry: the sternum is below the floor"
    elif value <= 0 or value > MAX_LENGTH_CM:
        return f"impossible geometry: {value:.1f} cm"
    return None


def measure(
    keypoints: dict[str, ViewKeypoints],
    calibration: Calibration,
    weight_formula: WeightFormula = WeightFormula(),
    settings: MeasureSettings = MeasureSettings(),
) -> MeasurementResult:
    values, reasons, landmarks = _measured(keypoints, calibration, weight_formula, settings)
    model = settings.uncertainty
    if model is None:
        return MeasurementResult(values, reasons, landmarks, calibration.hash, weight_formula)

    memo: dict = {}

    def again(moved: dict[str, ViewKeypoints]) -> dict[str, float | None]:
        return _measured(moved, calibration, weight_formula, settings, memo)[0]

    plus_minus = half_widths(standard_deviations(keypoints, values, again, model), model)
    for name, half_width in plus_minus.items():
        value = values[name]
        weight = name == "weight_kg"
        limit_pct = settings.max_weight_uncertainty_pct if weight else settings.max_uncertainty_pct
        if value is not None and half_width > limit_pct / 100 * abs(value):
            values[name] = None
            unit = "kg" if weight else "cm"
            reasons[name] = f"too unsure: ±{half_width:.1f} {unit} on {value:.1f} {unit} is more than {limit_pct:g} %"
    kept = {name: hw for name, hw in plus_minus.items() if values[name] is not None}
    return MeasurementResult(values, reasons, landmarks, calibration.hash, weight_formula, kept)


def _measured(
    keypoints: dict[str, ViewKeypoints],
    calibration: Calibration,
    weight_formula: WeightFormula,
    settings: MeasureSettings,
    memo: dict | None = None,
) -> tuple[dict[str, float | None], dict[str, str], dict[str, np.ndarray]]:
    """The measurements, why each missing one is missing, and the landmarks they came from."""
    lm = estimate_landmarks(keypoints, calibration, settings, memo)
    values: dict[str, float | None] = {name: None for name in MEASUREMENTS}
    reasons: dict[str, str] = {}
    for name in LENGTHS:
        missing = [n for n in landmarks_for(name, lm.points) if n not in lm.points]
        if missing:
            reasons[name] = f"needs {missing[0]}: {lm.failures.get(missing[0], 'not estimated')}"
            continue
        value = length_from_landmarks(name, lm.points)
        problem = _check_plausible(name, value, values)
        if problem:
            reasons[name] = problem
        else:
            values[name] = value

    width, depth = values["chest_width_cm"], values["chest_depth_cm"]
    if width is None or depth is None:
        reasons["heart_girth_cm"] = "needs chest width and chest depth"
    else:
        values["heart_girth_cm"] = heart_girth_from_chest(width, depth, settings.girth_shape_factor)
    girth, length = values["heart_girth_cm"], values["body_length_cm"]
    if girth is None or length is None:
        reasons["weight_kg"] = "needs heart girth and body length"
    else:
        values["weight_kg"] = weight_formula.weight_kg(girth, length)
    return values, reasons, dict(lm.points)
