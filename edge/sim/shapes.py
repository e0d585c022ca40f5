"""Solids the simulated goat and chute are built from, with vectorised ray intersection.

Every shape answers four questions for many rays or points at once: where a ray first
hits it (`intersect`), the outward surface normal at a point (`normal`), whether points
lie inside (`contains`), and its axis-aligned bounds (`bounds`). Rays are given as
origins (3,) or (N, 3) and unit directions (N, 3); a miss is +inf.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from edge.sim.scene import Quad

_EPS = 1e-6


def _first_positive(t_near: np.ndarray, t_far: np.ndarray) -> np.ndarray:
    """The nearest root in front of the origin, so rays starting inside still hit the far wall."""
    return np.where(t_near > _EPS, t_near, np.where(t_far > _EPS, t_far, np.inf))


@dataclass(frozen=True, eq=False)
class Ellipsoid:
    center: np.ndarray  # (3,)
    axes: np.ndarray  # (3, 3): columns are the local x, y, z axes in the world
    radii: np.ndarray  # (3,)

    def _local(self, points: np.ndarray) -> np.ndarray:
        return (points - self.center) @ self.axes

    def intersect(self, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        o = self._local(np.asarray(origins, float)) / self.radii
        d = (dirs @ self.axes) / self.radii
        a = np.einsum("ij,ij->i", d, d)
        b = np.einsum("...j,...j->...", o, d) if o.ndim == 2 else d @ o
        c = (np.einsum("ij,ij->i", o, o) if o.ndim == 2 else o @ o) - 1.0
        disc = b * b - a * c
        hit = disc >= 0
        root = np.sqrt(np.where(hit, disc, 0.0))
        t = _first_positive((-b - root) / a, (-b + root) / a)
        return np.where(hit, t, np.inf)

    def normal(self, points: np.ndarray) -> np.ndarray:
        n = (self._local(points) / self.radii**2) @ self.axes.T
        return n / np.linalg.norm(n, axis=-1, keepdims=True)

    def contains(self, points: np.ndarray) -> np.ndarray:
        q = self._local(points) / self.radii
        return np.einsum("...j,...j->...", q, q) <= 1.0

    def surface_point(self, direction_local) -> np.ndarray:
        """The surface point along a direction given in the ellipsoid's own unit frame."""
        u = np.asarray(direction_local, float)
        u = u / np.linalg.norm(u)
        return self.center + self.axes @ (self.radii * u)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        half = np.sqrt(((self.axes * self.radii) ** 2).sum(axis=1))
        return self.center - half, self.center + half


@dataclass(frozen=True, eq=False)
class Capsule:
    a: np.ndarray  # (3,) segment start
    b: np.ndarray  # (3,) segment end
    radius: float

    def intersect(self, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        # Inigo Quilez's ray-capsule intersection, vectorised.
        ro = np.broadcast_to(np.asarray(origins, float), dirs.shape)
        ba = self.b - self.a
        oa = ro - self.a
        baba = ba @ ba
        bard = dirs @ ba
        baoa = oa @ ba
        rdoa = np.einsum("ij,ij->i", dirs, oa)
        oaoa = np.einsum("ij,ij->i", oa, oa)
        r2 = self.radius**2
        A = baba - bard * bard
        B = baba * rdoa - baoa * bard
        C = baba * oaoa - baoa * baoa - r2 * baba
        h = B * B - A * C
        t = np.full(len(dirs), np.inf)
        ok = (h >= 0) & (A > 1e-12)
        t_body = np.where(ok, (-B - np.sqrt(np.where(ok, h, 0))) / np.where(ok, A, 1), np.inf)
        y = baoa + t_body * bard
        body_hit = ok & (y > 0) & (y < baba) & (t_body > _EPS)
        t[body_hit] = t_body[body_hit]
        # Otherwise the ray may hit one of the two hemispherical caps.
        rest = ~body_hit & (h >= 0)
        if rest.any():
            for centre in (self.a, self.b):
                oc = ro[rest] - centre
                bb = np.einsum("ij,ij->i", dirs[rest], oc)
                cc = np.einsum("ij,ij->i", oc, oc) - r2
                hh = bb * bb - cc
                tc = np.where(hh >= 0, -bb - np.sqrt(np.where(hh >= 0, hh, 0)), np.inf)
                tc = np.where(tc > _EPS, tc, np.inf)
                t[rest] = np.minimum(t[rest], tc)
        return t

    def _closest_on_axis(self, points: np.ndarray) -> np.ndarray:
        ba = self.b - self.a
        s = np.clip(((points - self.a) @ ba) / (ba @ ba), 0.0, 1.0)
        return self.a + s[..., None] * ba

    def normal(self, points: np.ndarray) -> np.ndarray:
        n = points - self._closest_on_axis(points)
        return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)

    def contains(self, points: np.ndarray) -> np.ndarray:
        return np.linalg.norm(points - self._closest_on_axis(points), axis=-1) <= self.radius

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo = np.minimum(self.a, self.b) - self.radius
        hi = np.maximum(self.a, self.b) + self.radius
        return lo, hi


@dataclass(frozen=True, eq=False)
class Box:
    """An axis-aligned box: chute panels, rails, posts, clutter, the calibration board."""

    lo: np.ndarray
    hi: np.ndarray

    def intersect(self, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        o = np.broadcast_to(np.asarray(origins, float), dirs.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / dirs
            t1 = (self.lo - o) * inv
            t2 = (self.hi - o) * inv
        t1 = np.nan_to_num(t1, nan=-np.inf)
        t2 = np.nan_to_num(t2, nan=np.inf)
        t_near = np.minimum(t1, t2).max(axis=1)
        t_far = np.maximum(t1, t2).min(axis=1)
        hit = t_far >= np.maximum(t_near, 0)
        return np.where(hit, _first_positive(t_near, t_far), np.inf)

    def normal(self, points: np.ndarray) -> np.ndarray:
        centre = (self.lo + self.hi) / 2
        half = (self.hi - self.lo) / 2
        q = (points - centre) / half
        axis = np.abs(q).argmax(axis=-1)
        n = np.zeros_like(q)
        np.put_along_axis(n, axis[..., None], np.sign(np.take_along_axis(q, axis[..., None], -1)), -1)
        return n

    def contains(self, points: np.ndarray) -> np.ndarray:
        return np.all((points >= self.lo) & (points <= self.hi), axis=-1)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.lo, self.hi


Shape = Ellipsoid | Capsule | Box


def first_hit(shapes: list[Shape | Quad] | tuple[Shape | Quad, ...], origins: np.ndarray, dirs: np.ndarray):
    """Distance to the nearest shape along each ray, and that shape's index (-1 for none)."""
    t_best = np.full(len(dirs), np.inf)
    index = np.full(len(dirs), -1)
    for i, shape in enumerate(shapes):
        t = shape.intersect(origins, dirs)
        closer = t < t_best
        t_best[closer] = t[closer]
        index[closer] = i
    return t_best, index


def rotation_z(angle_rad: float) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_y(angle_rad: float) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotation_x(angle_rad: float) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
