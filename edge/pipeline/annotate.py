"""Annotated images: the goat's box, its keypoints, and the measurement lines in cm.

The lines are the measured 3D landmarks projected back through each camera, so a line
that misses the animal in the picture shows at a glance that a measurement is off.
"""

from __future__ import annotations

import cv2
import numpy as np

from edge.geometry.lens import Lens
from edge.keypoints import ViewKeypoints, mirror_name
from edge.measure.estimate import MeasurementResult

# Per view, the measurements drawn: (measurement, from, to, where along the line the label
# sits, and on which side). "floor" is the point straight below the first landmark.
VIEW_LINES = {
    "side": (
        ("body_length_cm", "point_of_shoulder_left", "pin_left", 0.5, "above"),
        ("withers_height_cm", "withers", "floor", 0.8, "right"),
        ("chest_depth_cm", "withers", "sternum", 0.5, "left"),
        ("rump_height_cm", "hip", "floor", 0.6, "right"),
    ),
    "top": (
        ("chest_width_cm", "shoulder_left", "shoulder_right", 0.0, "above"),
        ("hip_width_cm", "hook_left", "hook_right", 1.0, "below"),
    ),
    "front": (("chest_width_cm", "shoulder_left", "shoulder_right", 0.0, "right"),),
}
_LINE_BGR = (0, 215, 255)
_KEYPOINT_BGR = (60, 60, 230)
_BOX_BGR = (80, 200, 80)


def _label(image: np.ndarray, text: str, at: tuple[int, int], side: str, scale: float) -> None:
    font = cv2.FONT_HERSHEY_SIMPLEX
    thickness = max(1, round(2 * scale))
    (w, h), base = cv2.getTextSize(text, font, 0.6 * scale, thickness)
    gap = round(8 * scale)
    x, y = at
    x, y = {
        "right": (x + gap, y + h // 2),
        "left": (x - w - gap - 4, y + h // 2),
        "above": (x - w // 2, y - gap),
        "below": (x - w // 2, y + h + gap),
    }[side]
    cv2.rectangle(image, (x, y - h - base), (x + w + 4, y + base), (0, 0, 0), -1)
    cv2.putText(image, text, (x + 2, y), font, 0.6 * scale, (255, 255, 255), thickness, cv2.LINE_AA)


def annotate(
    image_bgr: np.ndarray,
    camera: Lens,
    keypoints: ViewKeypoints,
    box_px: np.ndarray | None,
    result: MeasurementResult | None,
) -> np.ndarray:
    """A copy of the photo with the box, the keypoints and (unless a retake) the measurements."""
    out = image_bgr.copy()
    scale = out.shape[1] / 1280
    if box_px is not None:
        x0, y0, x1, y1 = (int(round(v)) for v in box_px)
        cv2.rectangle(out, (x0, y0), (x1, y1), _BOX_BGR, max(1, round(2 * scale)))
    for kp in keypoints.values():
        cv2.circle(out, (int(round(kp.x_px)), int(round(kp.y_px))), max(2, round(5 * scale)), _KEYPOINT_BGR, -1)
    if result is None:
        return out
    lm = result.landmarks_cm
    for name, a, b, along, side in VIEW_LINES[camera.name]:
        value = result.measurements.get(name)
        if a not in lm and mirror_name(a) in lm:  # the side camera saw the goat's right flank
            a, b = mirror_name(a), mirror_name(b)
        if value is None or a not in lm or (b != "floor" and b not in lm):
            continue
        end = np.array([lm[a][0], lm[a][1], 0.0]) if b == "floor" else lm[b]
        px, depth = camera.project(np.array([lm[a], end]))
        if (depth <= 0).any():
            continue
        p, q = (tuple(int(round(c)) for c in pt) for pt in px)
        cv2.line(out, p, q, _LINE_BGR, max(1, round(3 * scale)), cv2.LINE_AA)
        at = (round(p[0] + along * (q[0] - p[0])), round(p[1] + along * (q[1] - p[1])))
        _label(out, f"{name.removesuffix('_cm').replace('_', ' ')} {value:.1f} cm", at, side, scale)
    return out
