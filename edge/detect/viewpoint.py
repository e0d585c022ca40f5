"""Photos from a camera mounted well off its nominal place, re-seen from that place.

The models learnt each view from cameras within a few centimetres and a degree or two of
the places docs/calibration.md draws (edge/training/camera_jitter.py). A camera mounted
further off, or with another lens, sees the goat from another angle and at another scale;
its calibration says exactly how. Before detection its photo is re-projected into the
canonical camera: each canonical pixel's ray meets a plane across the chute's centre,
facing that camera (where the goat's flank, back or chest is), and takes the photo's
pixel that sees the same point. For points on that plane the new image is what the
canonical camera would see; the goat's depth around it leaves a parallax that the models'
training jitter covers. The goats found are mapped back through the same correspondence,
so each keypoint lands on the photo pixel the model saw, whatever the goat's depth, and the
geometry works in the photo's own pixels as always.

In a chute built the other way round the canonical camera stands in the mirror-image chute,
so the re-projected photo is also the mirror image (as edge/detect/orientation.py turns
it), and its left keypoints are the goat's right ones.

Cameras within the training jitter are only turned or mirrored (orientation.py): no
resampling, nothing to compute.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.detect.orientation import Orientation, orientation_of
from edge.detect.types import PoseDetection, ViewDetections
from edge.geometry.lens import Lens

# How far off a camera may be and still be read unwarped: the training jitter's bounds
# (edge/training/camera_jitter.py: 3 cm along each axis, 1.5 degrees about each, focal
# length 3 %), with room for an installer's tape measure.
WARP_BEYOND_SHIFT_CM = 6.0
WARP_BEYOND_TURN_DEG = 3.0
WARP_BEYOND_FOCAL = 0.05
# The chute's centre line runs along x at about the height of a goat's body centre.
GOAT_CENTRE_HEIGHT_CM = 55.0
# The correspondence is smooth, so it is computed exactly every GRID_PX pixels and
# interpolated between (tests/test_mounting.py bounds the difference), and a photo is
# re-projected STRIP_ROWS rows at a time: full-size maps would take 10 MB per view.
GRID_PX = 8
STRIP_ROWS = 96
OUTSIDE_THE_PHOTO = (0, 0, 0)
_MIRROR = np.array([1.0, -1.0, 1.0])


def needs_warp(lens: Lens, canonical: Lens, *, mirrored_chute: bool = False) -> bool:
    """Whether the camera is further from the canonical one (in the mirror-image chute, when
    the chute is built the other way round) than the models learnt to read, once turned
    by quarter turns: its place, the direction of its axes, its focal length or image size."""
    across = _MIRROR if mirrored_chute else np.ones(3)
    turn = orientation_of(lens, canonical, mirrored_chute=mirrored_chute).matrix[:2, :2]
    right = turn[0, 0] * lens.R[0] + turn[0, 1] * lens.R[1]
    down = turn[1, 0] * lens.R[0] + turn[1, 1] * lens.R[1]
    turn_deg = max(
        _angle_deg(mine, theirs * across)
        for mine, theirs in ((right, canonical.R[0]), (down, canonical.R[1]), (lens.R[2], canonical.R[2]))
    )
    shift_cm = float(np.linalg.norm(lens.center_cm - canonical.center_cm * across))
    focal = float(lens.K[0, 0] / canonical.K[0, 0])
    return (
        shift_cm > WARP_BEYOND_SHIFT_CM
        or turn_deg > WARP_BEYOND_TURN_DEG
        or abs(focal - 1) > WARP_BEYOND_FOCAL
        or lens.size_px != canonical.size_px
    )


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


@dataclass(frozen=True, eq=False)
class Viewpoint:
    """The correspondence between the canonical camera's pixels and a photo's."""

    photo: Lens
    canonical: Lens
    mirrored: bool  # the canonical camera stands in the mirror-image chute
    plane_point_cm: np.ndarray = field(init=False)
    plane_normal: np.ndarray = field(init=False)
    _grid: np.ndarray = field(init=False, repr=False)  # photo pixels every GRID_PX canonical ones

    def __post_init__(self) -> None:
        point, normal = reference_plane(self.canonical)
        object.__setattr__(self, "plane_point_cm", point)
        object.__setattr__(self, "plane_normal", normal)
        object.__setattr__(self, "_grid", self._build_grid())

    def photo_px(self, canonical_px: np.ndarray) -> np.ndarray:
        """Photo pixels (N, 2) seeing what the canonical camera sees at canonical_px (N, 2),
        for points on the reference plane."""
        px = np.asarray(canonical_px, float).reshape(-1, 2)
        rays = self.canonical.rays(px)
        origin = self.canonical.center_cm
        depth = ((self.plane_point_cm - origin) @ self.plane_normal) / (rays @ self.plane_normal)
        on_plane = origin + rays * depth[:, None]
        if self.mirrored:
            on_plane = on_plane * _MIRROR
        photo, _ = self.photo.project(on_plane)
        return photo

    def canonical_px(self, photo_px: np.ndarray) -> np.ndarray:
        """Canonical pixels (N, 2) of what the photo shows at photo_px (N, 2), for points on
        the reference plane: where the re-projected image shows them."""
        px = np.asarray(photo_px, float).reshape(-1, 2)
        flip = _MIRROR if self.mirrored else np.ones(3)
        point, normal = self.plane_point_cm * flip, self.plane_normal * flip
        rays = self.photo.rays(px)
        origin = self.photo.center_cm
        depth = ((point - origin) @ normal) / (rays @ normal)
        canonical, _ = self.canonical.project((origin + rays * depth[:, None]) * flip)
        return canonical

    is_identity = False

    def to_canonical(self, image_bgr: np.ndarray) -> np.ndarray:
        """The photo as the canonical camera would see it (black where the photo ends)."""
        w, h = self.canonical.size_px
        out = np.empty((h, w, *image_bgr.shape[2:]), image_bgr.dtype)
        for top in range(0, h, STRIP_ROWS):
            map_x, map_y = self._maps(top, min(top + STRIP_ROWS, h))
            out[top : top + STRIP_ROWS] = cv2.remap(
                image_bgr, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=OUTSIDE_THE_PHOTO
            )
        return out

    def _maps(self, first_row: int, end_row: int) -> tuple[np.ndarray, np.ndarray]:
        """Photo x and y for every canonical pixel of rows [first_row, end_row): the grid,
        interpolated bilinearly."""
        w = self.canonical.size_px[0]
        fx, fy = np.meshgrid(
            np.arange(w, dtype=np.float32) / GRID_PX, np.arange(first_row, end_row, dtype=np.float32) / GRID_PX
        )
        return tuple(cv2.remap(self._grid[..., k], fx, fy, cv2.INTER_LINEAR) for k in (0, 1))  # type: ignore[return-value]

    def to_photo(self, found: ViewDetections) -> ViewDetections:
        """Detections made on the re-projected image, in the photo's own pixels."""
        goats = tuple(self._map_detection(goat) for goat in found.goats)
        return ViewDetections(found.view, self.photo.size_px, goats, mirrored=self.mirrored != found.mirrored)

    def _map_detection(self, det: PoseDetection) -> PoseDetection:
        x0, y0, x1, y1 = (float(v) for v in det.box_px)
        xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
        outline = np.array([[x0, y0], [xm, y0], [x1, y0], [x1, ym], [x1, y1], [xm, y1], [x0, y1], [x0, ym]])
        corners = self.photo_px(outline)
        box = np.concatenate([corners.min(axis=0), corners.max(axis=0)])
        keypoints = det.keypoints.astype(float)
        keypoints[:, :2] = self.photo_px(keypoints[:, :2])
        across = None
        if det.across_outline is not None:
            across = np.full_like(det.across_outline, np.nan, dtype=float)
            for i, direction in enumerate(det.across_outline):
                if not np.isnan(direction[0]):
                    across[i] = self._direction(det.keypoints[i, :2], direction)
        return PoseDetection(box, det.score, keypoints, across)

    def _direction(self, at_px: np.ndarray, direction: np.ndarray) -> np.ndarray:
        """A unit direction at a canonical pixel, as it points in the photo."""
        step = 0.5
        ends = self.photo_px(np.array([at_px - step * direction, at_px + step * direction]))
        moved = ends[1] - ends[0]
        return moved / np.linalg.norm(moved)

    def _build_grid(self) -> np.ndarray:
        w, h = self.canonical.size_px
        xs = np.arange(0, w + GRID_PX, GRID_PX, dtype=float)
        ys = np.arange(0, h + GRID_PX, GRID_PX, dtype=float)
        gx, gy = np.meshgrid(xs, ys)
        grid = self.photo_px(np.column_stack([gx.ravel(), gy.ravel()]))
        return grid.reshape(len(ys), len(xs), 2).astype(np.float32)


def reference_plane(canonical: Lens) -> tuple[np.ndarray, np.ndarray]:
    """A plane facing the canonical camera, through the point of its optical axis nearest
    to the chute's centre line (y = 0, at a goat's body height): the goat's flank for the
    side camera, its back for the top one, its chest for the front one."""
    origin, axis = canonical.center_cm, canonical.R[2]
    line_point, line_dir = np.array([0.0, 0.0, GOAT_CENTRE_HEIGHT_CM]), np.array([1.0, 0.0, 0.0])
    # Closest points of two lines: origin + s * axis and line_point + u * line_dir.
    w0 = origin - line_point
    b = float(axis @ line_dir)
    d, e = float(axis @ w0), float(line_dir @ w0)
    denominator = 1.0 - b * b
    s = (b * e - d) / denominator if denominator > 1e-9 else -d
    return origin + s * axis, axis


def model_frame(lens: Lens, canonical: Lens, *, mirrored_chute: bool = False) -> Orientation | Viewpoint:
    """How the models see this camera's photos: turned and mirrored only, or re-projected
    when the camera is further off than they learnt (needs_warp). Both give to_canonical
    (the image), canonical_px (photo points in it) and to_photo (the goats found, back)."""
    if needs_warp(lens, canonical, mirrored_chute=mirrored_chute):
        return Viewpoint(lens, canonical, mirrored_chute)
    return orientation_of(lens, canonical, mirrored_chute=mirrored_chute)
