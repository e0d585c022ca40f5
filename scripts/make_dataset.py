"""Render a simulated YOLO-pose training set for one camera view.

    .venv/bin/python scripts/make_dataset.py --view side --count 3000 --seed 1 --out datasets/side

Writes DIR/images, DIR/labels, DIR/data.yaml and DIR/seeds.txt (see edge/sim/dataset.py),
then prints how fast it went.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from edge.argtypes import fraction, non_negative_int, positive_int, scale
from edge.errors import GoatEdgeError
from edge.geometry.camera import VIEWS
from edge.sim.dataset import make_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--view", choices=VIEWS, required=True)
    parser.add_argument("--count", type=positive_int, required=True, help="number of images")
    parser.add_argument("--seed", type=non_negative_int, required=True,
                        help="dataset seed; capture seeds derive from it")
    parser.add_argument("--out", type=Path, help="output folder (default: datasets/<view>-<seed>)")
    parser.add_argument("--scale", type=scale, default=0.5, help="render scale of the 1280x960 cameras")
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count(),
                        help="processes (default: CPU count)")
    parser.add_argument("--val-fraction", type=fraction, default=0.1)
    parser.add_argument("--empty-fraction", type=fraction, default=0.05, help="share of empty-chute images")
    args = parser.parse_args(argv)
    out = args.out or Path("datasets") / f"{args.view}-{args.seed}"
    try:
        summary = make_dataset(out, args.view, args.count, args.seed, scale=args.scale, workers=args.workers,
                               val_fraction=args.val_fraction, empty_fraction=args.empty_fraction)
    except (GoatEdgeError, ValueError) as exc:
        print(f"make_dataset: error: {exc}", file=sys.stderr)
        return 2
    print(f"{summary.out_dir}: {summary.images} images ({summary.train} train, {summary.val} val, "
          f"{summary.empty} empty chute), {summary.goat_labels} goat labels")
    print(f"{summary.seconds:.1f} s with {args.workers} workers: {summary.images_per_s:.1f} images/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
