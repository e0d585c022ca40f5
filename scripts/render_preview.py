"""Render one simulated capture as a single picture: side, top and front views side by side,
with every landmark drawn and named.

    .venv/bin/python scripts/render_preview.py --seed 7 --out docs/images/capture.jpg

Filled dots are visible landmarks, rings are landmarks hidden behind the body (labelled
all the same); the green box is the goat's box in the training labels.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from edge.keypoints import VIEW_KEYPOINTS, VIEWS
from edge.sim.capture import SimCapture, simulate_capture
from edge.sim.truth import NOT_IN_IMAGE, VISIBLE

FONT = cv2.FONT_HERSHEY_SIMPLEX
DOT = (40, 40, 255)
HIDDEN = (255, 200, 0)
BOX = (60, 220, 60)
SIZE = 0.4  # label font scale


def _place_label(anchor, size, taken, width, height):
    """The first spot near the point whose label rectangle overlaps no earlier label."""
    x, y = anchor
    w, h = size
    for r in (8, 20, 34, 50):
        for dx, dy in (
            (r, 0),
            (-r - w, 0),
            (r, -r),
            (-r - w, -r),
            (r, r),
            (-r - w, r),
            (-w // 2, -r),
            (-w // 2, r + h),
        ):
            x0, y0 = int(x + dx), int(y + dy)
            rect = (x0 - 1, y0 - h - 1, x0 + w + 1, y0 + 3)
            if rect[0] < 0 or rect[1] < 0 or rect[2] >= width or rect[3] >= height:
                continue
            if all(rect[2] < o[0] or rect[0] > o[2] or rect[3] < o[1] or rect[1] > o[3] for o in taken):
                taken.append(rect)
                return x0, y0
    return int(x) + 8, int(y)


def draw_view(capture: SimCapture, view: str, width_px: int) -> np.ndarray:
    image = capture.images[view]
    factor = width_px / image.shape[1]
    out = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    height = out.shape[0]

    def to_out(x, y):
        # Pixel centres sit at integers, so coordinates scale about -0.5.
        return (x + 0.5) * factor - 0.5, (y + 0.5) * factor - 0.5

    entries = [e for e in capture.labels[view]]
    points = [
        (name, *to_out(x, y), flag)
        for e in entries
        for name, (x, y, flag) in zip(VIEW_KEYPOINTS[view], e.keypoints.keypoints)
        if flag != NOT_IN_IMAGE
    ]
    # Labels keep clear of every dot as well as of each other.
    taken = [(int(px) - 4, int(py) - 4, int(px) + 4, int(py) + 4) for _, px, py, _ in points]
    for entry in entries:
        if entry.box_px is not None:
            x0, y0 = to_out(*entry.box_px[:2])
            x1, y1 = to_out(*entry.box_px[2:])
            cv2.rectangle(out, (int(x0), int(y0)), (int(x1), int(y1)), BOX, 1, cv2.LINE_AA)
    labels = []
    for name, px, py, _ in points:
        (tw, th), _ = cv2.getTextSize(name, FONT, SIZE, 1)
        lx, ly = _place_label((px, py), (tw, th), taken, out.shape[1], height)
        if abs(lx - px) > 14 or abs(ly - py) > 14:
            end = (lx if lx > px else lx + tw, ly - th // 2)
            cv2.line(out, (int(px), int(py)), end, (230, 230, 230), 1, cv2.LINE_AA)
        labels.append((name, lx, ly, tw, th))
    shade = out.copy()
    for _, lx, ly, tw, th in labels:
        cv2.rectangle(shade, (lx - 2, ly - th - 2), (lx + tw + 2, ly + 3), (0, 0, 0), -1)
    out = cv2.addWeighted(shade, 0.55, out, 0.45, 0)
    for name, lx, ly, _, _ in labels:
        cv2.putText(out, name, (lx, ly), FONT, SIZE, (255, 255, 255), 1, cv2.LINE_AA)
    for _, px, py, flag in points:
        centre = (int(round(px * 16)), int(round(py * 16)))
        if flag == VISIBLE:
            cv2.circle(out, centre, 3 * 16, DOT, -1, cv2.LINE_AA, shift=4)
        else:
            cv2.circle(out, centre, 3 * 16, HIDDEN, 1, cv2.LINE_AA, shift=4)
    cv2.putText(out, view, (10, 26), FONT, 0.8, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(out, view, (10, 26), FONT, 0.8, (255, 255, 255), 2, cv2.LINE_AA)
    return out


def preview(seed: int, view_width_px: int = 800) -> np.ndarray:
    capture = simulate_capture(seed)
    views = [draw_view(capture, view, view_width_px) for view in VIEWS]
    gap = np.full((views[0].shape[0], 6, 3), 255, np.uint8)
    return np.concatenate([views[0], gap, views[1], gap, views[2]], axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("docs/images/capture.jpg"))
    parser.add_argument("--view-width", type=int, default=800, help="width of each view in pixels")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality")
    args = parser.parse_args(argv)
    picture = preview(args.seed, args.view_width)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), picture, [cv2.IMWRITE_JPEG_QUALITY, args.quality]):
        raise SystemExit(f"could not write {args.out}")
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB, seed {args.seed})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
