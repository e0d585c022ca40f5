"""Fit the models' keypoint spreads and the measurements' 90 % intervals on tuning captures.

    python scripts/fit_uncertainty.py [--models models] [--count 150] [--looks standard,varied,tuning]

Renders tuning captures (seeds from 8,500,000,000: never a dataset's, never the held-out
benchmarks'), reads them as the daemon does, and writes <models>/uncertainty.yaml: each
view's keypoint spread per landmark and confidence bin, the spread across the outline,
and each measurement's interval factor (edge/measure/uncertainty.py). The readings are
kept in datasets/eval/tuning.jsonl, so a second run, or one that was stopped, reads
instead of rendering again. The "tuning" look is goats no model learnt (edge/sim/looks.py),
so the ± is fitted on unfamiliar goats as well as familiar ones, as a farm's will be. The
held-out "unseen" look is refused: it is for judging.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from edge.argtypes import positive_int
from edge.config import ModelsConfig
from edge.detect.detector import NcnnDetector
from edge.measure.estimate import MeasureSettings, measure
from edge.measure.uncertainty import CONFIDENCE_BINS, COVERAGE, UNUSED, UncertaintyModel, save_uncertainty
from edge.measurements import LENGTHS
from edge.sim.looks import look_named
from edge.sim.truth import NOT_IN_IMAGE
from edge.training.sim_eval import collect, record_calibration, record_keypoints

TUNING_SEED = 8_500_000_000
RECORDS = Path("datasets/eval/tuning.jsonl")
# For a 2D Gaussian error with spread s along each axis, the median distance is 1.1774 s;
# for one axis, the median |error| is 0.6745 s.
MEDIAN_DISTANCE = float(np.sqrt(2 * np.log(2)))
MEDIAN_ONE_AXIS = 0.6745
MIN_SAMPLES = 20


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


def fit_keypoints(errors) -> tuple[dict, dict, float]:
    by_name: dict[tuple[str, str], list[float]] = defaultdict(list)
    across: list[float] = []
    for view, name, _, e, a in errors:
        if a is None:
            by_name[view, name].append(float(np.hypot(*e)) / MEDIAN_DISTANCE)
        else:  # along the outline it is as sure as the model; across it, as the outline
            along = np.array([-a[1], a[0]])
            by_name[view, name].append(abs(float(e @ along)) / MEDIAN_ONE_AXIS)
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
            ratios[level].append(float(np.hypot(*e)) / MEDIAN_DISTANCE / sigma[view][name])
        factors[view] = [round(float(np.median(r)), 3) if len(r) >= MIN_SAMPLES else 1.0 for r in ratios]
        # A less sure keypoint is never taken as surer than a more sure one.
        for i in range(len(factors[view]) - 2, -1, -1):
            factors[view][i] = max(factors[view][i], factors[view][i + 1])
    return dict(sigma), factors, round(float(np.median(across)), 3) if across else 1.0


def interval_factors(records: list[dict], model: UncertaintyModel) -> tuple[dict[str, float], dict[str, int]]:
    """Per measurement, the COVERAGE quantile of |error| / standard deviation."""
    unit = dataclasses.replace(model, interval_factor=dict.fromkeys(LENGTHS + ("heart_girth_cm",), 1.0))
    settings = MeasureSettings(uncertainty=unit, max_uncertainty_pct=float("inf"))
    ratios: dict[str, list[float]] = defaultdict(list)
    for r in records:
        if r["status"] != "ok" or not r["fully_in_view"]:
            continue
        result = measure(record_keypoints(r), record_calibration(r), settings=settings)
        for name, sigma in result.uncertainty.items():
            value = result.measurements[name]
            if name in r["truth"] and value is not None and sigma > 0:
                ratios[name].append(abs(value - r["truth"][name]) / sigma)
    return (
        {n: round(float(np.quantile(v, COVERAGE)), 3) for n, v in ratios.items()},
        {n: len(v) for n, v in ratios.items()},
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=ModelsConfig().dir)
    ap.add_argument("--count", type=positive_int, default=150, help="tuning captures per look")
    ap.add_argument("--looks", default="standard,varied,tuning", help="comma-separated looks to tune on")
    ap.add_argument("--records", type=Path, default=RECORDS)
    args = ap.parse_args(argv)
    looks = [s.strip() for s in args.looks.split(",") if s.strip()]
    for name in looks:
        try:
            look = look_named(name)
        except ValueError as exc:
            ap.error(str(exc))
        if look.held_out:
            ap.error(f"look {name!r} is held out: it judges the models and may not tune them")

    with NcnnDetector(ModelsConfig(dir=args.models)) as detector:
        versions = dict(detector.versions)
        seeds = range(TUNING_SEED, TUNING_SEED + args.count)
        records = [r for name in looks for r in collect(detector, name, seeds, args.records)]
    stale = [r["seed"] for r in records if r["model_versions"] != versions]
    if stale:
        print(
            f"{args.records}: {len(stale)} readings are of other models (seed {stale[0]}, ...); "
            "move the file aside and run again",
            file=sys.stderr,
        )
        return 1

    sigma, factors, across = fit_keypoints(keypoint_errors(records))
    fitted_on = f"{args.count} tuning captures per look ({', '.join(looks)}), seeds from {TUNING_SEED:,}"
    model = UncertaintyModel(sigma, {v: tuple(f) for v, f in factors.items()}, across, {}, versions, fitted_on)
    intervals, counts = interval_factors(records, model)
    model = UncertaintyModel(sigma, model.confidence_factor, across, intervals, versions, fitted_on)
    out = args.models / "uncertainty.yaml"
    save_uncertainty(model, out)
    print(f"wrote {out}")
    print("| measurement | interval factor | tuning captures |\n|---|---|---|")
    for name, factor in intervals.items():
        print(f"| {name} | {factor} | {counts[name]} |")
    print(f"across the outline: {across} px; confidence factors by bin {CONFIDENCE_BINS}: {factors}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
