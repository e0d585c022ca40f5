"""Fitting the uncertainty (edge/measure/uncertainty.py) to the models' real misses.

The keypoint spreads per view, landmark and confidence, the spread across the outline and
each measurement's interval factor, from readings of simulated captures whose true
keypoints and measurements are known (edge/training/sim_eval.py); and the spreads scaled
to a farm's own labelled photos. scripts/fit_uncertainty.py is the command; the
benchmarks fit the same way.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

from edge.keypoints import MODELS
from edge.measure.estimate import MeasureSettings, measure
from edge.measure.uncertainty import CONFIDENCE_BINS, COVERAGE, UNUSED, UncertaintyModel
from edge.measurements import LENGTHS
from edge.sim.looks import LOOKS
from edge.sim.truth import NOT_IN_IMAGE
from edge.training.dataset import look_of_dataset
from edge.training.sim_eval import record_calibration, record_keypoints

# The tuning captures' seeds: never a dataset's, never the held-out benchmarks'. Their
# readings are kept in TUNING_RECORDS, so a second fit re-measures instead of rendering.
TUNING_SEED = 8_500_000_000
TUNING_RECORDS = Path("datasets/eval/tuning.jsonl")
# The looks the models learnt: where a farm's photos say how unfamiliar its goats are, the
# fit starts from these alone.
FAMILIAR_LOOKS = ("standard", "varied")
# Every model of this project started from the standard look (models/README.md), whatever
# its card's last round trained on.
FIRST_LOOK = "standard"
# For a 2D Gaussian error with spread s along each axis, the median distance is 1.1774 s;
# for one axis, the median |error| is 0.6745 s.
MEDIAN_DISTANCE = float(np.sqrt(2 * np.log(2)))
MEDIAN_ONE_AXIS = 0.6745
MIN_SAMPLES = 20
# A farm labels tens of goats, not hundreds: a landmark's spread is scaled on its own from
# this many of its photos, and by its view's otherwise.
FARM_MIN_SAMPLES = 10


def keypoint_errors(records: list[dict]) -> list[tuple[str, str, float, np.ndarray, np.ndarray | None]]:
    """(view, landmark, confidence, error vector px, direction across the outline or None)."""
    out = []
    for r in records:
        for view, found in r["keypoints"].items():
            truth = r["truth_px"].get(view, {})
            for name, v in found.items():
                t = truth.get(name)
                if name in UNUSED or t is None or t[2] == NOT_IN_IMAGE:
                    continue
                across = np.array(v[3:5]) if len(v) == 5 else None
                out.append((view, name, v[2], np.array(v[:2]) - np.array(t[:2]), across))
    return out


def spread_sample(error: np.ndarray, across: np.ndarray | None) -> float:
    """One keypoint's miss as a sample of its spread along each axis: the median of these is
    the spread. Along the outline a keypoint is as sure as the model; across it, as the
    outline (across_outline_sigma_px), so only the part along counts here."""
    if across is None:
        return float(np.hypot(*error)) / MEDIAN_DISTANCE
    along = np.array([-across[1], across[0]])
    return abs(float(error @ along)) / MEDIAN_ONE_AXIS


def fit_keypoints(errors) -> tuple[dict, dict, float]:
    by_name: dict[tuple[str, str], list[float]] = defaultdict(list)
    across: list[float] = []
    for view, name, _, e, a in errors:
        by_name[view, name].append(spread_sample(e, a))
        if a is not None:
            across.append(abs(float(e @ a)) / MEDIAN_ONE_AXIS)
    sigma: dict[str, dict[str, float]] = defaultdict(dict)
    for (view, name), scaled in by_name.items():
        if len(scaled) >= MIN_SAMPLES:
            sigma[view][name] = round(float(np.median(scaled)), 3)
    factors: dict[str, list[float]] = {}
    for view in sigma:
        ratios: list[list[float]] = [[] for _ in CONFIDENCE_BINS]
        for v, name, confidence, e, a in errors:
            if v != view or a is not None or name not in sigma[view] or confidence < CONFIDENCE_BINS[0]:
                continue
            level = max(i for i, lo in enumerate(CONFIDENCE_BINS) if confidence >= lo)
            ratios[level].append(spread_sample(e, None) / sigma[view][name])
        factors[view] = [round(float(np.median(r)), 3) if len(r) >= MIN_SAMPLES else 1.0 for r in ratios]
        # A less sure keypoint is never taken as surer than a more sure one.
        for i in range(len(factors[view]) - 2, -1, -1):
            factors[view][i] = max(factors[view][i], factors[view][i + 1])
    return dict(sigma), factors, round(float(np.median(across)), 3) if across else 1.0


def scaled_to_farm(sigma: dict[str, dict[str, float]], errors) -> tuple[dict, dict[tuple[str, str], tuple[float, int]]]:
    """The simulated spreads scaled by how much more (or less) the models miss the farm's
    landmarks: per landmark, the median of its farm misses over its simulated spread, where
    FARM_MIN_SAMPLES photos show it; otherwise its view's median; otherwise unchanged. The
    interval factors stay: they say how keypoint spread turns into a measurement's error,
    which the farm's few goats cannot fit again."""
    ratios: dict[tuple[str, str], list[float]] = defaultdict(list)
    for view, name, _, e, a in errors:
        if name in sigma.get(view, {}):
            ratios[view, name].append(spread_sample(e, a) / sigma[view][name])
    by_view: dict[str, list[float]] = defaultdict(list)
    for (view, _), r in ratios.items():
        by_view[view] += r
    scaled: dict[str, dict[str, float]] = {}
    scales: dict[tuple[str, str], tuple[float, int]] = {}
    for view, spreads in sigma.items():
        scaled[view] = {}
        for name, spread in spreads.items():
            own, pooled = ratios.get((view, name), []), by_view.get(view, [])
            samples = own if len(own) >= FARM_MIN_SAMPLES else pooled if len(pooled) >= FARM_MIN_SAMPLES else []
            scale = float(np.median(samples)) if samples else 1.0
            scaled[view][name] = round(spread * scale, 3)
            scales[view, name] = (round(scale, 2), len(own))
    return scaled, scales


def learnt_looks(models: Path) -> frozenset[str]:
    """The simulated looks the models in this folder learnt: the standard look, and every
    look named by a simulated dataset in a card's training data (the farm's own datasets
    name no look)."""
    looks = {FIRST_LOOK}
    for name in MODELS:
        card = Path(models) / name / "card.yaml"
        if not card.exists():
            continue
        data = (yaml.safe_load(card.read_text()) or {}).get("training", {}).get("data") or []
        for dataset in [data] if isinstance(data, str) else data:
            looks.add(look_of_dataset(str(dataset)) or FIRST_LOOK)
    return frozenset(look for look in looks if look in LOOKS)


def error_ratios(records: list[dict], model: UncertaintyModel) -> dict[str, dict[str, np.ndarray]]:
    """Per measurement and look, each measured capture's |error| / standard deviation."""
    unit = dataclasses.replace(model, interval_factor=dict.fromkeys(LENGTHS + ("heart_girth_cm",), 1.0))
    settings = MeasureSettings(uncertainty=unit, max_uncertainty_pct=float("inf"))
    ratios: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if r["status"] != "ok" or not r["fully_in_view"]:
            continue
        result = measure(record_keypoints(r), record_calibration(r), settings=settings)
        for name, sigma in result.uncertainty.items():
            value = result.measurements[name]
            if name in r["truth"] and value is not None and sigma > 0:
                ratios[name][r["look"]].append(abs(value - r["truth"][name]) / sigma)
    return {name: {look: np.array(v) for look, v in by_look.items()} for name, by_look in ratios.items()}


def interval_factors(records: list[dict], model: UncertaintyModel) -> tuple[dict[str, float], dict[str, int]]:
    """Per measurement, the COVERAGE quantile of |error| / standard deviation over all
    captures, and how many captures that is."""
    ratios = {n: np.concatenate(list(by_look.values())) for n, by_look in error_ratios(records, model).items()}
    return (
        {n: round(float(np.quantile(r, COVERAGE)), 3) for n, r in ratios.items()},
        {n: len(r) for n, r in ratios.items()},
    )


def fit(records: list[dict], versions: dict[str, str], fitted_on: str) -> tuple[UncertaintyModel, dict[str, int]]:
    """The uncertainty of the models that read `records`, and how many captures each
    measurement's interval factor was fitted on."""
    sigma, factors, across = fit_keypoints(keypoint_errors(records))
    model = UncertaintyModel(sigma, {v: tuple(f) for v, f in factors.items()}, across, {}, versions, fitted_on)
    intervals, counts = interval_factors(records, model)
    return dataclasses.replace(model, interval_factor=intervals), counts


def left_out_look_coverage(
    records: list[dict], versions: dict[str, str], learnt: frozenset[str]
) -> dict[str, dict[str, float]]:
    """Per measurement and unfamiliar look, the % of that look's captures covered by the ±
    fitted on the other looks alone: how well the ± carries to a look it never saw, as it
    must to a farm's goats."""
    looks = {r["look"] for r in records}
    coverage: dict[str, dict[str, float]] = defaultdict(dict)
    for left_out in sorted(looks - learnt) if len(looks) > 1 else ():
        kept = [r for r in records if r["look"] != left_out]
        model, _ = fit(kept, versions, "")
        for name, by_look in error_ratios([r for r in records if r["look"] == left_out], model).items():
            factor = model.interval_factor.get(name)
            if factor is not None:
                coverage[name][left_out] = round(100 * float(np.mean(by_look[left_out] <= factor)), 1)
    return dict(coverage)
