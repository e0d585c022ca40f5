"""`goat-edge measure` and `goat-edge fit-weight`."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
from pathlib import Path

import cv2
import numpy as np

from edge.argtypes import fraction, positive_float, positive_int
from edge.config import ModelsConfig, load_config
from edge.detect.detector import NcnnDetector
from edge.errors import GoatEdgeError
from edge.geometry.calibration import load_calibration
from edge.keypoints import VIEWS
from edge.measure.estimate import MeasureSettings, measure
from edge.measure.keypoints_file import load_keypoints
from edge.measure.uncertainty import uncertainty_for
from edge.measure.weight import ScaleWeight, WeightFitError, WeightFormula, fit_weight_formula
from edge.measurements import MEASUREMENTS
from edge.pipeline.context import active_detector, calibration_of, measure_settings, weight_formula
from edge.pipeline.from_images import measure_images
from edge.pipeline.gate import GateSettings
from edge.pipeline.reprocess import reprocess
from edge.store import Store


class MeasureInputError(GoatEdgeError):
    """An image or keypoints argument the measure command cannot use."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("measure", help="measure a goat from its three views")
    for view in ("side", "top", "front"):
        p.add_argument(f"--{view}", type=Path, metavar=f"{view.upper()[0]}.jpg", help=f"the {view} camera's image")
    p.add_argument("--calibration", type=Path, required=True, help="calibration.json")
    p.add_argument(
        "--keypoints",
        type=Path,
        help="keypoints.json with each view's keypoints (see docs/keypoints.md); "
        "without it the models find them in the images",
    )
    p.add_argument(
        "--models",
        type=Path,
        default=ModelsConfig().dir,
        help="folder with side/, top/, front/ and closeup/ NCNN pose models (default: the shipped ones)",
    )
    p.add_argument("--threads", type=positive_int, default=2, help="threads per model inference")
    p.add_argument(
        "--winograd",
        action="store_true",
        help="ncnn Winograd convolutions: faster, about 50 MB more memory for the four models",
    )
    p.add_argument(
        "--mirror-average",
        action="store_true",
        help="also read the top and front photos mirrored and average the keypoints "
        "(widths about 2 %% better, five inferences instead of three)",
    )
    p.add_argument(
        "--no-outline",
        action="store_true",
        help="keep the models' keypoints as they are, instead of moving the withers, sternum "
        "and top shoulders onto the photo's outline",
    )
    p.add_argument(
        "--no-closeups",
        action="store_true",
        help="take the hip bones, shoulders, withers and sternum from the view models alone, instead "
        "of reading them again from full-resolution crops with models/closeup",
    )
    p.add_argument(
        "--weight-formula", type=Path, help="a per-farm weight fit from `goat-edge fit-weight` (default: WSU formula)"
    )
    p.add_argument(
        "--min-confidence",
        type=fraction,
        default=MeasureSettings.min_confidence,
        help="keypoints below this confidence (0-1) are not trusted",
    )
    p.add_argument(
        "--girth-shape-factor",
        type=positive_float,
        default=MeasureSettings.girth_shape_factor,
        help="scales the elliptical heart-girth model to a real chest (docs/measurements.md)",
    )
    p.add_argument(
        "--max-uncertainty-pct",
        type=positive_float,
        default=MeasureSettings.max_uncertainty_pct,
        help="from images: a length or girth whose 90 %% ± (<models>/uncertainty.yaml) is wider than "
        "this share of it is left out",
    )
    p.add_argument(
        "--max-weight-uncertainty-pct",
        type=positive_float,
        default=MeasureSettings.max_weight_uncertainty_pct,
        help="the same for the weight",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run_measure)

    r = sub.add_parser("reprocess", help="measure stored captures again with the active models; keeps the old rows")
    r.add_argument("--config", type=Path, required=True, help="the daemon's edge.toml")
    r.add_argument("--since", help="captures from this date (2026-12-01) or time, UTC")
    r.add_argument("--until", help="captures up to this date (the whole day) or time, UTC")
    r.add_argument("--goat", help="only this goat's captures (its tag)")
    r.set_defaults(run=run_reprocess)

    f = sub.add_parser("fit-weight", help="fit the weight formula to the farm's scale weights")
    f.add_argument(
        "--samples", type=Path, required=True, help="CSV with columns heart_girth_cm, body_length_cm, weight_kg"
    )
    f.add_argument("--out", type=Path, required=True, help="where to write the fitted formula (JSON)")
    f.set_defaults(run=run_fit_weight)


def run_measure(args) -> int:
    calibration = load_calibration(args.calibration)
    images = {v: getattr(args, v) for v in VIEWS if getattr(args, v)}
    for view, path in images.items():
        if not path.is_file():
            raise MeasureInputError(f"{path}: {view} image not found")
    formula = WeightFormula.load(args.weight_formula) if args.weight_formula else WeightFormula()
    settings = MeasureSettings(min_confidence=args.min_confidence, girth_shape_factor=args.girth_shape_factor)
    if args.keypoints is not None:
        result = measure(load_keypoints(args.keypoints), calibration, formula, settings)
        out = {"status": "ok", "reason": None, **result.to_dict()}
    else:
        out, result = _measure_from_images(images, calibration, formula, settings, args)
    out["images"] = {v: str(p) for v, p in images.items()}
    out["calibration"] = str(args.calibration)
    if args.json:
        print(json.dumps(out, indent=2))
    elif result is None:
        print(f"retake: {out['reason']}")
    else:
        for name in MEASUREMENTS:
            value = result.measurements[name]
            shown = f"{value:8.1f}" if value is not None else "       —"
            plus_minus = result.uncertainty.get(name)
            shown += f" ±{plus_minus:5.1f}" if plus_minus is not None else "       "
            print(f"{name:<20}{shown}  {result.reasons.get(name, '')}".rstrip())
    return 0


def _read_image(view: str, path: Path, calibration) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise MeasureInputError(f"{path}: not an image the {view} camera could have taken")
    want = calibration[view].size_px
    if (image.shape[1], image.shape[0]) != want:
        raise MeasureInputError(
            f"{path}: {image.shape[1]}x{image.shape[0]} px, but the {view} camera is calibrated for {want[0]}x{want[1]}"
        )
    return image


def _measure_from_images(images: dict[str, Path], calibration, formula, settings, args):
    missing = [v for v in VIEWS if v not in images]
    if missing:
        raise MeasureInputError(
            f"measuring from images needs all three views: --{missing[0]} is missing (or pass --keypoints)"
        )
    pixels = {v: _read_image(v, p, calibration) for v, p in images.items()}
    detector = NcnnDetector(
        ModelsConfig(
            dir=args.models,
            threads=args.threads,
            winograd=args.winograd,
            mirror_average=args.mirror_average,
            snap_to_outline=not args.no_outline,
            closeups=not args.no_closeups,
        )
    )
    settings = dataclasses.replace(
        settings,
        uncertainty=uncertainty_for(args.models / "uncertainty.yaml", dict(detector.versions)),
        max_uncertainty_pct=args.max_uncertainty_pct,
        max_weight_uncertainty_pct=args.max_weight_uncertainty_pct,
    )
    found = measure_images(pixels, calibration, detector, formula, settings)
    annotated = {}
    for view, path in images.items():
        target = path.with_name(f"{path.stem}.annotated.jpg")
        try:
            target.write_bytes(found.annotated[view])
        except OSError as exc:
            raise MeasureInputError(f"{target}: cannot write the annotated image ({exc.strerror})") from None
        annotated[view] = str(target)
    if found.result is None:
        out = {
            "status": "retake",
            "reason": found.gate.reason,
            "measurements": dict.fromkeys(MEASUREMENTS),
            "calibration_hash": calibration.hash,
        }
    else:
        out = {"status": "ok", "reason": None, **found.result.to_dict()}
    out["annotated_images"] = annotated
    out["model_versions"] = found.model_versions
    return out, found.result


def _read_samples(path: Path) -> list[ScaleWeight]:
    if path.is_dir():
        raise WeightFitError(f"{path}: is a folder, not a CSV file")
    try:
        # utf-8-sig: spreadsheets often start their CSV files with a byte-order mark.
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh, skipinitialspace=True)
            header = [(name or "").strip() for name in (reader.fieldnames or [])]
            rows = [{(k or "").strip(): v for k, v in row.items()} for row in reader]
    except FileNotFoundError:
        raise WeightFitError(f"{path}: samples file not found") from None
    except UnicodeDecodeError:
        raise WeightFitError(f"{path}: not a CSV text file") from None
    except (OSError, csv.Error) as exc:
        raise WeightFitError(f"{path}: cannot read samples ({exc})") from None
    needed = ("heart_girth_cm", "body_length_cm", "weight_kg")
    missing = [c for c in needed if c not in header]
    if missing:
        raise WeightFitError(f"{path}: missing column {missing[0]!r} (the header needs {', '.join(needed)})")
    samples = []
    for line, row in enumerate(rows, start=2):
        try:
            values = [float(row[c]) for c in needed]
        except (TypeError, ValueError):
            raise WeightFitError(f"{path}: line {line}: values must be numbers") from None
        bad = [c for c, v in zip(needed, values) if not (math.isfinite(v) and v > 0)]
        if bad:
            raise WeightFitError(f"{path}: line {line}: {bad[0]} must be a positive number")
        samples.append(ScaleWeight(*values))
    return samples


def run_fit_weight(args) -> int:
    formula = fit_weight_formula(_read_samples(args.samples))
    formula.save(args.out)
    print(
        f"weight_kg = heart_girth_cm² × body_length_cm / {formula.divisor_cm3_per_kg:.0f} "
        f"(fit to {formula.samples} goats, mean error {formula.fit_mape_pct:.1f}%)"
    )
    return 0


def run_reprocess(args) -> int:
    config = load_config(args.config)
    calibration = calibration_of(config)
    with Store.open(Path(config.storage.data_dir)) as store, active_detector(config) as detector:
        summary = reprocess(
            store,
            detector,
            calibration,
            measure_settings(config, detector),
            weight_formula(config),
            GateSettings(min_keypoint_confidence=config.measure.min_keypoint_confidence),
            since=args.since,
            until=args.until,
            goat_tag=args.goat,
        )
    print(
        f"measured again: {len(summary.measured)}; already with these models: {summary.already}; "
        f"skipped: {len(summary.skipped)}"
    )
    for capture_id, why in summary.skipped.items():
        print(f"skipped {capture_id}: {why}")
    return 0
