"""Fit the models' keypoint spreads and the measurements' 90 % intervals on tuning captures.

    python scripts/fit_uncertainty.py [--models models] [--count 150] [--looks standard,varied,tuning]
    python scripts/fit_uncertainty.py --models /data/candidate --farm /data/farm-sets [--farm-splits val]

Renders tuning captures (seeds from 8,500,000,000: never a dataset's, never the held-out
benchmarks'), reads them as the daemon does, and writes <models>/uncertainty.yaml: each
view's keypoint spread per landmark and confidence bin, the spread across the outline,
and each measurement's interval factor (edge/measure/uncertainty.py). The readings are
kept in datasets/eval/tuning.jsonl, so a second run, or one that was stopped, reads
instead of rendering again. The "tuning" look is goats no model learnt (edge/sim/looks.py),
so the ± is fitted on unfamiliar goats as well as familiar ones, as a farm's will be. The
table printed last says how well the ± carries to goats it was not fitted on: each look
the models did not learn (their cards say which they did), covered by the ± fitted without
it. The held-out "unseen" look is refused: it is for judging.

With --farm, the farm's labelled photos (the folders `goat-edge labels dataset` wrote) say
how far the models miss its own goats' landmarks: the ± is fitted on the looks the models
learnt, then each landmark's spread is scaled to those misses (docs/farm-data.md, step 4).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from edge.argtypes import positive_int
from edge.config import ModelsConfig
from edge.detect.detector import NcnnDetector
from edge.keypoints import VIEWS
from edge.labels.compare import CompareError, held_out_photos, read_dataset_photos
from edge.measure.uncertainty import CONFIDENCE_BINS, UNUSED, save_uncertainty
from edge.sim.looks import look_named
from edge.training.sim_eval import collect
from edge.training.uncertainty_fit import (
    FAMILIAR_LOOKS,
    TUNING_RECORDS,
    TUNING_SEED,
    fit,
    learnt_looks,
    left_out_look_coverage,
    scaled_to_farm,
)

DEFAULT_LOOKS = (*FAMILIAR_LOOKS, "tuning")


def farm_photos(datasets: Path, splits: tuple[str, ...]) -> dict[str, list]:
    """Per view, (photo, placed landmarks) of the farm's labels datasets (the folders
    `goat-edge labels dataset` wrote), in the given splits."""
    return {view: [p for split in splits for p in held_out_photos(datasets, view, split)] for view in VIEWS}


def farm_errors(models: Path, photos: dict[str, list]) -> list:
    """The models' misses on the farm's labelled photos, from where the person placed each
    landmark, as keypoint_errors gives them for simulated captures."""
    read = read_dataset_photos(models, photos, ModelsConfig().threads)
    # A photo in which the models found no goat makes a retake, not a measurement: it says
    # nothing about how far a measured landmark is off, so it adds no miss.
    out = []
    for view in VIEWS:
        for (_, placed), found in zip(photos[view], read[view]):
            for name, (x, y) in placed.items():
                kp = (found or {}).get(name)
                if kp is None or name in UNUSED:
                    continue
                across = np.array(kp.across_outline) if kp.across_outline else None
                out.append((view, name, kp.confidence, np.array([kp.x_px - x, kp.y_px - y]), across))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=ModelsConfig().dir)
    ap.add_argument("--count", type=positive_int, default=150, help="tuning captures per look")
    ap.add_argument(
        "--looks",
        help="comma-separated looks to tune on (default: standard,varied,tuning; with --farm, "
        "standard,varied: the farm's photos say how unfamiliar its goats are)",
    )
    ap.add_argument(
        "--learnt",
        help="comma-separated looks the models were trained on (default: standard and those named "
        "by the simulated datasets in the models' cards)",
    )
    ap.add_argument("--records", type=Path, default=TUNING_RECORDS)
    ap.add_argument(
        "--farm",
        type=Path,
        help="the farm's labels datasets (`goat-edge labels dataset`): scale the keypoint spreads "
        "to how far the models miss the landmarks a person placed on its photos",
    )
    ap.add_argument(
        "--farm-splits",
        default="val",
        help="which of the datasets' splits (train, val, test) to read: photos the models were not "
        "trained on (default: val; train too for models that never saw the farm's labels)",
    )
    args = ap.parse_args(argv)
    if args.looks:
        looks = [s.strip() for s in args.looks.split(",") if s.strip()]
    else:
        looks = list(FAMILIAR_LOOKS if args.farm else DEFAULT_LOOKS)
    splits = tuple(s.strip() for s in args.farm_splits.split(",") if s.strip())
    unknown = [s for s in splits if s not in ("train", "val", "test")]
    if unknown:
        ap.error(f"--farm-splits: unknown split {unknown[0]!r}; expected train, val or test")
    if not splits:
        ap.error("--farm-splits: name at least one split")
    for name in looks:
        try:
            look = look_named(name)
        except ValueError as exc:
            ap.error(str(exc))
        if look.held_out:
            ap.error(f"look {name!r} is held out: it judges the models and may not tune them")
    if args.learnt:
        learnt = frozenset(s.strip() for s in args.learnt.split(",") if s.strip())
        for name in sorted(learnt):
            try:
                look_named(name)
            except ValueError as exc:
                ap.error(f"--learnt: {exc}")
    else:
        learnt = learnt_looks(args.models)

    photos: dict[str, list] = {}
    if args.farm is not None:
        try:
            photos = farm_photos(args.farm, splits)
        except CompareError as exc:
            ap.error(f"--farm: {exc}")
        if not any(photos.values()):
            ap.error(
                f"--farm: {args.farm}: no labelled photos in the {'+'.join(splits)} split; "
                "write them with `goat-edge labels dataset`"
            )

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

    fitted_on = f"{args.count} tuning captures per look ({', '.join(looks)}), seeds from {TUNING_SEED:,}"
    model, counts = fit(records, versions, fitted_on)
    scales: dict[tuple[str, str], tuple[float, int]] = {}
    if args.farm is not None:
        sigma, scales = scaled_to_farm(model.keypoint_sigma_px, farm_errors(args.models, photos))
        counted = ", ".join(f"{view} {len(p)}" for view, p in photos.items() if p)
        fitted_on += (
            f"; keypoint spreads scaled to the farm's labelled photos ({args.farm}, {'+'.join(splits)}: {counted})"
        )
        model = dataclasses.replace(model, keypoint_sigma_px=sigma, fitted_on=fitted_on)
    out = args.models / "uncertainty.yaml"
    save_uncertainty(model, out)
    print(f"wrote {out}")
    print("| measurement | interval factor | tuning captures |\n|---|---|---|")
    for name, factor in model.interval_factor.items():
        print(f"| {name} | {factor} | {counts[name]} |")
    print(
        f"across the outline: {model.across_outline_sigma_px} px; "
        f"confidence factors by bin {CONFIDENCE_BINS}: {model.confidence_factor}"
    )
    if scales:
        print("| view | landmark | farm photos showing it | spread scaled by |\n|---|---|---|---|")
        for (view, name), (scale, n) in scales.items():
            print(f"| {view} | {name} | {n} | {scale} |")
    if args.farm is None:  # the farm's scaled spreads are judged by benchmarks/farm_uncertainty.py
        print_left_out_coverage(left_out_look_coverage(records, versions, learnt))
    return 0


def print_left_out_coverage(coverage: dict[str, dict[str, float]]) -> None:
    if not coverage:
        print("(fitted on one look, or only on looks the models learnt: no look to leave out)")
        return
    looks = sorted({look for by_look in coverage.values() for look in by_look})
    print("\n% of each unfamiliar look's captures covered by the ± fitted without that look (target 90):")
    print("| measurement | " + " | ".join(looks) + " | mean |")
    print("|---" * (len(looks) + 2) + "|")
    for name, by_look in coverage.items():
        cells = [f"{by_look[look]:.1f}" if look in by_look else "" for look in looks]
        print(f"| {name} | " + " | ".join(cells) + f" | {np.mean(list(by_look.values())):.1f} |")


if __name__ == "__main__":
    sys.exit(main())
