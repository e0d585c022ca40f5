"""Solve each camera from its photo folder: lens from the tilted-board photos, pose from the
reference photos of the board at its standard positions.

Folder layout: PHOTOS/<view>/reference*.jpg (the board at the view's standard positions, see
positions.py) and any number of other .jpg/.jpeg/.png photos of the board held at varied
tilts and places.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.calibrate.board import MIN_CORNERS, BoardDetection, BoardSpec
from edge.calibrate.errors import (
    BoardNotFoundError,
    LensSolveError,
    PhotoFolderMissingError,
    PhotoUnreadableError,
    ReferencePhotoMissingError,
    ReprojectionError,
    TooFewPhotosError,
)
from edge.calibrate.positions import STANDARD_POSITIONS, StandardPosition
from edge.geometry.lens import Lens

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
REFERENCE_STEM = "reference"
MIN_PHOTOS = 8  # below this the five distortion terms are poorly constrained
DEFAULT_MAX_ERROR_PX = 1.0


@dataclass(frozen=True, eq=False)
class CameraSolution:
    """One camera's calibration and the evidence for it."""

    camera: Lens
    reprojection_error_px: float  # RMS over the board corners of all lens photos
    reference_error_px: float  # RMS of the reference photos' corners under the solved pose
    photos_used: int
    photos_total: int


def find_photos(folder: Path) -> tuple[dict[str, Path], list[Path]]:
    """The reference photos by name stem, and the lens photos sorted by name."""
    photos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
    references = {p.stem.lower(): p for p in photos if p.stem.lower().startswith(REFERENCE_STEM)}
    return references, [p for p in photos if p not in references.values()]


def _read_grey(view: str, path: Path, size_px: tuple[int, int] | None) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise PhotoUnreadableError(f"{view} camera: cannot read photo {path}")
    if size_px is not None and (image.shape[1], image.shape[0]) != size_px:
        raise PhotoUnreadableError(
            f"{view} camera: photo {path} is {image.shape[1]}x{image.shape[0]} px but the "
            f"first reference photo is {size_px[0]}x{size_px[1]} px"
        )
    return image


def _rms(detection: BoardDetection, rvec, tvec, K, dist) -> float:
    px, _ = cv2.projectPoints(detection.object_cm, rvec, tvec, K, dist)
    return float(np.sqrt(np.mean(np.sum((px.reshape(-1, 2) - detection.pixels) ** 2, axis=1))))


def solve_lens(
    view: str, detections: list[BoardDetection], names: list[str], size_px: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray, float, list[float]]:
    """K, dist (k1 k2 p1 p2 k3), the RMS error and each photo's, by cv2.calibrateCamera."""
    obj = [d.object_cm.astype(np.float32).reshape(-1, 1, 3) for d in detections]
    img = [d.pixels.astype(np.float32).reshape(-1, 1, 2) for d in detections]
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-12)
    try:
        # cv2's stubs leave out None for K and dist, which OpenCV takes as "no initial guess".
        rms, K, dist, _, _, _, _, per_view = cv2.calibrateCameraExtended(  # type: ignore[call-overload]
            obj, img, size_px, None, None, flags=0, criteria=criteria
        )
    except cv2.error as exc:
        raise LensSolveError(
            f"{view} camera: the lens could not be solved from its {len(names)} usable photos ({exc.err})"
        ) from None
    return K, dist.ravel()[:5], float(rms), [float(e) for e in np.ravel(per_view)]


def solve_pose(
    view: str,
    references: list[tuple[BoardDetection, StandardPosition]],
    board: BoardSpec,
    K: np.ndarray,
    dist: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, float]:
    """World-to-camera R, t from the reference photos, and their RMS error in pixels.

    The first photo gives a starting pose: the board's pose in the camera (x_cam = R_bc x_board
    + t_bc) composed with its standard pose (x_world = R_bw x_board + t_bw) is
    x_cam = (R_bc R_bw^T) x_world + (t_bc - R_bc R_bw^T t_bw). All photos' corners, placed in
    the chute frame, then refine it together.
    """
    first, position = references[0]
    # IPPE picks the right one of the two mirror poses a planar board allows.
    ok, rvec, tvec = cv2.solvePnP(first.object_cm, first.pixels, K, dist, flags=cv2.SOLVEPNP_IPPE)
    if not ok:
        raise BoardNotFoundError(f"{view} camera: cannot solve the board's pose in the {position.photo} photo")
    R_bw, t_bw = position.pose(board)
    R_bc, _ = cv2.Rodrigues(rvec)
    R = R_bc @ R_bw.T
    rvec, _ = cv2.Rodrigues(R)
    tvec = tvec.ravel() - R @ t_bw
    world = BoardDetection(
        np.vstack([d.pixels for d, _ in references]),
        np.concatenate([d.ids for d, _ in references]),
        np.vstack([p.to_world(board, d.object_cm) for d, p in references]),
    )
    rvec, tvec = cv2.solvePnPRefineLM(world.object_cm, world.pixels, K, dist, rvec, tvec.reshape(3, 1).copy())
    R, _ = cv2.Rodrigues(rvec)
    return R, tvec.ravel(), _rms(world, rvec, tvec, K, dist)


def calibrate_view(
    view: str,
    folder: Path,
    board: BoardSpec,
    *,
    positions: tuple[StandardPosition, ...] | None = None,
    max_error_px: float = DEFAULT_MAX_ERROR_PX,
    min_photos: int = MIN_PHOTOS,
) -> CameraSolution:
    """Calibrate one camera from its photo folder, or raise a CalibrateError saying why not."""
    folder = Path(folder)
    positions = positions or STANDARD_POSITIONS[view]
    if not folder.is_dir():
        raise PhotoFolderMissingError(f"{view} camera: photo folder {folder} not found")
    reference_paths, photo_paths = find_photos(folder)
    references: list[tuple[BoardDetection, StandardPosition]] = []
    size_px: tuple[int, int] | None = None
    for position in positions:
        path = reference_paths.get(position.photo)
        if path is None:
            raise ReferencePhotoMissingError(
                f"{view} camera: reference photo {folder / (position.photo + '.jpg')} not found "
                f"(the board {position.how})"
            )
        image = _read_grey(view, path, size_px)
        size_px = size_px or (image.shape[1], image.shape[0])
        detection = board.detect(image)
        if not detection.usable:
            raise BoardNotFoundError(
                f"{view} camera: board not found in reference photo {path} ({len(detection)} "
                f"of {len(board.corners_cm)} corners seen, {MIN_CORNERS} needed)"
            )
        references.append((detection, position))
    assert size_px is not None  # set by the first reference photo; every view has one

    detections, names = [], []
    for path in photo_paths:
        detection = board.detect(_read_grey(view, path, size_px))
        if detection.usable:
            detections.append(detection)
            names.append(path.name)
    if len(detections) < min_photos:
        raise TooFewPhotosError(
            f"{view} camera: only {len(detections)} of {len(photo_paths)} photos in {folder} show "
            f"the board well enough (at least {MIN_CORNERS} corners); {min_photos} are needed"
        )

    K, dist, rms, per_photo = solve_lens(view, detections, names, size_px)
    if rms > max_error_px:
        worst = int(np.argmax(per_photo))
        raise ReprojectionError(
            f"{view} camera: reprojection error {rms:.3f} px is above the limit of "
            f"{max_error_px:g} px (worst photo {folder / names[worst]}: {per_photo[worst]:.3f} px)"
        )
    R, t, reference_rms = solve_pose(view, references, board, K, dist)
    if reference_rms > max_error_px:
        reference_names = ", ".join(p.photo for _, p in references)
        raise ReprojectionError(
            f"{view} camera: reprojection error {reference_rms:.3f} px in reference photos "
            f"{reference_names} is above the limit of {max_error_px:g} px (is the board flat and at its "
            f"standard position?)"
        )
    camera = Lens(view, K, dist, R, t, size_px[0], size_px[1])
    return CameraSolution(camera, rms, reference_rms, len(detections), len(photo_paths))


def calibrate_photos(
    photos_dir: str | Path,
    views: tuple[str, ...],
    board: BoardSpec,
    *,
    max_error_px: float = DEFAULT_MAX_ERROR_PX,
    min_photos: int = MIN_PHOTOS,
) -> dict[str, CameraSolution]:
    """Calibrate each view from PHOTOS/<view>/; raises on the first camera that fails."""
    photos_dir = Path(photos_dir)
    if not photos_dir.is_dir():
        raise PhotoFolderMissingError(f"photo folder {photos_dir} not found")
    return {
        view: calibrate_view(view, photos_dir / view, board, max_error_px=max_error_px, min_photos=min_photos)
        for view in views
    }
