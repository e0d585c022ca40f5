"""How well `goat-edge calibrate` recovers the simulator's own cameras from board photos.

Renders photo sets of default_calibration()'s cameras (1280x960, with lens distortion),
calibrates them, and prints a markdown table of focal-length and camera-position errors
per camera, for two session sizes side by side: the minimum of 8 lens photos per camera
and the recommended 15.

    python -m benchmarks.calibration_accuracy --sets 5
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from edge.calibrate.board import BoardSpec
from edge.calibrate.solve import calibrate_photos
from edge.geometry.calibration import default_calibration
from edge.keypoints import VIEWS
from edge.sim.calibration_photos import write_photo_set


def errors(photos_per_camera: int, seeds: range):
    truth = default_calibration()
    rows = {view: {"focal_pct": [], "position_cm": [], "rms_px": []} for view in VIEWS}
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            write_photo_set(truth, tmp, photos_per_camera=photos_per_camera, seed=seed)
            solutions = calibrate_photos(tmp, VIEWS, BoardSpec())
        for view, solution in solutions.items():
            got, true = solution.camera, truth[view]
            focal = 100 * abs(got.K[0, 0] - true.K[0, 0]) / true.K[0, 0]
            rows[view]["focal_pct"].append(focal)
            rows[view]["position_cm"].append(float(np.linalg.norm(got.center_cm - true.center_cm)))
            rows[view]["rms_px"].append(solution.reprojection_error_px)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", type=int, default=5, help="photo sessions per size (seeds 1..N)")
    args = ap.parse_args()
    seeds = range(1, args.sets + 1)
    results = {n: errors(n, seeds) for n in (8, 15)}
    print(f"{args.sets} simulated photo sessions per size; mean / max over sessions\n")
    print("| camera | photos | focal error % | position error cm | lens RMS px |")
    print("|---|---|---|---|---|")
    for view in VIEWS:
        for n, rows in results.items():
            r = rows[view]
            print(
                f"| {view} | {n} | {np.mean(r['focal_pct']):.3f} / {np.max(r['focal_pct']):.3f} | "
                f"{np.mean(r['position_cm']):.2f} / {np.max(r['position_cm']):.2f} | "
                f"{np.mean(r['rms_px']):.3f} |"
            )


if __name__ == "__main__":
    main()
