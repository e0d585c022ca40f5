"""The simulated chute as a camera: each shot renders one goat through this view's lens.

The goat depends only on the seed, so three SimulatedCameras given the same shot (and the
same seed base) show the same animal from three sides, as real cameras would. The
renderer is imported when a simulated camera is made, so a daemon with real cameras
never loads it.
"""

from __future__ import annotations

from typing import cast

from edge.camera.base import Camera, CameraError, Frame, frame_from_jpeg, now_utc
from edge.geometry.calibration import default_calibration


def _scale_for(view: str, size_px: tuple[int, int]) -> float:
    """The render scale giving exactly size_px from the simulated chute's lens."""
    width, height = default_calibration()[view].size_px
    scale = size_px[0] / width
    if round(width * scale) != size_px[0] or round(height * scale) != size_px[1]:
        raise CameraError(
            f"{view} camera (simulated) renders {width}x{height} pictures or a scale of them; "
            f"the calibrated size {size_px[0]}x{size_px[1]} is not one (keep the {width}:{height} shape)"
        )
    return scale


class SimulatedCamera(Camera):
    def __init__(self, view: str, size_px: tuple[int, int], *, seed: int | None = None, seed_base: int = 0):
        """seed: the same goat every shot; None: seed_base + shot, a new goat each shot."""
        from edge.sim.capture import simulate_capture

        self._simulate = simulate_capture
        self.view = view
        self.size_px = cast(tuple[int, int], tuple(size_px))
        self.seed = seed
        self.seed_base = seed_base
        self._scale = _scale_for(view, self.size_px)

    def seed_for(self, shot: int) -> int:
        return self.seed if self.seed is not None else self.seed_base + shot

    def capture(self, shot: int) -> Frame:
        seed = self.seed_for(shot)
        if seed < 0:
            raise CameraError(f"{self.view} camera (simulated): shot {shot} gives a negative seed {seed}")
        rendered = self._simulate(seed, scale=self._scale, views=(self.view,))
        # The simulator's own JPEG, untouched, so a frame equals `goat-edge simulate --seed` output.
        return frame_from_jpeg(self.view, rendered.jpegs[self.view], self.size_px, now_utc())
