"""Cameras mounted other than the standard way, for trying the detector on them: turned
about their optical axis by quarter turns, placed on the other side of the chute, or
mounted somewhere else and aimed at the goat."""

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


def remounted(lens: Lens, eye_cm, target_cm) -> Lens:
    """The same camera and lens placed at eye_cm and aimed at target_cm, its image's up kept
    as near as it can be to where it pointed."""
    return look_at(
        lens.name,
        eye_cm,
        target_cm,
        up=tuple(-lens.R[1]),
        focal_px=float(lens.K[0, 0]),
        size_px=lens.size_px,
        dist=tuple(lens.dist),
    )


def moved_mountings(calibration: Calibration) -> dict[str, Calibration]:
    """Cameras mounted well off the places docs/calibration.md draws, beyond what the models
    learnt (edge/training/camera_jitter.py), each described by its calibration."""
    side, top, front = (calibration[v] for v in ("side", "top", "front"))
    x0 = float(side.center_cm[0])  # where the side and top cameras aim along the chute
    return {
        "side camera 25 cm higher and 15 cm nearer, looking down": with_camera(
            calibration, remounted(side, (x0, 115.0, 87.0), (x0, 0.0, 50.0))
        ),
        "top camera 25 cm off the centre line and 15 cm lower, tilted to it": with_camera(
            calibration, remounted(top, top.center_cm + (0.0, -25.0, -15.0), (top.center_cm[0], 0.0, 50.0))
        ),
        "front camera 25 cm higher and 20 cm to one side": with_camera(
            calibration, remounted(front, front.center_cm + (-15.0, 20.0, 25.0), (-40.0, 0.0, 55.0))
        ),
    }
