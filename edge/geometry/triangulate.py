"""Rays, triangulation and plane constraints: from pixels in three views to 3D points (cm)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.geometry.lens import Lens


class GeometryError(ValueError):
    """The views describe no possible point: behind a camera, parallel rays, disagreeing views."""


@dataclass(frozen=True)
class Ray:
    view: str
    pixel: np.ndarray  # where the view saw the landmark
    origin_cm: np.ndarray
    direction: np.ndarray  # unit
    # Unit 3D direction, square to the ray, in which the view placed the landmark precisely
    # (a keypoint on the outline, across it); None when it is equally sure in all of them.
    precise_cm: np.ndarray | None = None


@dataclass(frozen=True)
class Plane:
    """Points x with normal . x = offset_cm."""

    normal: np.ndarray
    offset_cm: float

    @staticmethod
    def horizontal(z_cm: float) -> Plane:
        return Plane(np.array([0.0, 0.0, 1.0]), float(z_cm))

    @staticmethod
    def vertical_through(a_cm: np.ndarray, b_cm: np.ndarray) -> Plane:
        """The vertical plane containing two points: the animal's midsagittal plane."""
        along = np.array([b_cm[0] - a_cm[0], b_cm[1] - a_cm[1], 0.0])
        length = np.linalg.norm(along)
        if length < 1.0:
            raise GeometryError("the two midline points are less than 1 cm apart along the floor")
        normal = np.array([-along[1], along[0], 0.0]) / length
        return Plane(normal, float(normal @ a_cm))


def pixel_ray(camera: Lens, x_px: float, y_px: float, precise_px: tuple[float, float] | None = None) -> Ray:
    """The ray through a pixel; precise_px, an image direction the pixel is sure along,
    becomes the 3D direction a pixel step that way turns the ray."""
    pixel = np.array([x_px, y_px], float)
    if precise_px is None:
        return Ray(camera.name, pixel, camera.center_cm, camera.rays(pixel[None])[0])
    direction, stepped = camera.rays(np.stack([pixel, pixel + precise_px]))
    turn = stepped - (stepped @ direction) * direction
    return Ray(camera.name, pixel, camera.center_cm, direction, turn / np.linalg.norm(turn))


def _check_in_front(camera: Lens, point_cm: np.ndarray, what: str) -> None:
    if camera.to_camera(point_cm)[0, 2] <= 0:
        raise GeometryError(f"{what} would lie behind the {camera.name} camera")


def _nearest_point(rays: list[Ray], what: str, precise_weight: float) -> np.ndarray:
    """Least squares over the rays' distances; the precise direction counts precise_weight times."""
    A = np.zeros((3, 3))
    b = np.zeros(3)
    for ray in rays:
        P = np.eye(3) - np.outer(ray.direction, ray.direction)
        if ray.precise_cm is not None:
            P += (precise_weight - 1.0) * np.outer(ray.precise_cm, ray.precise_cm)
        A += P
        b += P @ ray.origin_cm
    if np.linalg.cond(A) > 1e6:
        raise GeometryError(f"{what}: the views' rays are nearly parallel")
    return np.linalg.solve(A, b)


def triangulate(
    rays: list[Ray], cameras: dict[str, Lens], what: str, max_residual_px: float, precise_weight: float = 1.0
) -> np.ndarray:
    """The point nearest to all rays, checked against every view.

    Raises GeometryError when the rays are nearly parallel, the point lies behind a
    camera, or the views disagree: the point nearest to all rays, each counted alike,
    reprojects further than max_residual_px from an observation. Where they agree, a
    ray's distance in its precise direction counts precise_weight times, so a view that
    placed the landmark precisely one way decides that way. The agreement test stays the
    equal one: weighted, the less precise view would carry the whole disagreement alone.
    """
    point = _nearest_point(rays, what, 1.0)
    for ray in rays:
        camera = cameras[ray.view]
        _check_in_front(camera, point, what)
        reprojected_px, _ = camera.project(point)
        residual_px = float(np.linalg.norm(ray.pixel - reprojected_px[0]))
        if residual_px > max_residual_px:
            raise GeometryError(f"{what}: the {ray.view} view disagrees with the others by {residual_px:.0f} px")
    if precise_weight == 1.0 or all(ray.precise_cm is None for ray in rays):
        return point
    point = _nearest_point(rays, what, precise_weight)
    for ray in rays:
        _check_in_front(cameras[ray.view], point, what)
    return point


def intersect_plane(ray: Ray, plane: Plane, camera: Lens, what: str, min_angle_deg: float = 15.0) -> np.ndarray:
    """Where a ray meets a plane; refuses grazing rays whose depth would be unreliable."""
    cos_to_normal = float(abs(plane.normal @ ray.direction))
    if cos_to_normal < np.sin(np.radians(min_angle_deg)):
        raise GeometryError(f"{what}: the {ray.view} ray runs almost along the constraint plane")
    s = (plane.offset_cm - plane.normal @ ray.origin_cm) / (plane.normal @ ray.direction)
    if s <= 0:
        raise GeometryError(f"{what} would lie behind the {camera.name} camera")
    return ray.origin_cm + s * ray.direction
