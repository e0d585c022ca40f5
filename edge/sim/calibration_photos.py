"""A simulated calibration photo set: what a technician would shoot, rendered from true cameras.

For each camera: photos of the board held at random places and tilts (up to MAX_TILT_DEG),
wholly in view, plus the reference photos with the board at the camera's standard positions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.calibrate.board import BoardSpec
from edge.calibrate.positions import STANDARD_POSITIONS
from edge.geometry.calibration import Calibration
from edge.geometry.lens import Lens
from edge.jpeg import encode_jpeg
from edge.keypoints import VIEWS
from edge.sim.board import JPEG_QUALITY, render_board_image

MAX_TILT_DEG = 35.0
EDGE_MARGIN_PX = 15  # keep the whole board this far inside the picture
FILL = (0.4, 0.85)  # the board's long side spans this much of the picture's height


def _rotation(axis: np.ndarray, angle_rad: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle_rad) * k + (1 - np.cos(angle_rad)) * (k @ k)


def _corners_in_view(camera: Lens, board: BoardSpec, R_bw: np.ndarray, t_bw: np.ndarray) -> bool:
    w, h = board.width_cm, board.height_cm
    # The outline sampled along each edge: lens distortion bends straight edges.
    s = np.linspace(0, 1, 9)[:, None]
    outline = np.vstack(
        [
            np.hstack([s * w, 0 * s, 0 * s]),
            np.hstack([s * w, 0 * s + h, 0 * s]),
            np.hstack([0 * s, s * h, 0 * s]),
            np.hstack([0 * s + w, s * h, 0 * s]),
        ]
    )
    px, depth = camera.project(outline @ R_bw.T + t_bw)
    m = EDGE_MARGIN_PX
    inside = (px > m) & (px < np.array(camera.size_px) - m)
    return bool(np.all(depth > 0) and np.all(inside))


def random_board_pose(camera: Lens, board: BoardSpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A board pose (R_bw, t_bw) wholly in view, facing the camera, tilted up to MAX_TILT_DEG.

    The board is held so that its long side spans FILL of the picture's height, with its
    centre anywhere in the middle of the picture, so the set covers the image and the tilts
    constrain the focal length.
    """
    K_inv = np.linalg.inv(camera.K)
    half = np.array([board.width_cm / 2, board.height_cm / 2, 0.0])
    long_side_px = camera.K[1, 1] * max(board.width_cm, board.height_cm)
    for _ in range(1000):
        u = rng.uniform(0.2, 0.8) * camera.width_px
        v = rng.uniform(0.2, 0.8) * camera.height_px
        depth = long_side_px / (rng.uniform(*FILL) * camera.height_px)
        centre_cam = K_inv @ np.array([u, v, 1.0]) * depth
        in_plane = _rotation(np.array([0, 0, 1.0]), np.radians(rng.uniform(-30, 30)))
        tilt_axis = np.array([*rng.normal(size=2), 0.0])
        tilt = _rotation(tilt_axis, np.radians(rng.uniform(5, MAX_TILT_DEG)))
        R_bc = tilt @ in_plane  # board axes in the camera frame; w points away from the camera
        R_bw = camera.R.T @ R_bc
        t_bw = camera.R.T @ (centre_cam - camera.t) - R_bw @ half
        if _corners_in_view(camera, board, R_bw, t_bw):
            return R_bw, t_bw
    raise ValueError(f"{camera.name} camera: found no board pose wholly in view")


def write_photo_set(
    calibration: Calibration,
    out_dir: str | Path,
    *,
    board: BoardSpec = BoardSpec(),
    photos_per_camera: int = 15,
    seed: int = 0,
    views: tuple[str, ...] = VIEWS,
) -> dict[str, list[Path]]:
    """Render out_dir/<view>/photo_NN.jpg and the view's reference photos, for each view."""
    out_dir = Path(out_dir)
    written: dict[str, list[Path]] = {}
    for index, view in enumerate(views):
        camera = calibration[view]
        rng = np.random.default_rng([seed, index])
        folder = out_dir / view
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for n in range(photos_per_camera):
            R_bw, t_bw = random_board_pose(camera, board, rng)
            paths.append(folder / f"photo_{n:02d}.jpg")
            paths[-1].write_bytes(encode_jpeg(render_board_image(camera, board, R_bw, t_bw, rng), JPEG_QUALITY))
        for position in STANDARD_POSITIONS[view]:
            R_bw, t_bw = position.pose(board)
            paths.append(folder / f"{position.photo}.jpg")
            paths[-1].write_bytes(encode_jpeg(render_board_image(camera, board, R_bw, t_bw, rng), JPEG_QUALITY))
        written[view] = paths
    return written
