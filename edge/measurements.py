"""What each body measurement is, in terms of 3D landmarks in the chute frame (cm).

The simulator's ground truth and the camera estimate use these same definitions, so a
difference between them is an error of the estimate and never of bookkeeping.
"""

from __future__ import annotations

import numpy as np

LENGTHS = ("body_length_cm", "withers_height_cm", "rump_height_cm", "chest_depth_cm", "chest_width_cm", "hip_width_cm")
MEASUREMENTS = LENGTHS + ("heart_girth_cm", "weight_kg")

# The landmarks each length needs.
REQUIRES: dict[str, tuple[str, ...]] = {
    "body_length_cm": ("point_of_shoulder_left", "pin_left"),
    "withers_height_cm": ("withers",),
    "rump_height_cm": ("hip",),
    "chest_depth_cm": ("withers", "sternum"),
    "chest_width_cm": ("shoulder_left", "shoulder_right"),
    "hip_width_cm": ("hook_left", "hook_right"),
}


def length_from_landmarks(name: str, lm: dict[str, np.ndarray]) -> float:
    """One length measurement; the floor of the chute is z = 0."""
    if name == "body_length_cm":  # point of shoulder to pin bone
        return float(np.linalg.norm(lm["point_of_shoulder_left"] - lm["pin_left"]))
    if name == "withers_height_cm":  # ground to withers
        return float(lm["withers"][2])
    if name == "rump_height_cm":  # ground to hip
        return float(lm["hip"][2])
    if name == "chest_depth_cm":  # withers line to sternum, behind the elbow
        return float(lm["withers"][2] - lm["sternum"][2])
    if name == "chest_width_cm":  # widest point at the shoulders
        return float(np.linalg.norm(lm["shoulder_left"] - lm["shoulder_right"]))
    if name == "hip_width_cm":  # across the hip bones
        return float(np.linalg.norm(lm["hook_left"] - lm["hook_right"]))
    raise KeyError(name)
