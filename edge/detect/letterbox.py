"""Letterboxing: fit an image into the model's square input without distorting it.

Mirrors Ultralytics' LetterBox (centred, grey 114 padding, per-side rounding) so that the
lean runtime sees exactly the tensor Ultralytics would, and maps results back the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True)
class Letterbox:
    """How an image of image_size_px (w, h) was placed into a square input of input_px."""

    input_px: int
    gain_x: float
    gain_y: float
    pad_left_px: int
    pad_top_px: int

    @staticmethod
    def fit(width_px: int, height_px: int, input_px: int) -> Letterbox:
        r = min(input_px / height_px, input_px / width_px)
        new_w, new_h = max(round(width_px * r), 1), max(round(height_px * r), 1)
        left = round((input_px - new_w) / 2 - 0.1)
        top = round((input_px - new_h) / 2 - 0.1)
        return Letterbox(input_px, new_w / width_px, new_h / height_px, left, top)

    def to_image(self, points_px: np.ndarray) -> np.ndarray:
        """Input-tensor pixel coordinates (..., 2) back to the original image's."""
        out = np.array(points_px, np.float64, copy=True)
        out[..., 0] = (out[..., 0] - self.pad_left_px) / self.gain_x
        out[..., 1] = (out[..., 1] - self.pad_top_px) / self.gain_y
        return out


def letterbox(image_bgr: np.ndarray, input_px: int) -> tuple[np.ndarray, Letterbox]:
    """The padded BGR image of input_px x input_px, and the placement to undo it."""
    h, w = image_bgr.shape[:2]
    box = Letterbox.fit(w, h, input_px)
    new_w, new_h = round(w * box.gain_x), round(h * box.gain_y)
    resized = (
        image_bgr if (new_w, new_h) == (w, h) else cv2.resize(image_bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    )
    bottom = input_px - new_h - box.pad_top_px
    right = input_px - new_w - box.pad_left_px
    padded = cv2.copyMakeBorder(
        resized, box.pad_top_px, bottom, box.pad_left_px, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3
    )
    return padded, box
