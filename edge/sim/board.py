"""Photograph the calibration board through a camera's true lens, for tests and dry runs.

Each pixel's ray (pixel_ray_grid) is intersected with the board plane and the printed board
is looked up bilinearly. Aliased edges bias sub-pixel corner positions by ~0.15 px, so the
printed board is first low-passed to the spacing of the rays where they land on it (as
mip-mapping does) and the image is rendered at SUPERSAMPLE x the camera's resolution and
area-averaged down.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edge.calibrate.board import BoardSpec
from edge.geometry.lens import Lens, pixel_ray_grid
from edge.jpeg import decode_jpeg, encode_jpeg

SUPERSAMPLE = 2
BOARD_PX_PER_CM = 20.0  # finer than any camera sees the board at chute distances
BOARD_MARGIN_CM = 3.0  # white border of the foam board around the square grid
JPEG_QUALITY = 92

_RAY_CACHE: dict[tuple, np.ndarray] = {}
_RAY_CACHE_SIZE = 4


def _camera_key(camera: Lens) -> tuple:
    return (
        camera.K.tobytes(),
        camera.dist.tobytes(),
        camera.R.tobytes(),
        camera.t.tobytes(),
        camera.width_px,
        camera.height_px,
    )


def supersampled_rays(camera: Lens) -> np.ndarray:
    """World rays of the supersampled image, (H*S, W*S, 3) float32; cached per camera."""
    key = _camera_key(camera)
    if key not in _RAY_CACHE:
        if len(_RAY_CACHE) >= _RAY_CACHE_SIZE:
            _RAY_CACHE.pop(next(iter(_RAY_CACHE)))
        _RAY_CACHE[key] = pixel_ray_grid(camera.scaled(SUPERSAMPLE)).astype(np.float32)
    return _RAY_CACHE[key]


@dataclass(frozen=True)
class Lighting:
    """How a photo looks apart from the board's geometry; drawn at random per photo."""

    black: float  # grey level of the printed black
    white: float  # grey level of the printed white
    background: tuple[float, float, float]  # grey level at the image centre, gradient per px x, y
    blur_sigma_px: float
    noise_sigma: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> Lighting:
        level = rng.uniform(60, 200)
        gradient = rng.uniform(-0.08, 0.08, size=2) * (rng.random() < 0.6)
        return cls(
            black=rng.uniform(15, 55),
            white=rng.uniform(175, 240),
            background=(level, *gradient),
            blur_sigma_px=rng.uniform(0.3, 0.8),
            noise_sigma=rng.uniform(1.0, 3.0),
        )


def _texture(camera: Lens, board: BoardSpec, R_bw: np.ndarray, t_bw: np.ndarray) -> np.ndarray:
    """The printed board (0..1), blurred to the coarsest spacing of the rays that land on it."""
    corners = (
        np.array([[0, 0, 0], [board.width_cm, 0, 0], [0, board.height_cm, 0], [board.width_cm, board.height_cm, 0]])
        @ np.asarray(R_bw).T
        + t_bw
    )
    to_centre = corners.mean(axis=0) - camera.center_cm
    cos_tilt = abs(np.asarray(R_bw)[:, 2] @ to_centre) / np.linalg.norm(to_centre)
    focal_px = (camera.K[0, 0] + camera.K[1, 1]) / 2 * SUPERSAMPLE
    spacing_cm = camera.to_camera(corners)[:, 2].max() / focal_px / max(cos_tilt, 0.3)
    # At 1.5 sample spacings (0.75 px in the photo, a lens-like softness) corner residuals
    # fall to ~0.02 px; at 0.6 they stay near 0.06 px in the top view.
    sigma_texels = 1.5 * spacing_cm * BOARD_PX_PER_CM
    printed = board.image(BOARD_PX_PER_CM, BOARD_MARGIN_CM).astype(np.float32) / 255.0
    return cv2.GaussianBlur(printed, (0, 0), sigma_texels) if sigma_texels > 0.5 else printed


def _board_coverage(
    camera: Lens, board: BoardSpec, R_bw: np.ndarray, t_bw: np.ndarray, image: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The printed board's grey (0..1) and its coverage (0..1) at every supersampled pixel."""
    rays = supersampled_rays(camera)
    R = np.asarray(R_bw, np.float32)
    d = rays @ R  # ray directions in the board frame
    c = R.T @ (camera.center_cm - np.asarray(t_bw, float)).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = -c[2] / d[..., 2]
    hit = np.isfinite(s) & (s > 0)
    s = np.where(hit, s, 0)
    offset = BOARD_MARGIN_CM * BOARD_PX_PER_CM - 0.5
    map_x = np.where(hit, (c[0] + s * d[..., 0]) * BOARD_PX_PER_CM + offset, -10.0)
    map_y = np.where(hit, (c[1] + s * d[..., 1]) * BOARD_PX_PER_CM + offset, -10.0)
    map_x = np.clip(map_x, -10, 30000).astype(np.float32)
    map_y = np.clip(map_y, -10, 30000).astype(np.float32)
    grey = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    ones = np.ones(image.shape, np.float32)
    coverage = cv2.remap(ones, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return grey, coverage


def render_board_image(
    camera: Lens,
    board: BoardSpec,
    R_bw: np.ndarray,
    t_bw: np.ndarray,
    rng: np.random.Generator,
    lighting: Lighting | None = None,
) -> np.ndarray:
    """A grey image (uint8, height x width) of the board at pose x_world = R_bw x_board + t_bw,
    before the camera's JPEG compression."""
    lighting = lighting or Lighting.random(rng)
    printed = _texture(camera, board, R_bw, t_bw)
    grey, coverage = _board_coverage(camera, board, R_bw, t_bw, printed)
    h, w = coverage.shape
    level, gx, gy = lighting.background
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) / SUPERSAMPLE
    background = level + gx * (xs - camera.width_px / 2) + gy * (ys - camera.height_px / 2)
    board_grey = lighting.black + (lighting.white - lighting.black) * grey
    big = coverage * board_grey + (1 - coverage) * background
    photo = cv2.resize(big, camera.size_px, interpolation=cv2.INTER_AREA)
    photo = cv2.GaussianBlur(photo, (0, 0), lighting.blur_sigma_px)
    photo += rng.normal(0, lighting.noise_sigma, photo.shape).astype(np.float32)
    return np.clip(photo + 0.5, 0, 255).astype(np.uint8)


def render_board_photo(
    camera: Lens,
    board: BoardSpec,
    R_bw: np.ndarray,
    t_bw: np.ndarray,
    rng: np.random.Generator,
    lighting: Lighting | None = None,
) -> np.ndarray:
    """The board photographed: render_board_image through JPEG, like a camera's file."""
    return jpeg_roundtrip(render_board_image(camera, board, R_bw, t_bw, rng, lighting))


def jpeg_roundtrip(photo: np.ndarray) -> np.ndarray:
    return decode_jpeg(encode_jpeg(photo, JPEG_QUALITY), colour=False)
