"""Rays, triangulation and plane constraints: from pixels in three views to 3D points (cm)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.geometry.camera import Camera


class GeometryError(ValueError):
    """The views describe no possible point: behind a camera, parallel rays, disagreeing views."""


@dataclass(frozen=True)
class Ray:
    view: str
    pixel: np.ndarray  # where the view saw the landmark
    origin_cm: np.ndarray
    direction: np.ndarray  # unit


@dataclass(frozen=True)
class Plane:
    """Points x with normal . x = offset_cm."""

    normal: np.ndarray
    offset_cm: float

    @staticmethod
    def horizontal(z_cm: float) -> "Plane":
        return Plane(np.array([0.0, 0.0, 1.0]), float(z_cm))

    @staticmethod
    def vertical_through(a_cm: np.ndarray, b_cm: np.ndarray) -> "Plane":
        """The vertical plane containing two points: the animal's midsagittal plane."""
        along = np.array([b_cm[0] - a_cm[0], b_cm[1] - a_cm[1], 0.0])
        length = np.linalg.norm(along)
        if length < 1.0:
            raise GeometryError("the two midline points are less than 1 cm apart along the floor")
        normal = np.array([-along[1], along[0], 0.0]) / length
        return Plane(normal, float(normal @ a_cm))


def pixel_ray(camera: Camera, x_px: float, y_px: float) -> Ray:
    pixel = np.array([x_px, y_px], float)
    return Ray(camera.name, pixel, camera.center_cm, camera.rays(pixel[None])[0])


def _check_in_front(camera: Camera, point_cm: np.ndarray, what: str) -> None:
    if camera.to_camera(point_cm)[0, 2] <= 0:
        raise GeometryError(f"{what} would lie behind the {camera.name} camera")


def triangulate(rays: list[Ray], cameras: dict[str, Camera], what: str,
                max_residual_px: float) -> np.ndarray:
    """The point nearest to all rays (least squares), checked against every view.

    Raises GeometryError when the rays are nearly parallel, the point lies behind a
    camera, or it reprojects further than max_residual_px from any observation, which
    means the views saw different things.
    """
    A = np.zeros((3, 3))
    b = np.zeros(3)
    for ray in rays:
        P = np.eye(3) - np.outer(ray.direction, ray.direction)
        A += P
        b += P @ ray.origin_cm
    if np.linalg.cond(A) > 1e6:
        raise GeometryError(f"{what}: the views' rays are nearly parallel")
    point = np.linalg.solve(A, b)
    for ray in rays:
        camera = cameras[ray.view]
        _check_in_front(camera, point, what)
        reprojected_px, _ = camera.project(point)
        residual_px = float(np.linalg.norm(ray.pixel - reprojected_px[0]))
        if residual_px > max_residual_px:
            raise GeometryError(f"{what}: the {ray.view} view disagrees with the others "
                                f"by {residual_px:.0f} px")
    return point


def intersect_plane(ray: Ray, plane: Plane, camera: Camera, what: str,
                    min_angle_deg: float = 15.0) -> np.ndarray:
    """Where a ray meets a plane; refuses grazing rays whose depth would be unreliable."""
    cos_to_normal = float(abs(plane.normal @ ray.direction))
    if cos_to_normal < np.sin(np.radians(min_angle_deg)):
        raise GeometryError(f"{what}: the {ray.view} ray runs almost along the constraint plane")
    s = (plane.offset_cm - plane.normal @ ray.origin_cm) / (plane.normal @ ray.direction)
    if s <= 0:
        raise GeometryError(f"{what} would lie behind the {camera.name} camera")
    return ray.origin_cm + s * ray.direction
