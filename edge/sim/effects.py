"""What a real camera does to a clean render: exposure, white balance, blur, noise, JPEG.

Every setting is drawn per image from the capture's generator so that a model trained on
simulated captures cannot lean on one exposure, one colour cast or one sharpness.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import cast

import cv2
import numpy as np

from edge.jpeg import decode_jpeg, encode_jpeg

JPEG_QUALITY_RANGE = (70, 95)


@dataclass(frozen=True)
class CameraLook:
    exposure: float
    white_balance: tuple[float, float, float]  # RGB gains
    gamma: float
    saturation: float
    vignette: float
    defocus_sigma_px: float
    motion_px: float  # length of the motion-blur streak; 0 for none
    motion_angle_deg: float
    read_noise: float
    shot_noise: float
    jpeg_quality: int


def sample_look(rng: np.random.Generator, scale: float = 1.0) -> CameraLook:
    """Blur lengths are drawn at full resolution and shrink with the image."""
    moving = rng.random() < 0.5
    return CameraLook(
        exposure=float(np.clip(np.exp(rng.normal(0.0, 0.25)), 0.55, 1.7)),
        white_balance=cast(tuple[float, float, float], tuple(float(g) for g in np.exp(rng.normal(0.0, 0.07, 3)))),
        gamma=float(rng.uniform(0.85, 1.15)),
        saturation=float(rng.uniform(0.75, 1.2)),
        vignette=float(rng.uniform(0.0, 0.35)),
        defocus_sigma_px=float(rng.uniform(0.3, 1.1) * scale),
        motion_px=float(rng.uniform(1.0, 7.0) * scale) if moving else 0.0,
        motion_angle_deg=float(rng.uniform(0, 180)),
        read_noise=float(rng.uniform(0.002, 0.02)),
        shot_noise=float(rng.uniform(0.0, 0.03)),
        jpeg_quality=int(rng.integers(JPEG_QUALITY_RANGE[0], JPEG_QUALITY_RANGE[1] + 1)),
    )


@lru_cache(maxsize=8)
def _radius2(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((x - (w - 1) / 2) ** 2 + (y - (h - 1) / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
    r2.flags.writeable = False
    return r2


def _motion_kernel(length_px: float, angle_deg: float) -> np.ndarray:
    """A streak length_px long, drawn at 4x with anti-aliasing and shrunk for sub-pixel lengths."""
    size = max(int(np.ceil(length_px)) | 1, 3)
    k = np.zeros((size * 4, size * 4), np.float32)
    c = (size * 4 - 1) / 2
    dx, dy = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    half = length_px * 2
    p0 = (int(round((c - dx * half) * 16)), int(round((c - dy * half) * 16)))
    p1 = (int(round((c + dx * half) * 16)), int(round((c + dy * half) * 16)))
    cv2.line(k, p0, p1, 1.0, 2, cv2.LINE_AA, shift=4)
    small = cv2.resize(k, (size, size), interpolation=cv2.INTER_AREA)
    return small / small.sum()


# Two uniform bytes summed give a triangular variable: near enough to Gaussian for sensor
# noise and ten times cheaper to draw. This is its standard deviation.
_TRIANGLE_STD = np.sqrt(2 * (256**2 - 1) / 12)


def apply_look(rgb: np.ndarray, look: CameraLook, rng: np.random.Generator) -> np.ndarray:
    """Float RGB render (h, w, 3) to the 8-bit BGR image the sensor would deliver."""
    h, w = rgb.shape[:2]
    s = look.saturation
    colour = (s * np.eye(3) + (1 - s) / 3) @ np.diag(look.exposure * np.asarray(look.white_balance))
    img = cv2.transform(rgb, colour[::-1].astype(np.float32))  # reversed rows: BGR out
    if look.vignette > 0:
        fall = 1 - np.float32(look.vignette) * _radius2(h, w)
        img = cv2.multiply(img, cv2.merge([fall, fall, fall]))
    if look.motion_px >= 0.5:
        img = cv2.filter2D(
            img, -1, _motion_kernel(look.motion_px, look.motion_angle_deg), borderType=cv2.BORDER_REFLECT
        )
    if look.defocus_sigma_px >= 0.2:
        img = cv2.GaussianBlur(img, (0, 0), look.defocus_sigma_px)
    out = cv2.multiply(img, (255.0, 255.0, 255.0, 0.0), dtype=cv2.CV_8U)
    level = np.arange(256) / 255
    out = cv2.LUT(out, np.round(255 * level**look.gamma).astype(np.uint8))
    sigma = np.sqrt(look.read_noise**2 + look.shot_noise**2 * level) * 255 / _TRIANGLE_STD
    noise = cv2.add(
        rng.integers(0, 256, out.shape, np.uint8), rng.integers(0, 256, out.shape, np.uint8), dtype=cv2.CV_32F
    )
    noise -= 255
    noise *= cv2.LUT(out, sigma.astype(np.float32))
    return cv2.add(out, noise, dtype=cv2.CV_8U)


def finish_image(
    rgb: np.ndarray, rng: np.random.Generator, scale: float = 1.0, smudge_rng: np.random.Generator | None = None
) -> tuple[bytes, np.ndarray]:
    """The JPEG a camera would send for this render, and exactly what decoding it gives;
    with smudge_rng, through a smudged lens drawn from it."""
    look = sample_look(rng, scale)
    bgr = apply_look(rgb, look, rng)
    if smudge_rng is not None:
        bgr = smudge(bgr, smudge_rng)
    jpeg = encode_jpeg(bgr, look.jpeg_quality)
    return jpeg, decode_jpeg(jpeg)


def smudge(bgr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A greasy fingerprint or dust on the lens: a soft patch of the photo blurred and hazed."""
    h, w = bgr.shape[:2]
    centre = (rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h)
    axes = (rng.uniform(0.08, 0.25) * w, rng.uniform(0.08, 0.25) * h)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r2 = ((x - centre[0]) / axes[0]) ** 2 + ((y - centre[1]) / axes[1]) ** 2
    weight = (np.exp(-r2) * rng.uniform(0.5, 0.9))[..., None]
    blurred = cv2.GaussianBlur(bgr, (0, 0), rng.uniform(0.006, 0.015) * w).astype(np.float32)
    hazed = 0.75 * blurred + 0.25 * rng.uniform(150, 220)
    return (bgr * (1 - weight) + hazed * weight).clip(0, 255).astype(np.uint8)
