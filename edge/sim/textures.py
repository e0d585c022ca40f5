"""Procedural texture tiles for the simulated chute: floors, walls, panels, rails, fur.

Each tile is a square (S, S, 3) float32 RGB image in [0, 1] that the renderer repeats
over a surface, one texel per `texel_cm`. Rows run along the surface's 'v' axis (height
on a wall), columns along 'u'. Tiles are made fresh for every capture from its own
random generator, so two captures never share a floor or a wall.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

TILE_PX = 256


_FREQ = np.fft.fftfreq(TILE_PX).astype(np.float32)


@lru_cache(maxsize=64)
def _gaussian_gain(sigma_u_px: float, sigma_v_px: float) -> np.ndarray:
    """Frequency response (S, S, 1) of a Gaussian blur; the sigmas used are a handful of constants."""
    gain = np.exp(-2 * np.pi**2 * ((_FREQ[:, None] * sigma_v_px) ** 2 + (_FREQ[None, :] * sigma_u_px) ** 2))
    gain = gain[..., None].astype(np.float32)
    gain.flags.writeable = False
    return gain


def _stretched_noise(rng: np.random.Generator, along_u_px: float, along_v_px: float) -> np.ndarray:
    """Smooth noise with zero mean and unit spread, blurred in the frequency domain so that
    it wraps around and tiles repeat without seams."""
    # Uniform draws are cheaper than normal ones, and the blur makes them Gaussian anyway.
    n = rng.random((TILE_PX, TILE_PX), dtype=np.float32)
    spectrum = cv2.dft(n, flags=cv2.DFT_COMPLEX_OUTPUT)
    spectrum *= _gaussian_gain(float(along_u_px), float(along_v_px))
    blurred = cv2.idft(spectrum, flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)
    return (blurred - blurred.mean()) / (blurred.std() + 1e-6)


def _noise(rng: np.random.Generator, sigma_px: float) -> np.ndarray:
    return _stretched_noise(rng, sigma_px, sigma_px)


def _tint(grey: np.ndarray, rgb) -> np.ndarray:
    return np.clip(grey[..., None] * np.asarray(rgb, np.float32), 0, 1).astype(np.float32)


def _vary(rng: np.random.Generator, rgb, amount: float = 0.12) -> np.ndarray:
    return np.clip(np.asarray(rgb, np.float32) * rng.uniform(1 - amount, 1 + amount, 3), 0, 1)


def concrete(rng: np.random.Generator) -> np.ndarray:
    base = _vary(rng, (0.56, 0.55, 0.52), 0.04) * rng.uniform(0.7, 1.2)
    g = 1 + 0.10 * _noise(rng, 8) + 0.05 * _noise(rng, 2) + 0.04 * _noise(rng, 0.6)
    stains = np.clip(_noise(rng, 18) - 1.2, 0, None)
    g -= 0.25 * stains
    return _tint(g, base)


def straw(rng: np.random.Generator) -> np.ndarray:
    """Loose straw: many short pale stalks over a dark dusty floor."""
    bg = _vary(rng, (0.30, 0.24, 0.14), 0.2)
    img = np.empty((TILE_PX, TILE_PX, 3), np.float32)
    img[:] = bg
    img *= (1 + 0.15 * _noise(rng, 4))[..., None]
    n = int(rng.integers(500, 900))
    starts = rng.uniform(0, TILE_PX, (n, 2))
    angles = rng.uniform(0, np.pi, n)
    lengths = rng.uniform(8, 40, n)
    ends = starts + lengths[:, None] * np.column_stack([np.cos(angles), np.sin(angles)])
    segments = np.stack([starts, ends], axis=1).astype(np.int32)  # (n, 2 points, xy)
    shade = rng.integers(0, 8, n)  # eight tones and two widths: few drawing calls
    width = rng.integers(1, 3, n)
    stalk = _vary(rng, (0.86, 0.74, 0.42), 0.1)
    for tone in range(8):
        for w in (1, 2):
            pick = (shade == tone) & (width == w)
            colour = tuple(float(c) for c in stalk * (0.55 + 0.45 * tone / 7))
            cv2.polylines(img, list(segments[pick]), False, colour, w, cv2.LINE_AA)
    return np.clip(img, 0, 1)


def rubber_mat(rng: np.random.Generator) -> np.ndarray:
    """Black rubber matting with a raised stud or diamond pattern and dust."""
    level = rng.uniform(0.07, 0.16)
    yy, xx = np.mgrid[0:TILE_PX, 0:TILE_PX].astype(np.float32)
    period = float(TILE_PX // int(rng.choice([8, 16])))
    if rng.random() < 0.5:
        pattern = np.cos(2 * np.pi * xx / period) * np.cos(2 * np.pi * yy / period)
    else:
        pattern = np.cos(2 * np.pi * (xx + yy) / period) + np.cos(2 * np.pi * (xx - yy) / period)
    g = level * (1 + 0.35 * np.clip(pattern, 0, None) + 0.15 * _noise(rng, 3))
    dust = np.clip(_noise(rng, 20) - 0.6, 0, None) * rng.uniform(0.05, 0.2)
    return np.clip(_tint(g, (1.0, 1.0, 1.02)) + dust[..., None] * np.asarray([0.6, 0.55, 0.45], np.float32), 0, 1)


def planks(rng: np.random.Generator, rgb=None) -> np.ndarray:
    """Horizontal boards with dark gaps, a tone per board and grain along the board."""
    rgb = _vary(rng, rgb if rgb is not None else (0.55, 0.40, 0.26), 0.2)
    board_px = int(rng.integers(28, 64))
    rows = np.arange(TILE_PX)
    board = rows // board_px
    tone = rng.uniform(0.8, 1.15, board.max() + 1)[board]
    g = tone[:, None] * (1 + 0.12 * _stretched_noise(rng, 24, 0.7) + 0.05 * _noise(rng, 1))
    gap = (rows % board_px) < 2
    g[gap] *= 0.35
    return _tint(g.astype(np.float32), rgb)


def plywood(rng: np.random.Generator) -> np.ndarray:
    rgb = _vary(rng, (0.72, 0.58, 0.40), 0.15)
    g = 1 + 0.10 * _stretched_noise(rng, 30, 1.5) + 0.06 * _noise(rng, 6)
    return _tint(g, rgb)


def metal(rng: np.random.Generator, rgb=None, corrugated: bool = False) -> np.ndarray:
    """Galvanised or painted steel; corrugated sheet has vertical ribs."""
    rgb = _vary(rng, rgb if rgb is not None else (0.62, 0.64, 0.66), 0.15)
    g = 1 + 0.05 * _noise(rng, 10) + 0.03 * _noise(rng, 1)
    if corrugated:
        cols = np.arange(TILE_PX, dtype=np.float32)
        g = g * (1 + 0.18 * np.sin(2 * np.pi * cols / rng.choice([16.0, 32.0])))[None, :]
    rust = np.clip(_noise(rng, 12) - 1.5, 0, None)
    out = _tint(g, rgb)
    return np.clip(
        out * (1 - 0.5 * rust[..., None]) + rust[..., None] * np.asarray([0.35, 0.16, 0.06], np.float32), 0, 1
    )


def blocks(rng: np.random.Generator) -> np.ndarray:
    """Painted concrete blocks with mortar lines, two blocks high per tile."""
    rgb = _vary(rng, (0.70, 0.70, 0.66), 0.2)
    g = 1 + 0.06 * _noise(rng, 3)
    rows, cols = np.mgrid[0:TILE_PX, 0:TILE_PX]
    course = rows // (TILE_PX // 4)
    mortar = (rows % (TILE_PX // 4) < 2) | (((cols + (course % 2) * TILE_PX // 4) % (TILE_PX // 2)) < 2)
    g[mortar] *= 0.7
    return _tint(g, rgb)


def plain(rng: np.random.Generator, amount: float = 0.06) -> np.ndarray:
    """White with gentle mottling; tinted per object (boxes, buckets)."""
    g = 1 + amount * _noise(rng, 6) + 0.5 * amount * _noise(rng, 1)
    return _tint(g, (1.0, 1.0, 1.0))


def fur(rng: np.random.Generator) -> np.ndarray:
    """Grey-level hair texture around 1, streaked along the tile's rows."""
    g = 1 + 0.07 * _stretched_noise(rng, 0.6, 3.0) + 0.05 * _noise(rng, 5)
    return g.astype(np.float32)


FLOORS = {"concrete": concrete, "straw": straw, "rubber_mat": rubber_mat}
