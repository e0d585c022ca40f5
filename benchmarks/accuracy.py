"""Accuracy of the measurement geometry: true keypoints, then 1, 2 and 4 px of keypoint noise.

Prints a markdown table of the mean absolute percentage error (MAPE) and the maximum
error for each measurement over random simulated goats (lateral offset and yaw
included), and beside it the alternative of measuring from the side photo alone.
Weight has no ground truth of its own (the simulator has no scale), so it is not listed. The
keypoints are the simulator's projections of the 3D landmarks, the same labels the renderer
writes; noise is Gaussian with the given sigma on each coordinate.

    python -m benchmarks.accuracy --goats 300 --seed 1000
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from edge.geometry.calibration import default_calibration
from edge.geometry.triangulate import Plane, intersect_plane, pixel_ray
from edge.measure.estimate import measure
from edge.measurements import LENGTHS, length_from_landmarks
from edge.sim.goat import build_goat, sample_goat_params
from edge.sim.truth import all_keypoint_truth, as_view_keypoints, true_measurements

NAMES = LENGTHS + ("heart_girth_cm",)
SIDE_ALONE = ("body_length_cm", "withers_height_cm", "rump_height_cm", "chest_depth_cm")


def _noisy(keypoints, sigma_px: float, rng: np.random.Generator):
    if sigma_px == 0:
        return keypoints
    return {
        view: {
            name: dataclasses.replace(
                kp, x_px=kp.x_px + rng.normal(0, sigma_px), y_px=kp.y_px + rng.normal(0, sigma_px)
            )
            for name, kp in points.items()
        }
        for view, points in keypoints.items()
    }


def side_view_alone(keypoints, calibration) -> dict[str, float]:
    """The alternative: one side camera, every landmark assumed on the chute's centre line.

    This is what a single calibrated side photo gives; the widths need another view.
    """
    camera = calibration["side"]
    centre_line = Plane(np.array([0.0, 1.0, 0.0]), 0.0)
    points = {
        name: intersect_plane(pixel_ray(camera, kp.x_px, kp.y_px), centre_line, camera, name)
        for name, kp in keypoints["side"].items()
    }
    return {name: length_from_landmarks(name, points) for name in SIDE_ALONE}


def run(goats: int, seed: int, noise_levels_px=(0.0, 1.0, 2.0, 4.0)):
    calibration = default_calibration()
    errors = {s: {n: [] for n in NAMES} for s in noise_levels_px}
    errors["side alone"] = {n: [] for n in NAMES}
    nulls = {s: 0 for s in noise_levels_px}
    for i in range(goats):
        goat = build_goat(sample_goat_params(np.random.default_rng(seed + i)))
        truth = true_measurements(goat)
        clean = as_view_keypoints(all_keypoint_truth(goat, calibration))
        for name, value in side_view_alone(clean, calibration).items():
            errors["side alone"][name].append(100 * abs(value - truth[name]) / truth[name])
        noise_rng = np.random.default_rng(10_000_019 * (seed + i))
        for sigma in noise_levels_px:
            result = measure(_noisy(clean, sigma, noise_rng), calibration)
            for name in NAMES:
                value = result.measurements[name]
                if value is None:
                    nulls[sigma] += 1
                    continue
                errors[sigma][name].append(100 * abs(value - truth[name]) / truth[name])
    return errors, nulls


def table(errors, nulls, goats: int) -> str:
    levels = [s for s in errors if s != "side alone"]
    label = {s: ("true keypoints" if s == 0 else f"{s:g} px noise") for s in levels}
    head = "| measurement | " + " | ".join(f"{label[s]}: MAPE % | max %" for s in levels) + " |"
    rule = "|---|" + "---|---|" * len(levels)
    rows = [head, rule]
    for name in NAMES:
        cells = []
        for s in levels:
            e = np.array(errors[s][name])
            cells += [f"{e.mean():.3f}", f"{e.max():.3f}"] if len(e) else ["—", "—"]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    refused = " | ".join(f"{100 * nulls[s] / (goats * len(NAMES)):.2f}% | " for s in levels)
    rows.append(f"| refused (null) | {refused}|")
    rows += [
        "",
        "The alternative, true keypoints: the side view alone, with the goat assumed on the centre line.",
        "",
        "| measurement | side view alone: MAPE % | max % |",
        "|---|---|---|",
    ]
    for name in NAMES:
        e = np.array(errors["side alone"][name])
        rows.append(f"| {name} | {e.mean():.3f} | {e.max():.3f} |" if len(e) else f"| {name} | — | — |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--goats", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1000)
    args = ap.parse_args()
    errors, nulls = run(args.goats, args.seed)
    print(
        f"{args.goats} simulated goats, seeds {args.seed}..{args.seed + args.goats - 1}, "
        f"default chute calibration (1280x960)\n"
    )
    print(table(errors, nulls, args.goats))


if __name__ == "__main__":
    main()
