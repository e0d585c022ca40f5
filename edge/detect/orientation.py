"""Photos turned to the way the models were trained to see them, and the goats found put back.

The models learnt each view from cameras mounted as docs/calibration.md describes: the top
camera's image across the chute with the head to the right, the side camera on the
chute's open side. A farm may mount a camera turned by quarter turns, or build its chute
the other way round, with the side camera at -y; its calibration says so. Before
detection, the photo is turned so that its image axes point as the canonical camera's do
(in a chute built the other way round, every view is also mirrored, so the chute looks as
the models learnt it); the goats found are mapped back to the photo's own pixels, where
the geometry expects them. A mirrored photo shows the goat's other side, so its keypoints
named left are the goat's right ones (ViewDetections.mirrored).

Only quarter turns and mirror images, which move no pixel's content: small differences of
angle and position are what the training data's camera jitter covers
(edge/training/camera_jitter.py), and larger ones are re-projected (edge/detect/viewpoint.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.detect.types import PoseDetection, ViewDetections
from edge.geometry.lens import Lens

_ROTATE = {1: cv2.ROTATE_90_CLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_COUNTERCLOCKWISE}


@dataclass(frozen=True)
class Orientation:
    """Clockwise quarter turns, then a left-right mirror, that bring a photo of
    photo_size_px (width, height) to its view's canonical orientation."""

    quarter_turns: int
    mirrored: bool
    photo_size_px: tuple[int, int]

    @property
    def is_identity(self) -> bool:
        return self.quarter_turns == 0 and not self.mirrored

    @property
    def matrix(self) -> np.ndarray:
        """Photo pixels to canonical pixels (3x3, homogeneous; pixel centres at integers)."""
        w, h = self.photo_size_px
        m = np.eye(3)
        for _ in range(self.quarter_turns):
            # A clockwise quarter turn of a w x h image: (x, y) -> (h - 1 - y, x), and it is h x w.
            m = np.array([[0.0, -1.0, h - 1], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) @ m
            w, h = h, w
        if self.mirrored:
            m = np.array([[-1.0, 0.0, w - 1], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ m
        return m

    def canonical_px(self, photo_px: np.ndarray) -> np.ndarray:
        """Photo pixels (N, 2) where the turned image shows them."""
        return _map_points(self.matrix, np.asarray(photo_px, float).reshape(-1, 2))

    def to_canonical(self, image_bgr: np.ndarray) -> np.ndarray:
        out = image_bgr
        if self.quarter_turns:
            out = cv2.rotate(out, _ROTATE[self.quarter_turns])
        if self.mirrored:
            out = cv2.flip(out, 1)
        return out

    def to_photo(self, found: ViewDetections) -> ViewDetections:
        """Detections made on the canonical image, in the photo's own pixels."""
        if self.is_identity:
            return found
        back = np.linalg.inv(self.matrix)
        goats = tuple(_map_detection(goat, back) for goat in found.goats)
        return ViewDetections(found.view, self.photo_size_px, goats, mirrored=self.mirrored != found.mirrored)


def _map_detection(det: PoseDetection, m: np.ndarray) -> PoseDetection:
    corners = _map_points(m, det.box_px.reshape(2, 2))
    box = np.concatenate([corners.min(axis=0), corners.max(axis=0)])
    keypoints = det.keypoints.astype(float)
    keypoints[:, :2] = _map_points(m, keypoints[:, :2])
    across = None if det.across_outline is None else det.across_outline @ m[:2, :2].T
    return PoseDetection(box, det.score, keypoints, across)


def _map_points(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ m[:2, :2].T + m[:2, 2]


def orientation_of(lens: Lens, canonical: Lens, *, mirrored_chute: bool = False) -> Orientation:
    """The quarter turns and mirror that best align the photo's image axes (right and down,
    in the world) with the canonical camera's; the unturned photo on a tie.

    In a chute built the other way round (its open side at -y), the canonical camera is
    mirrored across the chute too: every view is then read mirrored, so that the chute
    looks as the models learnt it, rails and all."""
    right, down = lens.R[0], lens.R[1]
    across = np.array([1.0, -1.0, 1.0]) if mirrored_chute else np.ones(3)
    canonical_right, canonical_down = canonical.R[0] * across, canonical.R[1] * across
    best, best_score = None, -np.inf
    for mirrored in (False, True):
        for turns in range(4):
            candidate = Orientation(turns, mirrored, lens.size_px)
            a = candidate.matrix[:2, :2]
            new_right = a[0, 0] * right + a[0, 1] * down
            new_down = a[1, 0] * right + a[1, 1] * down
            score = float(new_right @ canonical_right + new_down @ canonical_down)
            if score > best_score + 1e-9:
                best, best_score = candidate, score
    assert best is not None
    return best
