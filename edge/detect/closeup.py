"""The top photo read a second time in close-ups: the rump and the chest, from crops at
full resolution.

The top model reads the whole 1280x960 photo at 320 px, a quarter of its resolution. It
misses the hip bones (hooks) by 4-5 photo pixels, and they lie 80-180 pixels apart, so
each pixel is about 1.2 % of hip width; the shoulders, 50-150 pixels apart, set the
chest's width the same way. A second model, the close-up model, trained on crops
(edge/sim/closeup_dataset.py), reads a square around each region the top model found, at
about the photo's own resolution, and its keypoints there replace the top model's: the
hip, tail head, hooks and pins from the rump's square, the two shoulders from the chest's.
One model reads both squares, so the daemon holds one more set of weights, not two.

Coordinates here are Ultralytics' (the image spans 0..width, a pixel centre at +0.5), the
same as the models' own output before the detector shifts it to calibration pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.detect.decode import PoseDetection
from edge.keypoints import MODEL_KEYPOINTS, VIEW_KEYPOINTS

CLOSEUP_KEYPOINTS = MODEL_KEYPOINTS["closeup"]
# The square's side over its keypoints' spread: room for the top model's miss and for
# the body around the outermost keypoints.
SIDE_PER_SPREAD = 1.6


@dataclass(frozen=True)
class Region:
    """A part of the top photo that the close-up model reads in its own square."""

    name: str
    keypoints: tuple[str, ...]
    # Two keypoints in a line have a box with no height, and Ultralytics' keypoint loss
    # divides a miss by the box's area: such a region's box is the square of its spread.
    square_box: bool

    @property
    def top_index(self) -> list[int]:
        """Where the region's keypoints are among the top model's."""
        return [VIEW_KEYPOINTS["top"].index(n) for n in self.keypoints]

    @property
    def closeup_index(self) -> list[int]:
        """Where they are among the close-up model's."""
        return [CLOSEUP_KEYPOINTS.index(n) for n in self.keypoints]


REGIONS = (
    Region("rump", ("hip", "tail_head", "hook_left", "hook_right", "pin_left", "pin_right"), square_box=False),
    Region("chest", ("shoulder_left", "shoulder_right"), square_box=True),
)


@dataclass(frozen=True)
class CloseupWindow:
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


def closeup_window(points_px: np.ndarray, input_px: int, *, shift=(0.0, 0.0),
                   side_factor: float = 1.0) -> CloseupWindow:
    """The square around these keypoints (N, 2), never finer than the photo's pixels.

    Training shifts it (by fractions of its side) and resizes it a little, as the top
    model's misses would."""
    points = np.asarray(points_px, float)
    side = max(float(input_px), SIDE_PER_SPREAD * float(np.ptp(points, axis=0).max())) * side_factor
    centre = points.mean(axis=0) + np.asarray(shift, float) * side
    return CloseupWindow(float(centre[0] - side / 2), float(centre[1] - side / 2), side, input_px)


def crop(image_bgr: np.ndarray, window: CloseupWindow) -> np.ndarray:
    """The window's square of the photo, input_px wide, grey where it runs past the photo."""
    g = window.gain
    # warpAffine counts pixel centres from 0, the window's coordinates from the outer edge.
    matrix = np.float32([[g, 0, (0.5 - window.x0_px) * g - 0.5],
                         [0, g, (0.5 - window.y0_px) * g - 0.5]])
    return cv2.warpAffine(image_bgr, matrix, (window.input_px, window.input_px), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(114, 114, 114))


def crop_region(image_bgr: np.ndarray, top: PoseDetection, region: Region,
                input_px: int) -> tuple[np.ndarray, CloseupWindow]:
    """The crop the close-up model reads around one region of a top-view detection, and its window."""
    window = closeup_window(top.keypoints[region.top_index, :2], input_px)
    return crop(image_bgr, window), window


def refine_top(model, image_bgr: np.ndarray, top: PoseDetection, *, conf_threshold: float = 0.25,
               fuse_iou: float | None = None) -> PoseDetection:
    """The top view's detection with each region's keypoints read again from a crop by
    `model` (an NcnnPoseModel for CLOSEUP_KEYPOINTS). A region stays as the top model
    found it when its crop shows no goat."""
    keypoints = top.keypoints.astype(float).copy()
    for region in REGIONS:
        image, window = crop_region(image_bgr, top, region, model.info.input_px)
        found = model.predict(image, conf_threshold=conf_threshold, max_detections=1, fuse_iou=fuse_iou)
        if not found:
            continue
        read = found[0].keypoints[region.closeup_index]
        keypoints[region.top_index, :2] = window.to_photo(read[:, :2])
        keypoints[region.top_index, 2] = read[:, 2]
    return PoseDetection(top.box_px, top.score, keypoints, top.across_outline)
