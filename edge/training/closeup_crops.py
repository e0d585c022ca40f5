"""Training crops for the close-up model (edge/detect/closeup.py), from full-resolution photos.

Each example is the square that the daemon would crop around one region (the top photo's
rump or chest, the side photo's chest), placed from the true keypoints and then shifted
and resized a little, as the view model's misses would place it, so that the model learns
to read any such square. A label line has the layout of edge/training/dataset.py: `0 cx cy w h`
and `x y v` for each of CLOSEUP_KEYPOINTS, normalised by the crop's size; the other
regions' keypoints, and any outside the crop, are `0 0 0` (Ultralytics leaves them out of
the loss).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np

from edge.detect.closeup import CLOSEUP_KEYPOINTS, CloseupWindow, Region, closeup_window, crop, regions_of
from edge.jpeg import encode_jpeg
from edge.sim.truth import NOT_IN_IMAGE

CLOSEUP_INPUT_PX = 256
# How far the view models' keypoints, and so their crops, miss (benchmarks/RESULTS.md);
# the crops are trained a little wider than that.
CENTRE_SHIFT_SIGMA = 0.03  # of the crop's side
SIDE_JITTER = 0.08  # the side varies by up to this fraction either way
# The box: its keypoints' box (or square, Region.square_box) grown by this fraction of the
# crop. Kept tight because Ultralytics' keypoint loss measures a miss against the box's
# size: a box grown to most of the crop (0.12) let a first rump model settle 8 px off in
# its own val crops.
BOX_MARGIN = 0.02
JPEG_QUALITY = 92
# Each region draws its crops' shifts from its own stream, so that adding a region left
# the rump's crops of a dataset seed as they were.
_RNG_TAGS = {"rump": 0x7275, "chest": 0x5407, "chest_side": 0x5D57}


@dataclass(frozen=True)
class CloseupExample:
    region: str
    jpeg: bytes
    label_line: str
    window: CloseupWindow  # where in the photo the crop was taken


def region_rng(seed, region: Region) -> np.random.Generator:
    return np.random.default_rng([seed, _RNG_TAGS[region.name]])


def closeup_examples(
    view: str, image_bgr: np.ndarray, view_keypoints: np.ndarray, seed, input_px: int = CLOSEUP_INPUT_PX
) -> list[CloseupExample]:
    """A crop and its label for each of the view's regions whose keypoints are all in the
    photo, from one view's photo and its labelled keypoints (K, 3) in calibration pixels.
    `seed` (an int or a sequence of them) places the crops."""
    return [
        e
        for e in (
            closeup_example(image_bgr, view_keypoints, region, region_rng(seed, region), input_px)
            for region in regions_of(view)
        )
        if e is not None
    ]


def closeup_example(
    image_bgr: np.ndarray,
    view_keypoints: np.ndarray,
    region: Region,
    rng: np.random.Generator,
    input_px: int = CLOSEUP_INPUT_PX,
) -> CloseupExample | None:
    """One region's crop and label; None when one of its keypoints is out of the photo."""
    found = view_keypoints[region.view_index]
    if (found[:, 2] == NOT_IN_IMAGE).any():
        return None
    points = found[:, :2] + 0.5  # calibration pixels to the crop's convention (edge/detect/closeup.py)
    window = closeup_window(
        points,
        input_px,
        shift=rng.normal(0.0, CENTRE_SHIFT_SIGMA, 2),
        side_factor=rng.uniform(1 - SIDE_JITTER, 1 + SIDE_JITTER),
    )
    jpeg = encode_jpeg(crop(image_bgr, window), JPEG_QUALITY)
    line = _label_line(window.to_crop(points), found[:, 2], region, input_px)
    return None if line is None else CloseupExample(region.name, jpeg, line, window)


def _label_line(crop_points_px: np.ndarray, flags: np.ndarray, region: Region, input_px: int) -> str | None:
    inside = cast(np.ndarray, ((crop_points_px >= 0) & (crop_points_px <= input_px)).all(axis=1))  # (N,) per point
    if not inside.any():
        return None
    seen = crop_points_px[inside]
    if region.square_box:
        centre, half = seen.mean(axis=0), np.ptp(seen, axis=0).max() / 2 + BOX_MARGIN * input_px
        lo, hi = np.clip(centre - half, 0, input_px), np.clip(centre + half, 0, input_px)
    else:
        lo = np.clip(seen.min(axis=0) - BOX_MARGIN * input_px, 0, input_px)
        hi = np.clip(seen.max(axis=0) + BOX_MARGIN * input_px, 0, input_px)
    values = [f"{v / input_px:.6f}" for v in (*((lo + hi) / 2), *(hi - lo))]
    rows = {name: ["0", "0", "0"] for name in CLOSEUP_KEYPOINTS}
    for name, (x, y), flag, ok in zip(region.keypoints, crop_points_px, flags, inside):
        if ok:
            rows[name] = [f"{x / input_px:.6f}", f"{y / input_px:.6f}", str(int(flag))]
    return "0 " + " ".join(values + [v for name in CLOSEUP_KEYPOINTS for v in rows[name]])
