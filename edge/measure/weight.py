"""Heart girth from the chest's cross-section, and live weight from girth and body length."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from edge.errors import GoatEdgeError
from edge.jsonfile import read_json, validated, write_json_atomic

# The heart-girth cross-section is modelled as an ellipse whose axes are the chest depth
# (withers line to sternum) and the chest width, both measured in the girth plane just
# behind the elbow. Its perimeter uses Ramanujan's second approximation (error < 1e-4 %
# for these aspect ratios). GIRTH_SHAPE_FACTOR scales the ellipse to a real chest: a
# goat's chest is slightly boxier than an ellipse. The simulator's chest is an exact
# ellipse, so the factor is 1.0; a farm that tapes real girths can refine it.
GIRTH_SHAPE_FACTOR = 1.0

# Weight formula from Washington State University Extension, "Estimating the weight of
# goats" (heart-girth tape method, also used for sheep and cattle):
#     weight_lb = heart_girth_in ** 2 * body_length_in / 300
# with body length from the point of shoulder to the pin bone. In metric units:
#     weight_kg = heart_girth_cm ** 2 * body_length_cm / (300 * 2.54**3 / 0.45359237)
WSU_DIVISOR_CM3_PER_KG = 300 * 2.54**3 / 0.45359237  # = 10838.1

MIN_FIT_SAMPLES = 3
# A farm's goats differ from WSU's by a few tens of percent at most; a fit outside half to
# twice the WSU divisor means the numbers are wrong (inches or pounds, swapped columns).
MAX_FIT_MAPE_PCT = 25.0  # heart-girth formulas are good to about 10 %; far worse is bad data
MIN_DIVISOR_CM3_PER_KG = 0.5 * WSU_DIVISOR_CM3_PER_KG
MAX_DIVISOR_CM3_PER_KG = 2.0 * WSU_DIVISOR_CM3_PER_KG


class WeightFitError(GoatEdgeError):
    """The scale weights cannot give a trustworthy per-farm fit."""


def ellipse_perimeter_cm(width_cm: float, depth_cm: float) -> float:
    a, b = width_cm / 2, depth_cm / 2
    h = ((a - b) / (a + b)) ** 2
    return math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))


def heart_girth_from_chest(
    chest_width_cm: float, chest_depth_cm: float, shape_factor: float = GIRTH_SHAPE_FACTOR
) -> float:
    return shape_factor * ellipse_perimeter_cm(chest_width_cm, chest_depth_cm)


@dataclass(frozen=True)
class WeightFormula:
    """weight_kg = heart_girth_cm² × body_length_cm / divisor_cm3_per_kg."""

    divisor_cm3_per_kg: float = WSU_DIVISOR_CM3_PER_KG
    source: str = "WSU Extension: lb = HG_in^2 x BL_in / 300"
    samples: int = 0
    fit_mape_pct: float | None = None

    def weight_kg(self, heart_girth_cm: float, body_length_cm: float) -> float:
        return heart_girth_cm**2 * body_length_cm / self.divisor_cm3_per_kg

    def save(self, path: str | Path) -> None:
        write_json_atomic(path, asdict(self), "weight formula", WeightFitError)

    @staticmethod
    def load(path: str | Path) -> WeightFormula:
        data = read_json(path, "weight formula", WeightFitError)
        model = validated(_WeightFormulaFile, data, str(path), WeightFitError)
        return WeightFormula(**model.model_dump())


class _WeightFormulaFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    divisor_cm3_per_kg: float = Field(gt=MIN_DIVISOR_CM3_PER_KG, lt=MAX_DIVISOR_CM3_PER_KG)
    source: str
    samples: int = Field(ge=0)
    fit_mape_pct: float | None = Field(default=None, ge=0)


@dataclass(frozen=True)
class ScaleWeight:
    """A goat weighed on a scale, with the girth and length measured by the chute."""

    heart_girth_cm: float
    body_length_cm: float
    weight_kg: float


def fit_weight_formula(samples: list[ScaleWeight]) -> WeightFormula:
    """Fit the formula's divisor to a farm's own scale weights.

    Minimises the squared relative error, so kids count as much as bucks:
    with x = HG² × BL, find k minimising Σ ((w − k·x) / w)², which gives
    k = Σ(x/w) / Σ((x/w)²), and the divisor is 1/k.
    """
    if len(samples) < MIN_FIT_SAMPLES:
        raise WeightFitError(f"a per-farm fit needs at least {MIN_FIT_SAMPLES} weighed goats, got {len(samples)}")
    for i, s in enumerate(samples, 1):
        for field_name in ("heart_girth_cm", "body_length_cm", "weight_kg"):
            value = getattr(s, field_name)
            if not (math.isfinite(value) and value > 0):
                raise WeightFitError(f"goat {i}: {field_name} must be a positive number, got {value}")
    ratios = [s.heart_girth_cm**2 * s.body_length_cm / s.weight_kg for s in samples]
    k = sum(ratios) / sum(r * r for r in ratios)
    divisor = 1 / k
    if not MIN_DIVISOR_CM3_PER_KG < divisor < MAX_DIVISOR_CM3_PER_KG:
        raise WeightFitError(
            f"the fitted divisor {divisor:.0f} is outside half to twice the WSU value "
            f"({WSU_DIVISOR_CM3_PER_KG:.0f}); are girth and length in cm and weight in kg?"
        )
    errors = [abs(k * r - 1) for r in ratios]
    mape_pct = 100 * sum(errors) / len(errors)
    if mape_pct > MAX_FIT_MAPE_PCT:
        raise WeightFitError(
            f"the goats disagree with any one formula by {mape_pct:.0f}% on average "
            f"(more than {MAX_FIT_MAPE_PCT:.0f}%); check that each row is one goat"
        )
    return WeightFormula(
        divisor_cm3_per_kg=divisor, source="per-farm fit to scale weights", samples=len(samples), fit_mape_pct=mape_pct
    )
