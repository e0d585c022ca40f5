"""`goat-edge measure` and `goat-edge fit-weight`."""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from edge.errors import GoatEdgeError
from edge.geometry.calibration import load_calibration
from edge.measure.definitions import MEASUREMENTS
from edge.measure.estimate import MeasureSettings, measure
from edge.measure.keypoints_file import load_keypoints
from edge.measure.weight import ScaleWeight, WeightFitError, WeightFormula, fit_weight_formula


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("measure", help="measure a goat from its three views")
    for view in ("side", "top", "front"):
        p.add_argument(f"--{view}", type=Path, metavar=f"{view.upper()[0]}.jpg",
                       help=f"the {view} camera's image")
    p.add_argument("--calibration", type=Path, required=True, help="calibration.json")
    p.add_argument("--keypoints", type=Path,
                   help="keypoints.json with each view's keypoints (see docs/keypoints.md)")
    p.add_argument("--weight-formula", type=Path,
                   help="a per-farm weight fit from `goat-edge fit-weight` (default: WSU formula)")
    p.add_argument("--min-confidence", type=float, default=MeasureSettings.min_confidence)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=run_measure)

    f = sub.add_parser("fit-weight", help="fit the weight formula to the farm's scale weights")
    f.add_argument("--samples", type=Path, required=True,
                   help="CSV with columns heart_girth_cm, body_length_cm, weight_kg")
    f.add_argument("--out", type=Path, required=True, help="where to write the fitted formula (JSON)")
    f.set_defaults(run=run_fit_weight)


def run_measure(args) -> int:
    calibration = load_calibration(args.calibration)
    images = {v: getattr(args, v) for v in ("side", "top", "front") if getattr(args, v)}
    for view, path in images.items():
        if not path.is_file():
            raise GoatEdgeError(f"{path}: {view} image not found")
    if args.keypoints is None:
        raise GoatEdgeError("no keypoint detector is installed yet: pass --keypoints keypoints.json")
    keypoints = load_keypoints(args.keypoints)
    formula = WeightFormula.load(args.weight_formula) if args.weight_formula else WeightFormula()
    result = measure(keypoints, calibration, formula, MeasureSettings(min_confidence=args.min_confidence))
    out = result.to_dict()
    out["images"] = {v: str(p) for v, p in images.items()}
    out["calibration"] = str(args.calibration)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for name in MEASUREMENTS:
            value = result.measurements[name]
            shown = f"{value:8.1f}" if value is not None else "       —"
            print(f"{name:<20}{shown}  {result.reasons.get(name, '')}".rstrip())
    return 0


def _read_samples(path: Path) -> list[ScaleWeight]:
    try:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except FileNotFoundError:
        raise WeightFitError(f"{path}: samples file not found") from None
    needed = ("heart_girth_cm", "body_length_cm", "weight_kg")
    samples = []
    for line, row in enumerate(rows, start=2):
        missing = [c for c in needed if c not in row]
        if missing:
            raise WeightFitError(f"{path}: missing column {missing[0]!r}")
        try:
            samples.append(ScaleWeight(*(float(row[c]) for c in needed)))
        except (TypeError, ValueError):
            raise WeightFitError(f"{path}: line {line}: values must be numbers") from None
    return samples


def run_fit_weight(args) -> int:
    formula = fit_weight_formula(_read_samples(args.samples))
    formula.save(args.out)
    print(f"weight_kg = heart_girth_cm² × body_length_cm / {formula.divisor_cm3:.0f} "
          f"(fit to {formula.samples} goats, mean error {formula.fit_mape_pct:.1f}%)")
    return 0
