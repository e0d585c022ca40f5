"""The top view's rump read a second time, from a crop of the photo at full resolution.

The top model reads the whole 1280x960 photo at 320 px, a quarter of its resolution, and
misses the hip bones (hooks) by 4-5 photo pixels; they lie 80-180 pixels apart, so each
pixel is about 1.2 % of hip width. A second model, trained on crops (edge/sim/rump_dataset.py),
reads a square around the rump that the top model found at about the photo's own
resolution, and its hip, tail head, hooks and pins replace the top model's.

Coordinates here are Ultralytics' (the image spans 0..width, a pixel centre at +0.5), the
same as the models' own output before the detector shifts it to calibration pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.detect.decode import PoseDetection
from edge.keypoints import MODEL_KEYPOINTS, VIEW_KEYPOINTS

RUMP_KEYPOINTS = MODEL_KEYPOINTS["rump"]
# The square's side over the rump keypoints' spread: room for the top model's miss and
# for the bumps themselves around the outermost keypoints.
SIDE_PER_SPREAD = 1.6
# Where the rump keypoints are among the top model's.
TOP_RUMP_INDEX = [VIEW_KEYPOINTS["top"].index(n) for n in RUMP_KEYPOINTS]


@dataclass(frozen=True)
class RumpWindow:
    """A square of the photo, side_px wide from (x0_px, y0_px), scaled into input_px."""

    x0_px: float
    y0_px: float
    side_px: float
    input_px: int

    @property
    def gain(self) -> float:
        return self.input_px / self.side_px

    def to_crop(self, points_px: np.ndarray) -> np.ndarray:
        return (np.asarray(points_px, float) - [self.x0_px, self.y0_px]) * self.gain

    def to_photo(self, points_px: np.ndarray) -> np.ndarray:
        return np.asarray(points_px, float) / self.gain + [self.x0_px, self.y0_px]


def rump_window(rump_points_px: np.ndarray, input_px: int, *, shift=(0.0, 0.0),
                side_factor: float = 1.0) -> RumpWindow:
    """The square around these rump keypoints (N, 2), never finer than the photo's pixels.

    Training shifts it (by fractions of its side) and resizes it a little, as the top
    model's misses would."""
    points = np.asarray(rump_points_px, float)
    side = max(float(input_px), SIDE_PER_SPREAD * float(np.ptp(points, axis=0).max())) * side_factor
    centre = points.mean(axis=0) + np.asarray(shift, float) * side
    return RumpWindow(float(centre[0] - side / 2), float(centre[1] - side / 2), side, input_px)


def crop(image_bgr: np.ndarray, window: RumpWindow) -> np.ndarray:
    """The window's square of the photo, input_px wide, grey where it runs past the photo."""
    g = window.gain
    # warpAffine counts pixel centres from 0, the window's coordinates from the outer edge.
    matrix = np.float32([[g, 0, (0.5 - window.x0_px) * g - 0.5],
                         [0, g, (0.5 - window.y0_px) * g - 0.5]])
    return cv2.warpAffine(image_bgr, matrix, (window.input_px, window.input_px), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(114, 114, 114))


def crop_around_rump(image_bgr: np.ndarray, top: PoseDetection, input_px: int) -> tuple[np.ndarray, RumpWindow]:
    """The crop the rump model reads around the rump of a top-view detection, and its window."""
    window = rump_window(top.keypoints[TOP_RUMP_INDEX, :2], input_px)
    return crop(image_bgr, window), window


def refine_rump(model, image_bgr: np.ndarray, top: PoseDetection, *, conf_threshold: float = 0.25,
                fuse_iou: float | None = None) -> PoseDetection:
    """The top view's detection with its rump keypoints read again from a crop by `model`
    (an NcnnPoseModel for RUMP_KEYPOINTS). Kept as it was when the crop finds no rump."""
    image, window = crop_around_rump(image_bgr, top, model.info.input_px)
    found = model.predict(image, conf_threshold=conf_threshold, max_detections=1, fuse_iou=fuse_iou)
    if not found:
        return top
    keypoints = top.keypoints.astype(float).copy()
    rump = found[0].keypoints
    keypoints[TOP_RUMP_INDEX, :2] = window.to_photo(rump[:, :2])
    keypoints[TOP_RUMP_INDEX, 2] = rump[:, 2]
    return PoseDetection(top.box_px, top.score, keypoints, top.across_outline)
