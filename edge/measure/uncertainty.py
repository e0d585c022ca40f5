"""How sure each measurement is: keypoint spread, carried through the geometry to centimetres.

A pose model's keypoint lands some pixels from the true landmark; how far depends on the
landmark (the withers on the outline are sharper than the hip under the hair) and on how
sure the model says it is. That spread, per view and landmark and by confidence, is fitted
against the true keypoints of simulated tuning captures (scripts/fit_uncertainty.py), never
the held-out ones. Each measurement's spread then follows from the geometry itself: every
keypoint the measurement depends on is moved by one pixel along each image axis (along
and across the outline for a keypoint moved onto it) and the measurement taken again,
which gives its rate of change; the keypoints' spreads, weighted by those rates and added
in quadrature, are the measurement's standard deviation. One factor per measurement, the
90th percentile of |error| / standard deviation on the tuning captures, turns it into the
half-width of an interval that covers the true value in 90 % of captures; the benchmarks
check that coverage on held-out captures and on the unseen look.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from edge.errors import GoatEdgeError
from edge.keypoints import Keypoint, ViewKeypoints
from edge.measurements import UNCERTAINTY_COVERAGE

log = logging.getLogger(__name__)

COVERAGE = UNCERTAINTY_COVERAGE
# Landmarks the geometry never uses (tests/test_uncertainty.py checks this): moving them
# would only cost time.
UNUSED = frozenset(("nose", "poll", "fore_hoof_left", "fore_hoof_right", "hind_hoof_left", "hind_hoof_right"))
STEP_PX = 1.0  # small enough that a one-pixel move never crosses the triangulation's residual limit
# Lower edges of the confidence bins; a keypoint below the first is not used at all.
CONFIDENCE_BINS = (0.5, 0.8, 0.95)
# The weight has no true value in the simulator to fit a factor on; it follows the girth's.
WEIGHT_FACTOR_FROM = "heart_girth_cm"


class UncertaintyError(GoatEdgeError, ValueError):
    """An uncertainty file that cannot be read or does not match the models."""


@dataclass(frozen=True)
class UncertaintyModel:
    # view -> landmark -> spread along each image axis, px, at the top confidence bin
    keypoint_sigma_px: dict[str, dict[str, float]]
    # view -> one factor per CONFIDENCE_BINS bin, multiplying the landmark's spread
    confidence_factor: dict[str, tuple[float, ...]]
    across_outline_sigma_px: float  # a keypoint moved onto the photo's outline, across it
    interval_factor: dict[str, float]  # measurement -> half-width / standard deviation
    model_versions: dict[str, str]  # the models it was fitted for
    fitted_on: str = ""
    coverage: float = COVERAGE

    def sigma_px(self, view: str, name: str, confidence: float) -> float | None:
        base = self.keypoint_sigma_px.get(view, {}).get(name)
        if base is None:
            return None
        factors = self.confidence_factor.get(view, (1.0,) * len(CONFIDENCE_BINS))
        level = max((i for i, lo in enumerate(CONFIDENCE_BINS) if confidence >= lo), default=0)
        return base * factors[level]

    def factor(self, measurement: str) -> float | None:
        if measurement == "weight_kg":
            measurement = WEIGHT_FACTOR_FROM
        return self.interval_factor.get(measurement)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["confidence_factor"] = {v: list(f) for v, f in self.confidence_factor.items()}
        data["confidence_bins"] = list(CONFIDENCE_BINS)
        return data


def load_uncertainty(path: Path) -> UncertaintyModel:
    try:
        data = yaml.safe_load(Path(path).read_text())
        if list(data.pop("confidence_bins")) != list(CONFIDENCE_BINS):
            raise UncertaintyError(f"{path}: fitted for other confidence bins; fit it again")
        data["confidence_factor"] = {v: tuple(f) for v, f in data["confidence_factor"].items()}
        return UncertaintyModel(**data)
    except (OSError, yaml.YAMLError, TypeError, KeyError, AttributeError) as exc:
        raise UncertaintyError(f"{path}: not an uncertainty file ({exc})") from exc


def save_uncertainty(model: UncertaintyModel, path: Path) -> None:
    Path(path).write_text(yaml.safe_dump(model.to_dict(), sort_keys=False))


Measure = Callable[[dict[str, ViewKeypoints]], dict[str, float | None]]


def standard_deviations(
    keypoints: dict[str, ViewKeypoints], base: dict[str, float | None], measure: Measure, model: UncertaintyModel
) -> dict[str, float]:
    """Each measured value's standard deviation, in its own unit, from the keypoints' spreads."""
    variance = {name: 0.0 for name, value in base.items() if value is not None}
    for view, found in keypoints.items():
        for name, kp in found.items():
            sigma = model.sigma_px(view, name, kp.confidence)
            if name in UNUSED or sigma is None:
                continue
            for direction, spread in _directions(kp, sigma, model.across_outline_sigma_px):
                moved = {**keypoints, view: {**found, name: _moved(kp, direction)}}
                values = measure(moved)
                for m in variance:
                    value = values.get(m)
                    if value is not None:
                        variance[m] += ((value - base[m]) / STEP_PX * spread) ** 2  # type: ignore[operator]
    return {m: math.sqrt(v) for m, v in variance.items()}


def half_widths(sigmas: dict[str, float], model: UncertaintyModel) -> dict[str, float]:
    """The ± that covers the true value in model.coverage of captures, per measurement."""
    out = {}
    for name, sigma in sigmas.items():
        factor = model.factor(name)
        if factor is not None:
            out[name] = factor * sigma
    return out


def _directions(kp: Keypoint, sigma_px: float, across_sigma_px: float):
    if kp.across_outline is None:
        return (((1.0, 0.0), sigma_px), ((0.0, 1.0), sigma_px))
    ax, ay = kp.across_outline
    return (((ax, ay), across_sigma_px), ((-ay, ax), sigma_px))


def _moved(kp: Keypoint, direction: tuple[float, float]) -> Keypoint:
    return dataclasses.replace(kp, x_px=kp.x_px + STEP_PX * direction[0], y_px=kp.y_px + STEP_PX * direction[1])


def uncertainty_for(path: Path, model_versions: dict[str, str]) -> UncertaintyModel | None:
    """The fitted model at path for these pose models; None, with a warning, where there is
    none or it was fitted for other models (measurements then carry no ±)."""
    if not Path(path).exists():
        log.warning("no %s: measurements carry no uncertainty (scripts/fit_uncertainty.py fits one)", path)
        return None
    model = load_uncertainty(path)
    if model.model_versions != model_versions:
        log.warning(
            "%s was fitted for models %s, not these (%s): measurements carry no uncertainty until it is fitted again",
            path,
            model.model_versions,
            model_versions,
        )
        return None
    return model
