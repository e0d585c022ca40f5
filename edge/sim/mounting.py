"""Cameras mounted other than the standard way, for trying the detector on them: turned
about their optical axis by quarter turns, or placed on the other side of the chute."""

from __future__ import annotations

import numpy as np

from edge.geometry.calibration import Calibration
from edge.geometry.lens import Lens, look_at


def turned(lens: Lens, quarter_turns: int) -> Lens:
    """The same camera turned about its optical axis, so that its photo (the same size)
    needs `quarter_turns` clockwise quarter turns to look as the unturned camera's does."""
    right, down, forward = lens.R
    axes = {0: (right, down), 1: (down, -right), 2: (-right, -down), 3: (-down, right)}[quarter_turns % 4]
    R = np.stack([*axes, forward])
    return Lens(lens.name, lens.K.copy(), lens.dist.copy(), R, -R @ lens.center_cm, lens.width_px, lens.height_px)


def across_the_chute(lens: Lens) -> Lens:
    """The camera mirrored across the chute's centre line (y -> -y), looking back at it:
    for the side camera, the other side of the chute (render with mirrored_chute=True, so
    that the chute's open side faces it)."""
    flip = np.array([1.0, -1.0, 1.0])
    eye = lens.center_cm * flip
    return look_at(
        lens.name,
        eye,
        eye + lens.R[2] * flip,
        focal_px=float(lens.K[0, 0]),
        size_px=lens.size_px,
        dist=tuple(lens.dist),
    )


def with_camera(calibration: Calibration, lens: Lens) -> Calibration:
    """The calibration with one camera replaced."""
    return Calibration({**calibration.cameras, lens.name: lens})
