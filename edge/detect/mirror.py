"""Keypoints averaged with those found in the mirror image, where a goat's mirror is a goat.

A goat is left-right symmetric: flipped across the chute, the top and front photos show
another plausible goat with its left and right swapped. The model's errors on the two
photos are partly independent, so averaging the two sets of keypoints (the mirrored ones
flipped back, left and right swapped back) lands closer to the truth, for two more
inferences per capture; how much closer is measured in benchmarks/RESULTS.md. Off by
default (`models.mirror_average`). The side camera sees one flank, and its mirror would be a goat
facing backwards, which it never sees: it is never mirrored.
"""

from __future__ import annotations

import numpy as np

from edge.detect.decode import box_iou
from edge.detect.types import PoseDetection
from edge.geometry.lens import Lens
from edge.keypoints import flip_idx

FLIP_UP_DOWN, FLIP_LEFT_RIGHT = 0, 1  # the numpy axis that is reversed
SAME_GOAT_MIN_IOU = 0.5


def mirror_axis(camera: Lens, view: str) -> int | None:
    """The image axis that runs across the chute, or None where the view has no left and right.

    Which one it is depends on how the camera is mounted, so it comes from the calibration:
    the chute's across direction (world y) seen in the camera's frame."""
    swap = flip_idx(view)
    if swap == list(range(len(swap))):
        return None
    across = camera.R[:, 1]
    return FLIP_LEFT_RIGHT if abs(across[0]) >= abs(across[1]) else FLIP_UP_DOWN


def flip_image(image_bgr: np.ndarray, axis: int) -> np.ndarray:
    return np.ascontiguousarray(np.flip(image_bgr, axis=axis))


def unflip(det: PoseDetection, axis: int, size_px: tuple[int, int], swap: list[int]) -> PoseDetection:
    """A detection in the flipped photo, put back in the photo's own coordinates.

    Coordinates here count from the image's outer edge (Ultralytics'), so x maps to
    width - x; the keypoints swap left and right back."""
    w, h = size_px
    box = det.box_px.astype(float)
    kpts = det.keypoints[swap].astype(float)
    if axis == FLIP_LEFT_RIGHT:
        box[[0, 2]] = w - box[[2, 0]]
        kpts[:, 0] = w - kpts[:, 0]
    else:
        box[[1, 3]] = h - box[[3, 1]]
        kpts[:, 1] = h - kpts[:, 1]
    return PoseDetection(box, det.score, kpts)


def average_with_mirror(found: list[PoseDetection], mirrored: list[PoseDetection]) -> list[PoseDetection]:
    """Each goat averaged with its mirror-image detection (the box that overlaps it most,
    IoU at least 0.5). A goat with no such partner is kept as found, and the count of goats,
    which the quality gate checks, is the photo's own."""
    if not mirrored:
        return list(found)
    mirror_boxes = np.stack([m.box_px for m in mirrored])
    averaged = []
    for det in found:
        ious = box_iou(det.box_px, mirror_boxes)
        best = int(np.argmax(ious))
        if ious[best] < SAME_GOAT_MIN_IOU:
            averaged.append(det)
            continue
        partner = mirrored[best]
        averaged.append(
            PoseDetection((det.box_px + partner.box_px) / 2, det.score, (det.keypoints + partner.keypoints) / 2)
        )
    return averaged
