"""Accuracy of the shipped pose models end to end, on held-out simulated captures.

    python -m benchmarks.model_accuracy --models models --captures 300 --empty 50 [--write-cards]

Each held-out capture (seeds from 9,000,000,000, far from every dataset's seeds) is
rendered at the cameras' full 1280x960 and goes through the daemon's own path: the three
JPEGs -> pose models -> quality gate -> geometry. Prints, per view, the keypoint error in
pixels; over the captures with one goat fully in view ("good" captures) the retake rate
and its reasons, and the MAPE of every measurement the gate let through; and the retake
rate on empty chutes, which must be 100 %. Each capture is measured twice from the same
inferences: from the models' keypoints as they are, and with the outline keypoints moved
onto the photo's outline (edge/detect/outline.py, the default reading). Beside them, the
same captures measured from the simulator's true keypoints (the geometry floor), so the
table shows what the models cost. --write-cards records the figures in
models/<view>/card.yaml.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

from edge.config import ModelsConfig
from edge.detect.closeup import REGIONS
from edge.detect.detector import NcnnDetector
from edge.detect.outline import OUTLINE_PAIRS
from edge.detect.types import ViewDetections
from edge.keypoints import MODEL_KEYPOINTS, VIEW_KEYPOINTS, VIEWS
from edge.measure.estimate import measure
from edge.measurements import LENGTHS
from edge.pipeline.from_images import measure_images
from edge.sim.capture import SimCapture, simulate_capture
from edge.sim.truth import NOT_IN_IMAGE, as_view_keypoints
from edge.training.sim_eval import fully_in_view

HELD_OUT_SEED = 9_000_000_000
EMPTY_SEED = HELD_OUT_SEED + 500_000
NAMES = LENGTHS + ("heart_girth_cm",)


def keypoint_errors_px(capture: SimCapture, detections: dict[str, ViewDetections], errors: dict) -> None:
    for view in VIEWS:
        d = detections[view]
        if not d.goats:
            continue
        truth = capture.labels[view][0].keypoints.keypoints
        for name, t, p in zip(VIEW_KEYPOINTS[view], truth, d.goats[0].keypoints):
            if t[2] != NOT_IN_IMAGE:
                errors[view][name].append(float(np.hypot(*(p[:2] - t[:2]))))


def across_outline_errors_px(
    capture: SimCapture, found: dict[str, ViewDetections], snapped: dict[str, ViewDetections], errors: dict
) -> None:
    """How far each outline keypoint is from the truth across the outline, before and after."""
    for view, pairs in OUTLINE_PAIRS.items():
        if not found[view].goats:
            continue
        names = VIEW_KEYPOINTS[view]
        truth = capture.labels[view][0].keypoints.keypoints
        model, moved = found[view].goats[0].keypoints, snapped[view].goats[0].keypoints
        for name, partner in pairs:
            i, j = names.index(name), names.index(partner)
            if truth[i, 2] == NOT_IN_IMAGE:
                continue
            outward = (model[i, :2] - model[j, :2]) / np.linalg.norm(model[i, :2] - model[j, :2])
            for key, kpts in (("models", model), ("outline", moved)):
                errors[key][(view, name)].append(abs(float((kpts[i, :2] - truth[i, :2]) @ outward)))


def percent_errors(values: dict, truth: dict, into: dict, nulls: Counter) -> None:
    for name in NAMES:
        if values.get(name) is None:
            nulls[name] += 1
        else:
            into[name].append(100 * abs(values[name] - truth[name]) / truth[name])


def run(detector: NcnnDetector, captures: int, empty: int) -> dict:
    """detector must leave the keypoints as the models found them: the outline is added here."""
    kp_errors = {v: {n: [] for n in VIEW_KEYPOINTS[v]} for v in VIEWS}
    across = {
        key: {(v, n): [] for v, pairs in OUTLINE_PAIRS.items() for n, _ in pairs} for key in ("models", "outline")
    }
    model_pe, outline_pe, floor_pe = ({n: [] for n in NAMES} for _ in range(3))
    model_nulls, outline_nulls, reasons = Counter(), Counter(), Counter()
    good = retakes = 0
    for i in range(captures):
        capture = simulate_capture(HELD_OUT_SEED + i)
        measured = measure_images(capture.images, capture.calibration, detector)
        snapped = {v: detector.snap(capture.images[v], d) for v, d in measured.detections.items()}
        keypoint_errors_px(capture, measured.detections, kp_errors)
        across_outline_errors_px(capture, measured.detections, snapped, across)
        if not fully_in_view(capture):
            continue
        good += 1
        truth = capture.truth[0]
        floor = measure(as_view_keypoints({v: capture.labels[v][0].keypoints for v in VIEWS}), capture.calibration)
        percent_errors(floor.measurements, truth, floor_pe, Counter())
        if measured.gate.status == "retake":
            retakes += 1
            reasons.update(measured.gate.reasons)
            continue
        percent_errors(measured.result.measurements, truth, model_pe, model_nulls)
        outline = measure({v: d.keypoints() for v, d in snapped.items()}, capture.calibration)
        percent_errors(outline.measurements, truth, outline_pe, outline_nulls)
    empty_retakes = sum(
        measure_images(c.images, c.calibration, detector).gate.status == "retake"
        for c in (simulate_capture(EMPTY_SEED + i, goats=0) for i in range(empty))
    )
    return {
        "captures": captures,
        "good": good,
        "retakes": retakes,
        "reasons": reasons,
        "model": model_pe,
        "outline": outline_pe,
        "floor": floor_pe,
        "nulls": model_nulls,
        "outline_nulls": outline_nulls,
        "kp": kp_errors,
        "across": across,
        "empty": empty,
        "empty_retakes": empty_retakes,
    }


def _median_p90(errors: list[float]) -> dict:
    return {"median": round(float(np.median(errors)), 1), "p90": round(float(np.percentile(errors, 90)), 1)}


def summary(r: dict) -> dict:
    """The figures as plain numbers, for the tables and the model cards: the measurements
    as the daemon reads them (outline on), the keypoint errors the models' own."""
    measured = r["good"] - r["retakes"]
    return {
        "held_out_captures": r["captures"],
        "good_captures": r["good"],
        "retake_rate_good_pct": round(100 * r["retakes"] / max(r["good"], 1), 2),
        "retake_rate_empty_pct": round(100 * r["empty_retakes"] / max(r["empty"], 1), 2),
        "empty_captures": r["empty"],
        "mape_pct": _mape(r["outline"]),
        "null_rate_pct": _null_rates(r["outline_nulls"], measured),
        "without_outline": {"mape_pct": _mape(r["model"]), "null_rate_pct": _null_rates(r["nulls"], measured)},
        "keypoint_error_px": {v: {n: _median_p90(e) for n, e in errs.items() if e} for v, errs in r["kp"].items()},
        "across_outline_error_px": {
            key: {f"{v} {n}": _median_p90(e) for (v, n), e in errs.items() if e} for key, errs in r["across"].items()
        },
    }


def _mape(percent_errors: dict) -> dict:
    return {n: round(float(np.mean(e)), 2) if e else None for n, e in percent_errors.items()}


def _null_rates(nulls: Counter, measured: int) -> dict:
    return {n: round(100 * nulls[n] / max(measured, 1), 2) for n in NAMES}


def tables(r: dict, s: dict, detector: NcnnDetector) -> str:
    lines = [
        f"{r['captures']} held-out captures (1280x960), {r['good']} with one goat fully in view; "
        f"{r['empty']} empty chutes.",
        "",
        "| view | input px | version |",
        "|---|---|---|",
    ]
    lines += [f"| {v} | {m.info.input_px} | {detector.versions[v]} |" for v, m in detector.models.items()]
    lines += [
        "",
        "| keypoint error, px at 1280x960 | " + " | ".join(f"{v} median | {v} p90" for v in VIEWS) + " |",
        "|---|" + "---|---|" * len(VIEWS),
    ]
    for row in range(max(len(VIEW_KEYPOINTS[v]) for v in VIEWS)):
        cells = []
        for v in VIEWS:
            names = VIEW_KEYPOINTS[v]
            e = s["keypoint_error_px"][v].get(names[row]) if row < len(names) else None
            cells += [f"{names[row]} {e['median']}", f"{e['p90']}"] if e else ["", ""]
        lines.append(f"| {row + 1} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| error across the outline, px at 1280x960 | models: median | p90 | moved onto the outline: median | p90 |",
        "|---|---|---|---|---|",
    ]
    moved = s["across_outline_error_px"]["outline"]
    for name, m in s["across_outline_error_px"]["models"].items():
        lines.append(f"| {name} | {m['median']} | {m['p90']} | {moved[name]['median']} | {moved[name]['p90']} |")
    lines += [
        "",
        "| measurement, good captures the gate let through | models: MAPE % | null % "
        "| outline: MAPE % | null % | true keypoints: MAPE % |",
        "|---|---|---|---|---|---|",
    ]
    plain = s["without_outline"]
    for n in NAMES:
        lines.append(
            f"| {n} | {_pct(plain['mape_pct'][n])} | {plain['null_rate_pct'][n]:.2f} "
            f"| {_pct(s['mape_pct'][n])} | {s['null_rate_pct'][n]:.2f} | {np.mean(r['floor'][n]):.3f} |"
        )
    lines += [
        "",
        "| retakes | rate % |",
        "|---|---|",
        f"| good captures ({r['good']}) | {s['retake_rate_good_pct']:.2f} |",
        f"| empty chutes ({r['empty']}) | {s['retake_rate_empty_pct']:.2f} |",
    ]
    if r["reasons"]:
        lines += ["", "| retake reason on good captures | count |", "|---|---|"]
        lines += [f"| {reason} | {count} |" for reason, count in r["reasons"].most_common(8)]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def model_keypoint_errors(errors_by_view: dict, model: str) -> dict:
    """A model's keypoint errors as the daemon reads them; the close-up model's are those of
    its regions' views' keypoints (edge/detect/closeup.py)."""
    if model != "closeup":
        return {n: e for n, e in errors_by_view[model].items() if n in MODEL_KEYPOINTS[model]}
    return {n: errors_by_view[r.view][n] for r in REGIONS for n in r.keypoints if n in errors_by_view[r.view]}


def write_cards(models: Path, s: dict, names: list[str]) -> None:
    for view in names:
        path = models / view / "card.yaml"
        card = yaml.safe_load(path.read_text()) if path.exists() else {"view": view}
        errors = model_keypoint_errors(s["keypoint_error_px"], view)
        card["evaluation"] = {
            "benchmark": "benchmarks/model_accuracy.py (held-out seeds from 9,000,000,000, 1280x960)",
            "measurements_read": "as the daemon reads them: outline keypoints moved onto the outline "
            "(models.snap_to_outline); without_outline: as the models found them",
            "keypoint_error_px": errors,
            "with_the_other_shipped_models": {
                k: s[k]
                for k in (
                    "held_out_captures",
                    "good_captures",
                    "retake_rate_good_pct",
                    "empty_captures",
                    "retake_rate_empty_pct",
                    "mape_pct",
                    "null_rate_pct",
                    "without_outline",
                )
            },
        }
        path.write_text(yaml.safe_dump(card, sort_keys=False))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=Path("models"))
    ap.add_argument("--captures", type=int, default=300)
    ap.add_argument("--empty", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--mirror-average",
        action="store_true",
        help="also read the top and front photos mirrored, as models.mirror_average does",
    )
    ap.add_argument(
        "--no-closeups",
        action="store_true",
        help="close-up regions from the view models alone, as models.closeups off does",
    )
    ap.add_argument(
        "--no-fuse-anchors",
        action="store_true",
        help="each goat's keypoints from its best anchor alone, as models.fuse_anchors off does",
    )
    ap.add_argument("--write-cards", action="store_true", help="record the figures in each card.yaml")
    args = ap.parse_args()
    if args.write_cards and (args.mirror_average or args.no_closeups or args.no_fuse_anchors):
        ap.error(
            "the cards record the default reading: --write-cards with none of --mirror-average, "
            "--no-closeups, --no-fuse-anchors"
        )
    settings = ModelsConfig(
        dir=args.models,
        threads=args.threads,
        mirror_average=args.mirror_average,
        snap_to_outline=False,
        closeups=not args.no_closeups,
        fuse_anchors=not args.no_fuse_anchors,
    )
    with NcnnDetector(settings) as detector:
        r = run(detector, args.captures, args.empty)
        s = summary(r)
        print(tables(r, s, detector))
        names = list(detector.models)
    if args.write_cards:
        write_cards(args.models, s, names)


if __name__ == "__main__":
    main()
