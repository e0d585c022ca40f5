"""`goat-edge simulate`: write one simulated capture to a folder, as a real chute would.

The folder holds side.jpg, top.jpg and front.jpg, the calibration they were taken with,
the labelled keypoints of the first goat (the format `goat-edge measure --keypoints`
reads), and truth.json: for each goat, the measurements, 3D landmarks and each view's
keypoints with visibility, all computed from the 3D model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge.argtypes import non_negative_int
from edge.errors import GoatEdgeError
from edge.geometry.calibration import load_calibration, save_calibration
from edge.measure.keypoints_file import keypoints_to_dict


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="render one simulated capture into a folder")
    p.add_argument("--seed", type=non_negative_int, default=0, help="decides the goat, the barn and the light")
    p.add_argument("--out", type=Path, required=True, help="folder to write the capture into")
    p.add_argument("--calibration", type=Path, help="cameras to render with (default: the simulated chute)")
    p.add_argument("--goats", type=int, default=1, choices=(0, 1, 2), help="animals in the chute")
    p.set_defaults(run=run_simulate)


class SimulateOutputError(GoatEdgeError):
    pass


def run_simulate(args) -> int:
    # The renderer is loaded only to render: `goat-edge run` builds this parser too.
    from edge.sim.capture import simulate_capture
    from edge.sim.truth import as_view_keypoints

    if args.out.exists() and not args.out.is_dir():
        raise SimulateOutputError(f"{args.out}: exists and is not a folder")
    calibration = load_calibration(args.calibration) if args.calibration else None
    capture = simulate_capture(args.seed, calibration, goats=args.goats)
    args.out.mkdir(parents=True, exist_ok=True)
    for view, jpeg in capture.jpegs.items():
        (args.out / f"{view}.jpg").write_bytes(jpeg)
    save_calibration(capture.calibration, args.out / "calibration.json")
    keypoints, truth = {}, {"seed": args.seed, "goats": []}
    for i, goat in enumerate(capture.goats):
        labels = {view: entries[i].keypoints for view, entries in capture.labels.items()}
        if i == 0:
            keypoints = keypoints_to_dict(as_view_keypoints(labels))
        truth["goats"].append(
            {
                "measurements": {k: round(v, 3) for k, v in capture.truth[i].items()},
                "landmarks_cm": {k: [round(float(c), 3) for c in v] for k, v in goat.landmarks_cm.items()},
                # Per view: [x_px, y_px, visibility] with 2 visible, 1 hidden, 0 out of frame.
                "keypoints": {view: t.as_dict() for view, t in labels.items()},
            }
        )
    (args.out / "keypoints.json").write_text(json.dumps(keypoints, indent=1) + "\n")
    (args.out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
    print(
        f"wrote {', '.join(f'{v}.jpg' for v in capture.jpegs)}, keypoints.json, truth.json, "
        f"calibration.json to {args.out}"
    )
    return 0
