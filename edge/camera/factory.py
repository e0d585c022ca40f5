"""Config -> camera: one place that knows the backends, like gpiozero's pin factories."""

from __future__ import annotations

from typing import Protocol

from edge.camera.base import Camera, CameraError
from edge.camera.opencv_backend import OpenCVCamera
from edge.camera.picamera2_backend import Picamera2Camera
from edge.camera.replay import ReplayCamera
from edge.camera.simulated import SimulatedCamera
from edge.config import CameraConfig
from edge.keypoints import VIEWS


class CameraFactory(Protocol):
    def __call__(
        self, view: str, camera_config: CameraConfig, *, size_px: tuple[int, int], sim_seed_base: int
    ) -> Camera: ...


def make_camera(view: str, camera_config: CameraConfig, *, size_px: tuple[int, int], sim_seed_base: int) -> Camera:
    """An unopened camera for `view`, of the backend its config names.

    size_px is the calibrated (width, height) every picture must have; sim_seed_base is
    the rig's, shared by its three views so a simulated shot shows one goat in all three.
    """
    if view not in VIEWS:
        raise CameraError(f"unknown camera view {view!r}; expected one of {', '.join(VIEWS)}")
    cfg = camera_config
    if cfg.backend == "simulated":
        return SimulatedCamera(view, size_px, seed=cfg.seed, seed_base=sim_seed_base)
    if cfg.backend == "picamera2":
        return Picamera2Camera(
            view, size_px, camera_num=cfg.camera_num, camera_id=cfg.camera_id, jpeg_quality=cfg.jpeg_quality
        )
    if cfg.backend == "opencv":
        return OpenCVCamera(view, cfg.device, size_px, cfg.jpeg_quality)
    if cfg.backend == "replay":
        assert cfg.folder is not None  # CameraConfig's validator requires it for replay
        return ReplayCamera(view, cfg.folder, size_px)
    raise CameraError(f"{view} camera: unknown backend {cfg.backend!r}")
