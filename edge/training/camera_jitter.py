"""Cameras as another farm would mount them: a few centimetres and a degree or two off the
nominal chute, with lenses a few per cent different. Training on several such variants
keeps a model from learning one installation's exact view."""

from __future__ import annotations

import functools

import numpy as np

from edge.geometry.calibration import Calibration, default_calibration
from edge.geometry.lens import Lens
from edge.sim.looks import nudged

CAMERA_VARIANTS = 8  # variant 0 is the nominal chute
MAX_TURN_DEG = 1.5
MAX_SHIFT_CM = 3.0
MAX_FOCAL_CHANGE = 0.03
MAX_K1_CHANGE = 0.02


def _jittered(camera: Lens, rng: np.random.Generator) -> Lens:
    moved = nudged(camera, rng, MAX_SHIFT_CM, MAX_TURN_DEG)
    moved.K[:2, :2] *= 1 + rng.uniform(-MAX_FOCAL_CHANGE, MAX_FOCAL_CHANGE)
    moved.dist[0] += rng.uniform(-MAX_K1_CHANGE, MAX_K1_CHANGE)
    return moved


@functools.lru_cache(maxsize=CAMERA_VARIANTS)
def camera_variant(variant: int) -> Calibration:
    base = default_calibration()
    if variant == 0:
        return base
    rng = np.random.default_rng([variant, 0xCA11])
    return Calibration({view: _jittered(cam, rng) for view, cam in base.cameras.items()})


def dataset_calibration(capture_seed: int) -> Calibration:
    """The cameras a dataset capture is rendered through, decided by its seed alone."""
    return camera_variant(capture_seed % CAMERA_VARIANTS)
