"""What a detector gives back: the goats found in one photo, with their keypoints.

Every detector (edge/detect/detector.py's NCNN one on the Pi, the Ultralytics one for
benchmarks and parity checks) returns these, in the calibration's pixel convention (pixel
centres at integers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edge.geometry.lens import Lens
from edge.keypoints import VIEW_KEYPOINTS, Keypoint, ViewKeypoints, mirror_name

# Ultralytics measures pixels from the image's outer edge (a pixel centre at +0.5); the
# calibration puts pixel centres at integers. Without this shift every ray is biased.
ULTRALYTICS_TO_CALIBRATION_PX = -0.5


@dataclass(frozen=True)
class PoseDetection:
    """One animal: box (x0, y0, x1, y1), score, and keypoints (K, 3) as x, y, confidence."""

    box_px: np.ndarray
    score: float
    keypoints: np.ndarray
    # (K, 2): for keypoints moved onto the outline, the unit direction across it; NaN for the others.
    across_outline: np.ndarray | None = None


@dataclass(frozen=True)
class ViewDetections:
    view: str
    image_size_px: tuple[int, int]  # width, height
    goats: tuple[PoseDetection, ...]  # best first, in calibration pixels
    # The photo is a mirror image of what the model was trained on (a camera on the other side
    # of the chute, edge/detect/orientation.py): the model's left keypoints are the goat's right.
    mirrored: bool = False

    def keypoints(self, index: int = 0) -> ViewKeypoints:
        """The goat's keypoints by landmark name, the goat's own left and right."""
        goat = self.goats[index]
        found = {}
        for i, (model_name, (x, y, c)) in enumerate(zip(VIEW_KEYPOINTS[self.view], goat.keypoints)):
            name = mirror_name(model_name) if self.mirrored else model_name
            across = goat.across_outline
            on_outline = across is not None and not np.isnan(across[i, 0])
            found[name] = Keypoint(
                float(x),
                float(y),
                float(c),
                (float(across[i, 0]), float(across[i, 1])) if on_outline and across is not None else None,
            )
        return found


class Detector(Protocol):
    """Finds the goats in one view's photo. `versions` names the model behind each view,
    recorded with every result."""

    versions: dict[str, str]

    def detect(
        self, view: str, image_bgr: np.ndarray, lens: Lens | None = None, *, mirrored_chute: bool = False
    ) -> ViewDetections: ...

    def close(self) -> None: ...
