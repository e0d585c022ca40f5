#!/usr/bin/env python3
"""Render a calibration photo set of the simulated chute, to try `goat-edge calibrate`.

    .venv/bin/python scripts/render_calibration_photos.py --out photos --seed 1
    .venv/bin/goat-edge calibrate --photos photos --out calibration.json

The photos are of default_calibration()'s cameras, so the result can be compared with it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.calibrate.board import BoardSpec
from edge.geometry.calibration import default_calibration
from edge.sim.calibration_photos import write_photo_set


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder to write <camera>/*.jpg into")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--photos", type=int, default=15, help="tilted-board photos per camera")
    args = p.parse_args(argv)
    written = write_photo_set(
        default_calibration(), args.out, board=BoardSpec(), photos_per_camera=args.photos, seed=args.seed
    )
    for view, paths in written.items():
        references = [p.name for p in paths if p.stem.startswith("reference")]
        print(f"{view}: {len(paths) - len(references)} lens photos and {', '.join(references)} in {args.out / view}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
