"""A calibrated pinhole camera with OpenCV's lens distortion, in the chute frame.

World frame (centimetres): origin on the chute floor, on the centre line, below the
front gate; x runs along the chute toward the front camera (the goat faces +x),
y runs across toward the side camera, z points up.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, eq=False)
class Lens:
    """A camera as geometry sees it: intrinsics (K, dist = k1 k2 p1 p2 k3, image size) and
    world-to-camera pose (R, t)."""

    name: str
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width_px: int
    height_px: int

    @property
    def center_cm(self) -> np.ndarray:
        return -self.R.T @ self.t

    @property
    def size_px(self) -> tuple[int, int]:
        return self.width_px, self.height_px

    def to_camera(self, points_cm: np.ndarray) -> np.ndarray:
        return np.asarray(points_cm, float).reshape(-1, 3) @ self.R.T + self.t

    def project(self, points_cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels (N, 2) through the distorted lens, and each point's depth along the optical axis."""
        pts = np.asarray(points_cm, float).reshape(-1, 3)
        depth_cm = self.to_camera(pts)[:, 2]
        rvec, _ = cv2.Rodrigues(self.R)
        px, _ = cv2.projectPoints(pts, rvec, self.t.astype(float), self.K, self.dist)
        return px.reshape(-1, 2), depth_cm

    def normalized(self, pixels: np.ndarray) -> np.ndarray:
        """Undistorted normalized image coordinates (x/z, y/z) of pixels, shape (N, 2)."""
        px = np.asarray(pixels, np.float64).reshape(-1, 1, 2)
        # The default 5 iterations leave ~0.05 px error at the image corners; 40 is exact to 1e-6.
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-10)
        return cv2.undistortPoints(px, self.K, self.dist, criteria=criteria).reshape(-1, 2)

    def rays(self, pixels: np.ndarray) -> np.ndarray:
        """Unit ray directions in the world frame, one per pixel, shape (N, 3)."""
        xy = self.normalized(pixels)
        d_cam = np.column_stack([xy, np.ones(len(xy))])
        d_world = d_cam @ self.R  # R.T @ d for each row
        return d_world / np.linalg.norm(d_world, axis=1, keepdims=True)

    def scaled(self, factor: float) -> Lens:
        """The same lens and pose at another resolution (distortion is in normalized units)."""
        K = self.K.copy()
        K[0, 0] *= factor
        K[1, 1] *= factor
        # Pixel centres sit at +0.5, so the principal point scales about -0.5.
        K[0, 2] = (K[0, 2] + 0.5) * factor - 0.5
        K[1, 2] = (K[1, 2] + 0.5) * factor - 0.5
        return Lens(
            self.name,
            K,
            self.dist.copy(),
            self.R.copy(),
            self.t.copy(),
            round(self.width_px * factor),
            round(self.height_px * factor),
        )


def look_at(
    name: str,
    eye_cm,
    target_cm,
    up=(0.0, 0.0, 1.0),
    *,
    focal_px: float,
    size_px=(1280, 960),
    dist=(0.0, 0.0, 0.0, 0.0, 0.0),
    principal_px=None,
) -> Lens:
    """A camera at eye_cm looking at target_cm, with image 'down' as close to -up as possible."""
    eye = np.asarray(eye_cm, float)
    forward = np.asarray(target_cm, float) - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.asarray(up, float))
    if np.linalg.norm(right) < 1e-9:
        raise ValueError(f"{name} camera: up vector is parallel to the viewing direction")
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])
    w, h = size_px
    cx, cy = principal_px if principal_px is not None else ((w - 1) / 2, (h - 1) / 2)
    K = np.array([[focal_px, 0, cx], [0, focal_px, cy], [0, 0, 1]], float)
    return Lens(name, K, np.asarray(dist, float), R, -R @ eye, int(w), int(h))


def pixel_ray_grid(camera: Lens) -> np.ndarray:
    """World ray direction through every pixel centre, shape (height, width, 3).

    Undistorting a full image takes about a second, so renderers compute it once per camera.
    """
    xs, ys = np.meshgrid(np.arange(camera.width_px, dtype=np.float64), np.arange(camera.height_px, dtype=np.float64))
    px = np.column_stack([xs.ravel(), ys.ravel()])
    return camera.rays(px).reshape(camera.height_px, camera.width_px, 3)
