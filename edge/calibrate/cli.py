"""`goat-edge calibrate`: solve the three cameras from board photos and write calibration.json.

Nothing is written unless every requested camera calibrates within the error limit.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from edge.argtypes import positive_float, positive_int, squares, views
from edge.calibrate.board import BoardSpec
from edge.calibrate.errors import IncompleteCalibrationError, InvalidBoardError
from edge.calibrate.solve import DEFAULT_MAX_ERROR_PX, MIN_PHOTOS, CameraSolution, calibrate_photos
from edge.geometry.calibration import Calibration, CalibrationError, load_calibration, save_calibration
from edge.jsonfile import check_writable
from edge.keypoints import VIEWS


def add_parser(sub: argparse._SubParsersAction) -> None:
    default = BoardSpec()
    p = sub.add_parser(
        "calibrate",
        help="calibrate the cameras from ChArUco board photos",
        description="Solve each camera's lens and pose from PHOTOS/<camera>/ "
        "(see docs/calibration.md) and write calibration.json.",
    )
    p.add_argument(
        "--photos", type=Path, required=True, metavar="DIR", help="folder with one subfolder of board photos per camera"
    )
    p.add_argument("--out", type=Path, required=True, metavar="calibration.json")
    p.add_argument(
        "--max-error-px",
        type=positive_float,
        default=DEFAULT_MAX_ERROR_PX,
        help="refuse a camera whose RMS reprojection error is above this (default %(default)s)",
    )
    p.add_argument(
        "--views",
        type=views,
        default=VIEWS,
        metavar="side,top,front",
        help="calibrate only these cameras; the others are kept from an existing --out",
    )
    p.add_argument(
        "--squares",
        type=squares,
        default=(default.squares_x, default.squares_y),
        metavar="COLSxROWS",
        help=f"board squares (default {default.squares_x}x{default.squares_y})",
    )
    p.add_argument(
        "--square-cm",
        type=positive_float,
        default=default.square_cm,
        help="measured side of a printed square (default %(default)s)",
    )
    p.add_argument(
        "--marker-cm",
        type=positive_float,
        default=default.marker_cm,
        help="measured side of a printed marker (default %(default)s)",
    )
    p.add_argument(
        "--min-photos",
        type=positive_int,
        default=MIN_PHOTOS,
        help="photos showing the board needed per camera (default %(default)s)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Refuse an unusable output before minutes of solving, not after.
    check_writable(args.out, "calibration", CalibrationError)
    try:
        board = BoardSpec(args.squares[0], args.squares[1], args.square_cm, args.marker_cm)
    except ValueError as exc:
        raise InvalidBoardError(f"board: {exc}") from None
    solutions = calibrate_photos(
        args.photos, args.views, board, max_error_px=args.max_error_px, min_photos=args.min_photos
    )
    cameras = {v: s.camera for v, s in solutions.items()}
    errors = {v: s.reprojection_error_px for v, s in solutions.items()}
    kept = [v for v in VIEWS if v not in solutions]
    if kept:
        if not args.out.exists():
            cameras_text = " and ".join(kept) + (" cameras" if len(kept) > 1 else " camera")
            raise IncompleteCalibrationError(
                f"--views leaves out the {cameras_text}, but there is no existing {args.out} "
                f"to keep {'them' if len(kept) > 1 else 'it'} from; calibrate all cameras first"
            )
        existing = load_calibration(args.out)
        cameras.update({v: existing[v] for v in kept})
        errors.update({v: existing.reprojection_error_px[v] for v in kept if v in existing.reprojection_error_px})
    save_calibration(Calibration({v: cameras[v] for v in VIEWS}, errors), args.out)
    print(format_table(solutions, kept))
    print(f"wrote {args.out}")
    return 0


def format_table(solutions: dict[str, CameraSolution], kept: Sequence[str] = ()) -> str:
    lines = [f"{'camera':<7} {'photos':>7} {'error px':>9} {'ref px':>7} {'focal px':>15}  position cm"]
    for view, s in solutions.items():
        cam = s.camera
        x, y, z = cam.center_cm
        lines.append(
            f"{view:<7} {s.photos_used:>3}/{s.photos_total:<3} "
            f"{s.reprojection_error_px:>9.3f} {s.reference_error_px:>7.3f} "
            f"{cam.K[0, 0]:>7.1f} {cam.K[1, 1]:>7.1f}  "
            f"({x:.1f}, {y:.1f}, {z:.1f})"
        )
    lines += [f"{view:<7} kept from the existing file" for view in kept]
    return "\n".join(lines)
