"""Render a simulated YOLO-pose training set for one camera view, or the close-up model.

    .venv/bin/python scripts/make_dataset.py --view side --count 3000 --seed 1 --out datasets/side
    .venv/bin/python scripts/make_dataset.py --view closeup --count 1600 --seed 41 --scale 1
    .venv/bin/python scripts/make_dataset.py --view closeup --from-top /farm/top/data.yaml \
        --from-side /farm/side/data.yaml --out /farm/closeup

The second renders full-resolution top and side photos and cuts a rump crop and a chest
crop from each top photo and a chest crop from each side photo. The last cuts the
close-up model's crops from a farm's own labelled photos (either view, or both) instead
of rendering any (then train with --real-data closeup=/farm/closeup/data.yaml).

Writes DIR/images, DIR/labels, DIR/data.yaml and DIR/seeds.txt (see edge/training/dataset.py),
then prints how fast it went.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from edge.argtypes import fraction, non_negative_int, positive_int, scale
from edge.errors import GoatEdgeError
from edge.keypoints import MODELS
from edge.sim.looks import LOOKS, training_looks
from edge.training.dataset import make_dataset, write_data_yaml
from edge.training.farm_photos import crops_from_view_dataset


def crops_from_photos(sources: dict[str, Path], out: Path, seed: int) -> int:
    """sources: the labelled dataset yaml of each view the crops are cut from."""
    if (out / "data.yaml").exists():
        print(f"make_dataset: error: {out} already holds a dataset; choose another --out or delete it", file=sys.stderr)
        return 2
    for view, data_yaml in sources.items():
        try:
            crops = crops_from_view_dataset(view, data_yaml, out, seed)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            print(f"make_dataset: error: {exc}", file=sys.stderr)
            return 2
        print(f"{out}: {crops} close-up crops from {data_yaml}")
    write_data_yaml(out, "closeup")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--view",
        choices=MODELS,
        required=True,
        help="a camera view, or closeup: crops of the top and side photos for the close-up model (--scale 1)",
    )
    parser.add_argument("--count", type=positive_int, help="number of images (simulated sets)")
    parser.add_argument(
        "--seed", type=non_negative_int, help="dataset seed; capture seeds, and the crops' placement, derive from it"
    )
    parser.add_argument(
        "--from-top",
        type=Path,
        metavar="DATA.yaml",
        help="with --view closeup: cut crops from this labelled top-photo dataset",
    )
    parser.add_argument(
        "--from-side",
        type=Path,
        metavar="DATA.yaml",
        help="with --view closeup: cut crops from this labelled side-photo dataset",
    )
    parser.add_argument(
        "--look",
        default="standard",
        help="kind of goats, barns and cameras (edge/sim/looks.py): "
        + ", ".join(training_looks())
        + "; the looks that judge the models or fit the uncertainty ("
        + ", ".join(name for name, look in LOOKS.items() if look.kept_from_training)
        + ") are refused",
    )
    parser.add_argument("--out", type=Path, help="output folder (default: datasets/<view>-<seed>)")
    parser.add_argument("--scale", type=scale, default=0.5, help="render scale of the 1280x960 cameras")
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count(), help="processes (default: CPU count)")
    parser.add_argument("--val-fraction", type=fraction, default=0.1)
    parser.add_argument("--empty-fraction", type=fraction, default=0.05, help="share of empty-chute images")
    args = parser.parse_args(argv)
    out = args.out or Path("datasets") / f"{args.view}-{args.seed}"
    sources = {view: path for view, path in (("top", args.from_top), ("side", args.from_side)) if path is not None}
    if sources:
        if args.view != "closeup":
            parser.error("--from-top and --from-side make the close-up model's crops: use them with --view closeup")
        return crops_from_photos(sources, out, args.seed or 0)
    if args.count is None or args.seed is None:
        parser.error("a simulated dataset needs --count and --seed")
    try:
        summary = make_dataset(
            out,
            args.view,
            args.count,
            args.seed,
            scale=args.scale,
            workers=args.workers,
            val_fraction=args.val_fraction,
            empty_fraction=args.empty_fraction,
            look=args.look,
        )
    except (GoatEdgeError, ValueError) as exc:
        print(f"make_dataset: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{summary.out_dir}: {summary.images} images ({summary.train} train, {summary.val} val, "
        f"{summary.empty} empty chute), {summary.goat_labels} goat labels"
    )
    print(f"{summary.seconds:.1f} s with {args.workers} workers: {summary.images_per_s:.1f} images/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
