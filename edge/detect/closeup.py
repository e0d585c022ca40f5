"""Parts of the photos read a second time in close-ups, from crops at full resolution:
the top photo's rump and chest, and the side photo's chest.

The view models read each photo at a fraction of its resolution, so a landmark is a few
photo pixels off; widths that span only a hundred-odd pixels (hip width between the
hooks, chest width between the shoulders, chest depth from withers to sternum) feel every
one of them. A second model, the close-up model, trained on crops
(edge/training/closeup_crops.py), reads a square around each region the view model found,
at about the photo's own resolution, and its keypoints there replace the view model's:
the hip, tail head, hooks and pins from the top photo's rump, the two shoulders from its
chest, the withers and sternum from the side photo's chest. One model reads all three
squares, so the daemon holds one more set of weights, not three.

Coordinates here are Ultralytics' (the image spans 0..width, a pixel centre at +0.5), the
same as the models' own output before the detector shifts it to calibration pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.detect.types import PoseDetection
from edge.keypoints import MODEL_KEYPOINTS, VIEW_KEYPOINTS

CLOSEUP_KEYPOINTS = MODEL_KEYPOINTS["closeup"]
# The square's side over its keypoints' spread: room for the view model's miss and for
# the body around the outermost keypoints.
SIDE_PER_SPREAD = 1.6


@dataclass(frozen=True)
class Region:
    """A part of a view's photo that the close-up model reads in its own square."""

    name: str
    view: str
    keypoints: tuple[str, ...]
    # Two keypoints in a line have a box with no height, and Ultralytics' keypoint loss
    # divides a miss by the box's area: such a region's box is the square of its spread.
    square_box: bool

    @property
    def view_index(self) -> list[int]:
        """Where the region's keypoints are among its view model's."""
        return [VIEW_KEYPOINTS[self.view].index(n) for n in self.keypoints]

    @property
    def closeup_index(self) -> list[int]:
        """Where they are among the close-up model's."""
        return [CLOSEUP_KEYPOINTS.index(n) for n in self.keypoints]


REGIONS = (
    Region("rump", "top", ("hip", "tail_head", "hook_left", "hook_right", "pin_left", "pin_right"), square_box=False),
    Region("chest", "top", ("shoulder_left", "shoulder_right"), square_box=True),
    Region("chest_side", "side", ("withers", "sternum"), square_box=True),
)
CLOSEUP_VIEWS = tuple(dict.fromkeys(r.view for r in REGIONS))


def regions_of(view: str) -> tuple[Region, ...]:
    return tuple(r for r in REGIONS if r.view == view)


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


def closeup_window(
    points_px: np.ndarray, input_px: int, *, shift=(0.0, 0.0), side_factor: float = 1.0
) -> CloseupWindow:
    """The square around these keypoints (N, 2), never finer than the photo's pixels.

    Training shifts it (by fractions of its side) and resizes it a little, as the view
    model's misses would."""
    points = np.asarray(points_px, float)
    side = max(float(input_px), SIDE_PER_SPREAD * float(np.ptp(points, axis=0).max())) * side_factor
    centre = points.mean(axis=0) + np.asarray(shift, float) * side
    return CloseupWindow(float(centre[0] - side / 2), float(centre[1] - side / 2), side, input_px)


def crop(image_bgr: np.ndarray, window: CloseupWindow) -> np.ndarray:
    """The window's square of the photo, input_px wide, grey where it runs past the photo."""
    g = window.gain
    # warpAffine counts pixel centres from 0, the window's coordinates from the outer edge.
    matrix = np.array([[g, 0, (0.5 - window.x0_px) * g - 0.5], [0, g, (0.5 - window.y0_px) * g - 0.5]], np.float32)
    return cv2.warpAffine(
        image_bgr,
        matrix,
        (window.input_px, window.input_px),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(114, 114, 114),
    )


def crop_region(
    image_bgr: np.ndarray, detection: PoseDetection, region: Region, input_px: int
) -> tuple[np.ndarray, CloseupWindow]:
    """The crop the close-up model reads around one region of a detection in the region's
    view, and its window."""
    window = closeup_window(detection.keypoints[region.view_index, :2], input_px)
    return crop(image_bgr, window), window


def refine(
    model,
    view: str,
    image_bgr: np.ndarray,
    detection: PoseDetection,
    *,
    conf_threshold: float = 0.25,
    fuse_iou: float | None = None,
) -> PoseDetection:
    """A view's detection with each of the view's regions' keypoints read again from a
    crop by `model` (an NcnnPoseModel for CLOSEUP_KEYPOINTS). A region stays as the view
    model found it when its crop shows no goat."""
    keypoints = detection.keypoints.astype(float).copy()
    for region in regions_of(view):
        image, window = crop_region(image_bgr, detection, region, model.info.input_px)
        found = model.predict(image, conf_threshold=conf_threshold, max_detections=1, fuse_iou=fuse_iou)
        if not found:
            continue
        read = found[0].keypoints[region.closeup_index]
        keypoints[region.view_index, :2] = window.to_photo(read[:, :2])
        keypoints[region.view_index, 2] = read[:, 2]
    return PoseDetection(detection.box_px, detection.score, keypoints, detection.across_outline)
