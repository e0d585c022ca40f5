#!/usr/bin/env python3
"""Write the ChArUco calibration board as a PNG for printing.

    .venv/bin/python scripts/make_charuco_board.py --out board.png --dpi 150

Print at 100% scale (no "fit to page"), glue it flat on foam board, then measure a square:
pass the measured side to `goat-edge calibrate --square-cm` if it is not the nominal size.
"""

from __future__ import annotations

import argparse
import struct
import sys
import zlib
from pathlib import Path

import cv2

from edge.argtypes import positive_float, squares
from edge.calibrate.board import BoardSpec

CM_PER_INCH = 2.54


def png_with_dpi(png: bytes, dots_per_metre: int) -> bytes:
    """The PNG with a pHYs chunk, so that print dialogs default to the intended size."""
    body = b"pHYs" + struct.pack(">IIB", dots_per_metre, dots_per_metre, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body))
    end_of_ihdr = 8 + 8 + 13 + 4  # signature, IHDR length and type, IHDR data, CRC
    return png[:end_of_ihdr] + chunk + png[end_of_ihdr:]


def label_top_edge(image, margin_px: int, text: str) -> None:
    """Mark the printed top edge in the margin: the standard positions depend on it."""
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, max(1, margin_px // 25)
    (w, h), _ = cv2.getTextSize(text, font, 1.0, thickness)
    scale = min(0.45 * margin_px / h, 0.9 * image.shape[1] / w)
    if scale * h < 8:
        return  # too small a margin to be legible
    (w, h), _ = cv2.getTextSize(text, font, scale, thickness)
    origin = ((image.shape[1] - w) // 2, (margin_px + h) // 2)
    cv2.putText(image, text, origin, font, scale, 0, thickness, cv2.LINE_AA)


def main(argv: list[str] | None = None) -> int:
    default = BoardSpec()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    p.add_argument("--dpi", type=positive_float, default=150.0, help="printer resolution (default 150)")
    p.add_argument(
        "--squares",
        type=squares,
        default=(default.squares_x, default.squares_y),
        help="COLSxROWS (default %(default)s)",
    )
    p.add_argument("--square-cm", type=positive_float, default=default.square_cm)
    p.add_argument("--marker-cm", type=positive_float, default=default.marker_cm)
    p.add_argument("--margin-cm", type=positive_float, default=2.0, help="white border (default 2)")
    args = p.parse_args(argv)
    cols, rows = args.squares
    try:
        board = BoardSpec(cols, rows, args.square_cm, args.marker_cm)
    except ValueError as exc:
        p.error(str(exc))
    px_per_cm = args.dpi / CM_PER_INCH
    image = board.image(px_per_cm, args.margin_cm)
    label_top_edge(
        image,
        round(args.margin_cm * px_per_cm),
        f"TOP   {cols}x{rows} squares of {board.square_cm:g} cm, markers {board.marker_cm:g} cm, {board.dictionary}",
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    dots_per_metre = round(px_per_cm * 100)
    ok, png = cv2.imencode(".png", image)
    if not ok:
        print(f"cannot encode {args.out}", file=sys.stderr)
        return 1
    args.out.write_bytes(png_with_dpi(png.tobytes(), dots_per_metre))
    square_px = round(board.square_cm * px_per_cm)
    printed_square_cm = square_px / px_per_cm
    height_px, width_px = image.shape
    print(
        f"wrote {args.out}: {width_px}x{height_px} px, {width_px / px_per_cm:.1f} x "
        f"{height_px / px_per_cm:.1f} cm at {args.dpi:g} dpi; squares print at "
        f"{printed_square_cm:.3f} cm ({dots_per_metre} dots per metre)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
