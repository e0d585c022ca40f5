"""Accuracy with the cameras mounted other ways, beside the standard mounting, in one run.

    python -m benchmarks.mounting --captures 30 --seed 9400000000

The same simulated goats (seeds from --seed), each measured from the shipped models with
the standard mounting, with the top camera turned by one, two and three quarter turns,
with the side camera on the other side of the chute (the barn mirrored, so its light
falls from the other side), and with each camera mounted well off its place and aimed at
the goat (edge/sim/mounting.py moved_mountings), read re-projected to the canonical
camera (edge/detect/viewpoint.py) and, the same photos, as taken. Prints, per mounting,
the retake rate and each length's mean absolute percentage error against the simulator's
truth, with the median bias; "all" pools the six lengths, with a 90 % bootstrap interval
over the goats. Seeds from 9,400,000,000 are used by no training set and no tuning.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from edge.config import ModelsConfig
from edge.detect.detector import NcnnDetector
from edge.geometry.calibration import default_calibration
from edge.measurements import LENGTHS
from edge.pipeline.from_images import measure_images
from edge.sim.capture import simulate_capture
from edge.sim.mounting import across_the_chute, moved_mountings, turned, with_camera

STANDARD = default_calibration()
MOUNTINGS = {
    "standard": (STANDARD, False),
    "top camera turned 90°": (with_camera(STANDARD, turned(STANDARD["top"], 1)), False),
    "top camera turned 180°": (with_camera(STANDARD, turned(STANDARD["top"], 2)), False),
    "top camera turned 270°": (with_camera(STANDARD, turned(STANDARD["top"], 3)), False),
    "side camera on the other side": (with_camera(STANDARD, across_the_chute(STANDARD["side"])), True),
    **{name: (calibration, False) for name, calibration in moved_mountings(STANDARD).items()},
}
MOVED = set(moved_mountings(STANDARD))
AS_TAKEN = "read as taken"  # the same photos without re-projection (edge/detect/viewpoint.py)


def run(detector: NcnnDetector, seeds: list[int]) -> dict[str, dict]:
    """Each mounting's results; a moved camera's photos are also read without
    re-projection ("<mounting>, read as taken"), the same photos, in the same run."""
    rows = [m for m in MOUNTINGS for m in ((m, f"{m}, {AS_TAKEN}") if m in MOVED else (m,))]
    results: dict[str, dict] = {m: {"retakes": 0, "errors": {n: [] for n in LENGTHS}, "per_goat": {}} for m in rows}
    for seed in seeds:
        for mounting, (calibration, mirrored) in MOUNTINGS.items():
            capture = simulate_capture(seed, calibration, mirrored_chute=mirrored)
            readings = [(mounting, True)] + ([(f"{mounting}, {AS_TAKEN}", False)] if mounting in MOVED else [])
            for row_name, reproject in readings:
                detector.reproject = reproject
                measured = measure_images(capture.images, calibration, detector)
                record(results[row_name], seed, measured, capture.truth[0])
    detector.reproject = True
    return results


def record(row: dict, seed: int, measured, truth: dict[str, float]) -> None:
    if measured.result is None:
        row["retakes"] += 1
        return
    goat = []
    for name in LENGTHS:
        value = measured.result.measurements[name]
        if value is not None:
            goat.append(100 * (value - truth[name]) / truth[name])
            row["errors"][name].append(goat[-1])
    row["per_goat"][seed] = goat


def bootstrap_mape(per_goat: list[list[float]], rounds: int = 2000) -> tuple[float, float]:
    """90 % interval of the pooled MAPE, resampling goats (a goat's lengths stay together)."""
    rng = np.random.default_rng(0)
    means = []
    for _ in range(rounds):
        picked = rng.integers(0, len(per_goat), len(per_goat))
        means.append(np.mean(np.abs([x for i in picked for x in per_goat[i]])))
    low, high = np.percentile(means, [5, 95])
    return float(low), float(high)


def print_table(results: dict[str, dict], captures: int) -> None:
    short = {n: n.removesuffix("_cm").replace("_", " ") for n in LENGTHS}
    print(f"| mounting ({captures} goats) | retakes | " + " | ".join(short.values()) + " | all |")
    print("|---|---|" + "---|" * (len(LENGTHS) + 1))
    for mounting, row in results.items():
        cells = []
        for name in LENGTHS:
            e = row["errors"][name]
            cells.append(f"{np.mean(np.abs(e)):.2f} % ({statistics.median(e):+.2f})" if e else "—")
        pooled = [x for name in LENGTHS for x in row["errors"][name]]
        if pooled:
            low, high = bootstrap_mape(list(row["per_goat"].values()))
            cells.append(f"{np.mean(np.abs(pooled)):.2f} % ({low:.2f}-{high:.2f})")
        else:
            cells.append("—")
        print(f"| {mounting} | {row['retakes']} / {captures} | " + " | ".join(cells) + " |")
    print("\nMAPE (median bias) against the simulator's truth, over the captures measured; all: the six")
    print("lengths pooled (90 % bootstrap interval over the goats).")


def paired_difference(reprojected: dict, as_taken: dict, rounds: int = 2000) -> tuple[float, float, float]:
    """Re-projected minus as taken: each goat's mean absolute error over its lengths, on the
    goats both readings measured, averaged, with a 90 % interval resampling goats."""
    both = [seed for seed in reprojected if seed in as_taken and reprojected[seed] and as_taken[seed]]
    diffs = np.array([np.mean(np.abs(reprojected[s])) - np.mean(np.abs(as_taken[s])) for s in both])
    picks = np.random.default_rng(0).integers(0, len(diffs), (rounds, len(diffs)))
    low, high = np.percentile(diffs[picks].mean(axis=1), [5, 95])
    return float(diffs.mean()), float(low), float(high)


def print_differences(results: dict[str, dict]) -> None:
    print("\n| camera mounted well off its place | re-projected minus read as taken, pooled MAPE points |")
    print("|---|---|")
    for mounting in MOUNTINGS:
        if mounting in MOVED:
            mean, low, high = paired_difference(
                results[mounting]["per_goat"], results[f"{mounting}, {AS_TAKEN}"]["per_goat"]
            )
            print(f"| {mounting} | {mean:+.2f} ({low:+.2f} to {high:+.2f}) |")
    print("\nThe same photos read both ways; 90 % interval of the mean per-goat difference (paired bootstrap).")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captures", type=int, default=30)
    ap.add_argument("--seed", type=int, default=9_400_000_000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    started = time.perf_counter()
    with NcnnDetector(ModelsConfig(threads=args.threads)) as detector:
        results = run(detector, list(range(args.seed, args.seed + args.captures)))
    print_table(results, args.captures)
    print_differences(results)
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
