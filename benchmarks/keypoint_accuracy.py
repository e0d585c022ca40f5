"""Keypoint error of a view's pose model on held-out simulated captures.

    python benchmarks/keypoint_accuracy.py --models models --views side --captures 100

Held-out seeds start at 9,000,000,000, far from any dataset's capture seeds
(dataset_seed x 1,000,003 + i). Prints, per keypoint, the median and 90th-percentile
pixel error at the camera's full 1280x960 resolution, and how often the model found the
goat. The geometry's sensitivity to such errors is in benchmarks/accuracy.py.
"""
from __future__ import annotations

import argparse

import numpy as np

from edge.detect.detector import PoseDetector
from edge.geometry.camera import VIEWS
from edge.keypoints import VIEW_KEYPOINTS
from edge.sim.capture import simulate_capture
from edge.sim.truth import NOT_IN_IMAGE

HELD_OUT_SEED = 9_000_000_000


def evaluate(detector: PoseDetector, view: str, captures: int):
    errors = {name: [] for name in VIEW_KEYPOINTS[view]}
    found = 0
    for i in range(captures):
        capture = simulate_capture(HELD_OUT_SEED + i, views=(view,))
        detections = detector.detect(view, capture.images[view])
        if not detections.goats:
            continue
        found += 1
        truth = capture.labels[view][0].keypoints.keypoints
        predicted = detections.goats[0].keypoints
        for name, t, p in zip(VIEW_KEYPOINTS[view], truth, predicted):
            if t[2] != NOT_IN_IMAGE:
                errors[name].append(float(np.hypot(*(p[:2] - t[:2]))))
    return errors, found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="models")
    ap.add_argument("--views", default=",".join(VIEWS))
    ap.add_argument("--captures", type=int, default=100)
    args = ap.parse_args()
    detector = PoseDetector(args.models)
    for view in args.views.split(","):
        errors, found = evaluate(detector, view, args.captures)
        size = detector.models[view].info.input_px
        print(f"\n{view} model (input {size} px, version {detector.versions[view]}): goat found in "
              f"{found}/{args.captures} held-out captures\n")
        print("| keypoint | median px | p90 px |")
        print("|---|---|---|")
        for name, e in errors.items():
            if e:
                print(f"| {name} | {np.median(e):.1f} | {np.percentile(e, 90):.1f} |")


if __name__ == "__main__":
    main()
