"""Does the ± become honest on a farm's goats once it is scaled to the farm's labelled photos?

    python -m benchmarks.farm_uncertainty [--farm-captures 10,20,40]

The farm is the held-out "unseen" look: its goats stand in for a farm's, which no model
learnt. A person labels some of them (the true keypoints, each moved by --label-noise-px
as a person's click would be; 0 by default), and `scripts/fit_uncertainty.py
--farm` scales the simulated keypoint spreads to how far the models miss those landmarks
(edge/training/uncertainty_fit.py: scaled_to_farm). The ± is then judged on the unseen
benchmark's 300 captures (benchmarks/unseen_look.py, seeds from 9,700,000,000): other
goats of the same look, other camera mountings. The farm's labelled captures are seeds
from 9,650,000,000, never the benchmark's. Beside it: the shipped ± (fitted on the
standard, varied and tuning looks) and the fit on the two training looks alone, which is
what --farm starts from. Readings are kept in datasets/eval/ (tuning.jsonl,
held_out.jsonl, farm.jsonl) and read again instead of rendering where they exist.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from edge.config import ModelsConfig
from edge.detect.detector import NcnnDetector
from edge.measure.estimate import MeasureSettings
from edge.measure.uncertainty import UncertaintyModel, uncertainty_for
from edge.training.sim_eval import collect
from edge.training.uncertainty_fit import (
    FAMILIAR_LOOKS,
    TUNING_RECORDS,
    TUNING_SEED,
    fit,
    keypoint_errors,
    scaled_to_farm,
)

from .unseen_look import EMPTY_OFFSET, NAMES, RECORDS, SEEDS, score

FARM_SEED = 9_650_000_000
FARM_RECORDS = Path("datasets/eval/farm.jsonl")


def placed_by_a_person(records: list[dict], noise_px: float) -> list[dict]:
    """The farm's captures with each true landmark moved as a person's click would be."""
    if not noise_px:
        return records
    rng = np.random.default_rng(0)
    return [
        dict(
            r,
            truth_px={
                view: {
                    name: [x + rng.normal(0, noise_px), y + rng.normal(0, noise_px), flag]
                    for name, (x, y, flag) in kps.items()
                }
                for view, kps in r["truth_px"].items()
            },
        )
        for r in records
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=ModelsConfig().dir)
    ap.add_argument("--farm-captures", default="10,20,40", help="how many labelled farm captures, each a column")
    ap.add_argument("--tuning-count", type=int, default=150)
    ap.add_argument("--captures", type=int, default=300, help="unseen benchmark captures judged on")
    ap.add_argument(
        "--label-noise-px",
        type=float,
        default=0.0,
        help="a person's own placing: each labelled point moved by this spread (Gaussian, px, each axis)",
    )
    args = ap.parse_args()
    counts = sorted(int(n) for n in args.farm_captures.split(","))

    with NcnnDetector(ModelsConfig(dir=args.models)) as detector:
        versions = dict(detector.versions)
        tuning_seeds = range(TUNING_SEED, TUNING_SEED + args.tuning_count)
        familiar = [r for look in FAMILIAR_LOOKS for r in collect(detector, look, tuning_seeds, TUNING_RECORDS)]
        farm = collect(detector, "unseen", range(FARM_SEED, FARM_SEED + counts[-1]), FARM_RECORDS)
        first = SEEDS["unseen"]
        judged = collect(detector, "unseen", range(first, first + args.captures), RECORDS)
        empties = collect(detector, "unseen", range(first + EMPTY_OFFSET, first + EMPTY_OFFSET + 50), RECORDS, goats=0)

    shipped = uncertainty_for(args.models / "uncertainty.yaml", versions)
    base, _ = fit(familiar, versions, "standard and varied looks")
    columns: dict[str, UncertaintyModel | None] = {"shipped": shipped, "standard + varied": base}
    labelled = placed_by_a_person(farm, args.label_noise_px)
    for n in counts:
        sigma, _ = scaled_to_farm(base.keypoint_sigma_px, keypoint_errors(labelled[:n]))
        columns[f"+ {n} farm captures"] = dataclasses.replace(base, keypoint_sigma_px=sigma)
    figures = {name: score(judged, empties, MeasureSettings(uncertainty=model)) for name, model in columns.items()}

    print(
        f"unseen look, {len(judged)} captures judged; the ± fitted as each column says; "
        f"farm labels placed with {args.label_noise_px:g} px of noise"
    )
    print("| | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for label, key, interval in (
        ("± covers truth %", "coverage_pct", "coverage_95_pct"),
        ("median ± %", "median_plus_minus_pct", None),
        ("left out %", "left_out_pct", None),
    ):
        for name in NAMES:
            cells = []
            for f in figures.values():
                row = f["measurements"][name]
                cell = f"{row[key]}"
                if interval:
                    low, high = row[interval]
                    cell += f" [{low}–{high}]"
                cells.append(cell)
            print(f"| {label}: {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
