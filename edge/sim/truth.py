"""Ground truth of a simulated goat, computed from its 3D model: measurements, keypoints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from edge.geometry.calibration import Calibration
from edge.geometry.lens import Lens
from edge.keypoints import VIEW_KEYPOINTS, Keypoint, ViewKeypoints
from edge.measurements import LENGTHS, length_from_landmarks
from edge.sim.goat import Goat
from edge.sim.shapes import Shape, first_hit

if TYPE_CHECKING:
    from edge.sim.scene import Quad

# YOLO-pose visibility flags.
NOT_IN_IMAGE, OCCLUDED, VISIBLE = 0, 1, 2
_OCCLUSION_TOLERANCE_CM = 0.3


def heart_girth_cm(goat: Goat, n_angles: int = 720) -> float:
    """Perimeter of the body's cross-section in the girth plane (x = 0 of the body frame).

    Walks outward from the chest centre along n_angles directions in the plane and finds
    where the union of solids ends, then sums the polygon's edges.
    """
    # A tape goes round the body under long hair and beside a collar or harness.
    shapes = [p.shape for p in goat.parts if p.region not in ("hair", "gear") and _crosses_girth_plane(goat, p.shape)]
    theta = np.linspace(0, 2 * np.pi, n_angles, endpoint=False)
    dirs_body = np.column_stack([np.zeros_like(theta), np.cos(theta), np.sin(theta)])
    centre_body = goat.girth_centre_cm

    def inside(r: np.ndarray) -> np.ndarray:
        pts = (centre_body + dirs_body * r[:, None]) @ goat.rotation.T + goat.origin_cm
        return np.any([s.contains(pts) for s in shapes], axis=0)

    r_max = 1.5 * goat.params.withers_height_cm
    lo, hi = np.zeros(n_angles), np.full(n_angles, r_max)
    # Coarse march for the first exit, then bisection to 1e-4 cm.
    steps = np.linspace(0, r_max, 120)
    for r in steps[1:]:
        out = ~inside(np.full(n_angles, r)) & (hi == r_max)
        hi[out] = r
    lo = np.maximum(hi - steps[1], 0)
    for _ in range(30):
        mid = (lo + hi) / 2
        ins = inside(mid)
        lo = np.where(ins, mid, lo)
        hi = np.where(ins, hi, mid)
    r = (lo + hi) / 2
    pts = np.column_stack([r * np.cos(theta), r * np.sin(theta)])
    return float(np.linalg.norm(np.roll(pts, -1, axis=0) - pts, axis=1).sum())


def _crosses_girth_plane(goat: Goat, shape) -> bool:
    lo, hi = shape.bounds()
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    along_body = goat.to_body(corners)[:, 0]
    return along_body.min() <= 0 <= along_body.max()


def true_measurements(goat: Goat) -> dict[str, float]:
    values = {name: length_from_landmarks(name, goat.landmarks_cm) for name in LENGTHS}
    values["heart_girth_cm"] = heart_girth_cm(goat)
    return values


@dataclass(frozen=True)
class ViewTruth:
    """A view's landmark keypoints in pixels, (K, 3) rows of x, y, visibility."""

    view: str
    keypoints: np.ndarray

    def as_dict(self) -> dict[str, list[float]]:
        return {
            n: [round(float(x), 3), round(float(y), 3), int(v)]
            for n, (x, y, v) in zip(VIEW_KEYPOINTS[self.view], self.keypoints)
        }


def keypoint_truth(goat: Goat, camera: Lens, view: str, occluders: tuple[Shape | Quad, ...] = ()) -> ViewTruth:
    """Project the view's landmarks and flag each as visible, occluded, or out of frame."""
    names = VIEW_KEYPOINTS[view]
    pts = np.array([goat.landmarks_cm[n] for n in names])
    px, depth_cm = camera.project(pts)
    centre = camera.center_cm
    to_pt = pts - centre
    dist_cm = np.linalg.norm(to_pt, axis=1)
    t_hit, _ = first_hit([p.shape for p in goat.parts] + list(occluders), centre, to_pt / dist_cm[:, None])
    flags = np.where(t_hit < dist_cm - _OCCLUSION_TOLERANCE_CM, OCCLUDED, VISIBLE)
    w, h = camera.size_px
    in_frame = (depth_cm > 0) & (px[:, 0] >= 0) & (px[:, 0] < w) & (px[:, 1] >= 0) & (px[:, 1] < h)
    flags = np.where(in_frame, flags, NOT_IN_IMAGE)
    return ViewTruth(view, np.column_stack([px, flags]))


def all_keypoint_truth(goat: Goat, calibration: Calibration, occluders=()) -> dict[str, ViewTruth]:
    return {v: keypoint_truth(goat, calibration[v], v, occluders) for v in VIEW_KEYPOINTS}


def as_view_keypoints(truths: dict[str, ViewTruth]) -> dict[str, ViewKeypoints]:
    """The labelled keypoints (visible or hidden, but in frame) as the measure step reads them."""
    return {
        view: {
            name: Keypoint(float(x), float(y))
            for name, (x, y, v) in zip(VIEW_KEYPOINTS[view], t.keypoints)
            if v != NOT_IN_IMAGE
        }
        for view, t in truths.items()
    }
