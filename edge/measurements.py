"""What each body measurement is, in terms of 3D landmarks in the chute frame (cm).

The simulator's ground truth and the camera estimate use these same definitions, so a
difference between them is an error of the estimate and never of bookkeeping.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from edge.keypoints import mirror_name

LENGTHS = ("body_length_cm", "withers_height_cm", "rump_height_cm", "chest_depth_cm", "chest_width_cm", "hip_width_cm")
MEASUREMENTS = LENGTHS + ("heart_girth_cm", "weight_kg")
# A measurement's stated ± covers the true value in this share of captures.
UNCERTAINTY_COVERAGE = 0.90

# The landmarks each length needs.
REQUIRES: dict[str, tuple[str, ...]] = {
    "body_length_cm": ("point_of_shoulder_left", "pin_left"),
    "withers_height_cm": ("withers",),
    "rump_height_cm": ("hip",),
    "chest_depth_cm": ("withers", "sternum"),
    "chest_width_cm": ("shoulder_left", "shoulder_right"),
    "hip_width_cm": ("hook_left", "hook_right"),
}


def landmarks_for(name: str, have: Collection[str]) -> tuple[str, ...]:
    """The landmarks a length is taken from. Body length is taken on the flank the side
    camera sees: the left, or the right where only the right was found (a side camera on
    the other side of the chute); a goat's two flanks are alike."""
    need = REQUIRES[name]
    other = tuple(mirror_name(n) for n in need)
    if not all(n in have for n in need) and all(n in have for n in other):
        return other
    return need


def length_from_landmarks(name: str, lm: dict[str, np.ndarray]) -> float:
    """One length measurement; the floor of the chute is z = 0."""
    if name == "body_length_cm":  # point of shoulder to pin bone
        shoulder, pin = landmarks_for(name, lm)
        return float(np.linalg.norm(lm[shoulder] - lm[pin]))
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
