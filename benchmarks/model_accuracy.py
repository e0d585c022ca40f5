"""Accuracy of the shipped pose models end to end, on held-out simulated captures.

    python benchmarks/model_accuracy.py --models models --captures 300 --empty 50 [--write-cards]

Each held-out capture (seeds from 9,000,000,000, far from every dataset's seeds) is
rendered at the cameras' full 1280x960 and goes through the daemon's own path: the three
JPEGs -> pose models -> quality gate -> geometry. Prints, per view, the keypoint error in
pixels; over the captures with one goat fully in view ("good" captures) the retake rate
and its reasons, and the MAPE of every measurement the gate let through; and the retake
rate on empty chutes, which must be 100 %. Beside the models, the same captures measured
from the simulator's true keypoints (the geometry floor), so the table shows what the
models cost. --write-cards records the figures in models/<view>/card.yaml.
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

from edge.detect.detector import PoseDetector
from edge.geometry.camera import VIEWS
from edge.keypoints import VIEW_KEYPOINTS
from edge.measure.definitions import LENGTHS
from edge.measure.estimate import measure
from edge.measure.from_images import measure_images
from edge.sim.capture import SimCapture, simulate_capture
from edge.sim.truth import NOT_IN_IMAGE, as_view_keypoints

HELD_OUT_SEED = 9_000_000_000
EMPTY_SEED = HELD_OUT_SEED + 500_000
NAMES = LENGTHS + ("heart_girth_cm",)


def fully_in_view(capture: SimCapture) -> bool:
    return all(capture.labels[v][0].keypoints.keypoints[:, 2].min() != NOT_IN_IMAGE for v in VIEWS)


def keypoint_errors_px(capture: SimCapture, measured, errors: dict) -> None:
    for view in VIEWS:
        d = measured.detections[view]
        if not d.goats:
            continue
        truth = capture.labels[view][0].keypoints.keypoints
        for name, t, p in zip(VIEW_KEYPOINTS[view], truth, d.goats[0].keypoints):
            if t[2] != NOT_IN_IMAGE:
                errors[view][name].append(float(np.hypot(*(p[:2] - t[:2]))))


def percent_errors(values: dict, truth: dict, into: dict, nulls: Counter) -> None:
    for name in NAMES:
        if values.get(name) is None:
            nulls[name] += 1
        else:
            into[name].append(100 * abs(values[name] - truth[name]) / truth[name])


def run(detector: PoseDetector, captures: int, empty: int) -> dict:
    kp_errors = {v: {n: [] for n in VIEW_KEYPOINTS[v]} for v in VIEWS}
    model_pe, floor_pe = {n: [] for n in NAMES}, {n: [] for n in NAMES}
    model_nulls, reasons = Counter(), Counter()
    good = retakes = 0
    for i in range(captures):
        capture = simulate_capture(HELD_OUT_SEED + i)
        measured = measure_images(capture.images, capture.calibration, detector)
        keypoint_errors_px(capture, measured, kp_errors)
        if not fully_in_view(capture):
            continue
        good += 1
        truth = capture.truth[0]
        floor = measure(as_view_keypoints({v: capture.labels[v][0].keypoints for v in VIEWS}),
                        capture.calibration)
        percent_errors(floor.measurements, truth, floor_pe, Counter())
        if measured.gate.status == "retake":
            retakes += 1
            reasons.update(measured.gate.reasons)
            continue
        percent_errors(measured.result.measurements, truth, model_pe, model_nulls)
    empty_retakes = sum(
        measure_images(c.images, c.calibration, detector).gate.status == "retake"
        for c in (simulate_capture(EMPTY_SEED + i, goats=0) for i in range(empty)))
    return {"captures": captures, "good": good, "retakes": retakes, "reasons": reasons,
            "model": model_pe, "floor": floor_pe, "nulls": model_nulls, "kp": kp_errors,
            "empty": empty, "empty_retakes": empty_retakes}


def summary(r: dict) -> dict:
    """The figures as plain numbers, for the tables and the model cards."""
    measured = r["good"] - r["retakes"]
    return {
        "held_out_captures": r["captures"],
        "good_captures": r["good"],
        "retake_rate_good_pct": round(100 * r["retakes"] / max(r["good"], 1), 2),
        "retake_rate_empty_pct": round(100 * r["empty_retakes"] / max(r["empty"], 1), 2),
        "empty_captures": r["empty"],
        "mape_pct": {n: round(float(np.mean(e)), 2) if e else None for n, e in r["model"].items()},
        "null_rate_pct": {n: round(100 * r["nulls"][n] / max(measured, 1), 2) for n in NAMES},
        "keypoint_error_px": {
            v: {n: {"median": round(float(np.median(e)), 1), "p90": round(float(np.percentile(e, 90)), 1)}
                for n, e in errs.items() if e}
            for v, errs in r["kp"].items()},
    }


def tables(r: dict, s: dict, detector: PoseDetector) -> str:
    lines = [f"{r['captures']} held-out captures (1280x960), {r['good']} with one goat fully in view; "
             f"{r['empty']} empty chutes.", "",
             "| view | input px | version |", "|---|---|---|"]
    lines += [f"| {v} | {detector.models[v].info.input_px} | {detector.versions[v]} |" for v in VIEWS]
    lines += ["", "| keypoint error, px at 1280x960 | " + " | ".join(f"{v} median | {v} p90" for v in VIEWS) + " |",
              "|---|" + "---|---|" * len(VIEWS)]
    for row in range(max(len(VIEW_KEYPOINTS[v]) for v in VIEWS)):
        cells = []
        for v in VIEWS:
            names = VIEW_KEYPOINTS[v]
            e = s["keypoint_error_px"][v].get(names[row]) if row < len(names) else None
            cells += [f"{names[row]} {e['median']}", f"{e['p90']}"] if e else ["", ""]
        lines.append(f"| {row + 1} | " + " | ".join(cells) + " |")
    lines += ["", "| measurement, good captures the gate let through | models: MAPE % | models: null % "
              "| true keypoints: MAPE % |", "|---|---|---|---|"]
    for n in NAMES:
        m, f = s["mape_pct"][n], r["floor"][n]
        lines.append(f"| {n} | {'—' if m is None else f'{m:.2f}'} | {s['null_rate_pct'][n]:.2f} "
                     f"| {np.mean(f):.3f} |")
    lines += ["", "| retakes | rate % |", "|---|---|",
              f"| good captures ({r['good']}) | {s['retake_rate_good_pct']:.2f} |",
              f"| empty chutes ({r['empty']}) | {s['retake_rate_empty_pct']:.2f} |"]
    if r["reasons"]:
        lines += ["", "| retake reason on good captures | count |", "|---|---|"]
        lines += [f"| {reason} | {count} |" for reason, count in r["reasons"].most_common(8)]
    return "\n".join(lines)


def write_cards(models: Path, s: dict) -> None:
    for view in VIEWS:
        path = models / view / "card.yaml"
        card = yaml.safe_load(path.read_text()) if path.exists() else {"view": view}
        card["evaluation"] = {
            "benchmark": "benchmarks/model_accuracy.py (held-out seeds from 9,000,000,000, 1280x960)",
            "keypoint_error_px": s["keypoint_error_px"][view],
            "with_the_other_two_shipped_models": {k: s[k] for k in (
                "held_out_captures", "good_captures", "retake_rate_good_pct", "empty_captures",
                "retake_rate_empty_pct", "mape_pct", "null_rate_pct")},
        }
        path.write_text(yaml.safe_dump(card, sort_keys=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=Path("models"))
    ap.add_argument("--captures", type=int, default=300)
    ap.add_argument("--empty", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mirror-average", action="store_true",
                    help="also read the top and front photos mirrored, as models.mirror_average does")
    ap.add_argument("--write-cards", action="store_true", help="record the figures in each card.yaml")
    args = ap.parse_args()
    if args.write_cards and args.mirror_average:
        ap.error("the cards record the default reading: --write-cards without --mirror-average")
    with PoseDetector(args.models, threads=args.threads, mirror_average=args.mirror_average) as detector:
        r = run(detector, args.captures, args.empty)
        s = summary(r)
        print(tables(r, s, detector))
    if args.write_cards:
        write_cards(args.models, s)


if __name__ == "__main__":
    main()
