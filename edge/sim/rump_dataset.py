"""Training crops for the rump model (edge/detect/rump.py), from full-resolution top photos.

Each example is the square that the daemon would crop around the rump, placed from the
true keypoints and then shifted and resized a little, as the top model's misses would
place it, so that the rump model learns to read any such square. A label line has the
layout of edge/sim/dataset.py: `0 cx cy w h` and `x y v` for each of RUMP_KEYPOINTS,
normalised by the crop's size; a keypoint outside the crop is `0 0 0`.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.detect.rump import TOP_RUMP_INDEX, RumpWindow, crop, rump_window
from edge.sim.truth import NOT_IN_IMAGE

RUMP_INPUT_PX = 256
# How far the top model's rump keypoints, and so its crop, miss: their mean is about 4
# photo px off at the median and 9 at p90 (benchmarks/RESULTS.md); trained a little wider.
CENTRE_SHIFT_SIGMA = 0.03  # of the crop's side
SIDE_JITTER = 0.08  # the side varies by up to this fraction either way
# The rump's box: its keypoints' box grown by this fraction of the crop. Kept tight because
# Ultralytics' keypoint loss measures a miss against the box's size: a box grown to most of
# the crop (0.12) let a first model settle 8 px off in its own val crops.
BOX_MARGIN = 0.02
JPEG_QUALITY = 92


@dataclass(frozen=True)
class RumpExample:
    jpeg: bytes
    label_line: str
    window: RumpWindow  # where in the photo the crop was taken


def rump_example(image_bgr: np.ndarray, top_keypoints: np.ndarray, rng: np.random.Generator,
                 input_px: int = RUMP_INPUT_PX) -> RumpExample | None:
    """One crop and its label, from a top photo and its labelled keypoints (K, 3) in
    calibration pixels; None when a rump keypoint is out of the photo."""
    rump = top_keypoints[TOP_RUMP_INDEX]
    if (rump[:, 2] == NOT_IN_IMAGE).any():
        return None
    points = rump[:, :2] + 0.5  # calibration pixels to the crop's convention (edge/detect/rump.py)
    window = rump_window(points, input_px, shift=rng.normal(0.0, CENTRE_SHIFT_SIGMA, 2),
                         side_factor=rng.uniform(1 - SIDE_JITTER, 1 + SIDE_JITTER))
    ok, jpeg = cv2.imencode(".jpg", crop(image_bgr, window), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding of a rump crop failed")
    return RumpExample(jpeg.tobytes(), _label_line(window.to_crop(points), rump[:, 2], input_px), window)


def _label_line(crop_points_px: np.ndarray, flags: np.ndarray, input_px: int) -> str:
    inside = ((crop_points_px >= 0) & (crop_points_px <= input_px)).all(axis=1)
    lo = np.clip(crop_points_px[inside].min(axis=0) - BOX_MARGIN * input_px, 0, input_px)
    hi = np.clip(crop_points_px[inside].max(axis=0) + BOX_MARGIN * input_px, 0, input_px)
    values = [f"{v / input_px:.6f}" for v in (*((lo + hi) / 2), *(hi - lo))]
    for (x, y), flag, seen in zip(crop_points_px, flags, inside):
        values += [f"{x / input_px:.6f}", f"{y / input_px:.6f}", str(int(flag))] if seen else ["0", "0", "0"]
    return "0 " + " ".join(values)
