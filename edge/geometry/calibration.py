"""calibration.json: every camera's intrinsics and pose in the chute frame, in one file.

The simulator writes its true cameras in this format and `goat-edge calibrate` writes
a real installation's in the same format; docs/calibration.md documents each field.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.errors import GoatEdgeError
from edge.geometry.lens import Lens, look_at
from edge.jsonfile import read_json, validated, write_json_atomic
from edge.keypoints import VIEWS

FORMAT_VERSION = 1


class CalibrationError(GoatEdgeError, ValueError):
    """calibration.json is missing or invalid; the message names the file and the field."""


class CameraModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_size: tuple[int, int] = Field(description="width, height in pixels")
    K: list[list[float]] = Field(description="3x3 intrinsic matrix")
    dist: list[float] = Field(description="k1, k2, p1, p2, k3")
    R: list[list[float]] = Field(description="3x3 rotation, world to camera")
    t: list[float] = Field(description="translation in cm, world to camera")
    reprojection_error_px: float | None = None

    @field_validator("image_size")
    @classmethod
    def _positive_size(cls, v):
        if v[0] <= 0 or v[1] <= 0:
            raise ValueError("width and height must be positive")
        return v

    @field_validator("K", "dist", "R", "t")
    @classmethod
    def _finite(cls, v):
        if not np.isfinite(np.asarray(v, float)).all():
            raise ValueError("holds a value that is not a finite number")
        return v

    @field_validator("K")
    @classmethod
    def _intrinsics(cls, v):
        K = _matrix_3x3(v)
        if K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], [0, 0, 1]):
            raise ValueError("needs positive focal lengths and a last row of [0, 0, 1]")
        return v

    @field_validator("dist")
    @classmethod
    def _five_coefficients(cls, v):
        if len(v) != 5:
            raise ValueError(f"needs 5 coefficients (k1, k2, p1, p2, k3), got {len(v)}")
        return v

    @field_validator("R")
    @classmethod
    def _rotation(cls, v):
        R = _matrix_3x3(v)
        if not np.allclose(R @ R.T, np.eye(3), atol=1e-4) or np.linalg.det(R) < 0:
            raise ValueError("is not a rotation matrix (orthonormal, determinant +1)")
        return v

    @field_validator("t")
    @classmethod
    def _translation(cls, v):
        if len(v) != 3:
            raise ValueError(f"needs 3 values, got {len(v)}")
        return v


def _matrix_3x3(rows) -> np.ndarray:
    if len(rows) != 3 or any(len(r) != 3 for r in rows):
        raise ValueError("must be 3x3")
    return np.asarray(rows, float)


class CalibrationModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = FORMAT_VERSION
    units: str = "cm"
    cameras: dict[str, CameraModel]

    @field_validator("version")
    @classmethod
    def _known_version(cls, v):
        if v != FORMAT_VERSION:
            raise ValueError(f"unsupported version {v}; this build reads version {FORMAT_VERSION}")
        return v

    @field_validator("units")
    @classmethod
    def _centimetres(cls, v):
        if v != "cm":
            raise ValueError(f"must be 'cm', got {v!r}")
        return v

    @field_validator("cameras")
    @classmethod
    def _three_views(cls, v):
        unknown = sorted(set(v) - set(VIEWS))
        if unknown:
            raise ValueError(f"unknown camera {unknown[0]!r}; expected {', '.join(VIEWS)}")
        missing = [name for name in VIEWS if name not in v]
        if missing:
            raise ValueError(f"missing camera {missing[0]!r}")
        return v


@dataclass(frozen=True, eq=False)
class Calibration:
    cameras: dict[str, Lens]
    reprojection_error_px: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, view: str) -> Lens:
        return self.cameras[view]

    def to_dict(self) -> dict:
        cams = {}
        for view in VIEWS:
            cam = self.cameras[view]
            entry = {
                "image_size": [cam.width_px, cam.height_px],
                "K": cam.K.tolist(),
                "dist": cam.dist.tolist(),
                "R": cam.R.tolist(),
                "t": cam.t.tolist(),
            }
            if view in self.reprojection_error_px:
                entry["reprojection_error_px"] = float(self.reprojection_error_px[view])
            cams[view] = entry
        return {"version": FORMAT_VERSION, "units": "cm", "cameras": cams}

    @property
    def mirrored_chute(self) -> bool:
        """The chute is built the other way round: its open side, where the side camera
        stands, at -y (docs/calibration.md), the mirror image of the standard chute."""
        return "side" in self.cameras and float(self.cameras["side"].center_cm[1]) < 0

    @property
    def hash(self) -> str:
        """Short content hash, recorded with each measurement so results can be traced."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def scaled(self, factor: float) -> Calibration:
        return Calibration({v: c.scaled(factor) for v, c in self.cameras.items()}, dict(self.reprojection_error_px))


def calibration_from_dict(data: dict, source: str = "calibration") -> Calibration:
    model = validated(CalibrationModel, data, source, CalibrationError)
    cameras, errors = {}, {}
    for view, cam in model.cameras.items():
        cameras[view] = Lens(
            view,
            np.asarray(cam.K, float),
            np.asarray(cam.dist, float),
            np.asarray(cam.R, float),
            np.asarray(cam.t, float),
            cam.image_size[0],
            cam.image_size[1],
        )
        if cam.reprojection_error_px is not None:
            errors[view] = cam.reprojection_error_px
    return Calibration(cameras, errors)


def load_calibration(path: str | Path) -> Calibration:
    data = read_json(path, "calibration", CalibrationError)
    if not isinstance(data, dict):
        raise CalibrationError(f"{path}: expected a JSON object at the top level")
    return calibration_from_dict(data, str(path))


def save_calibration(calibration: Calibration, path: str | Path) -> None:
    write_json_atomic(path, calibration.to_dict(), "calibration", CalibrationError)


@dataclass(frozen=True)
class ChuteLayout:
    """Where the simulated chute's cameras stand; every number can be overridden.

    Wide lenses (about 85 degrees across) let one camera see a buck of 110 cm body length
    from nose to tail at these distances.
    """

    image_size_px: tuple[int, int] = (1280, 960)
    chute_width_cm: float = 50.0
    goat_centre_x_cm: float = -88.0  # where the side and top cameras aim along the chute
    side_distance_cm: float = 130.0  # from the centre line
    side_height_cm: float = 62.0
    side_focal_px: float = 700.0
    top_height_cm: float = 220.0
    top_focal_px: float = 760.0
    front_distance_cm: float = 95.0  # beyond the front gate
    front_height_cm: float = 100.0
    front_focal_px: float = 720.0


def default_calibration(layout: ChuteLayout = ChuteLayout()) -> Calibration:
    """A plausible chute: side camera 1.3 m from the centre line, top camera 2.2 m up."""
    x0, size = layout.goat_centre_x_cm, layout.image_size_px
    side = look_at(
        "side",
        (x0, layout.side_distance_cm, layout.side_height_cm),
        (x0, 0, layout.side_height_cm - 8),
        focal_px=layout.side_focal_px,
        size_px=size,
        dist=(-0.060, 0.020, 0.0004, -0.0003, 0.0),
    )
    # Image 'up' of the top view points toward the side camera (+y), head to the right.
    top = look_at(
        "top",
        (x0 + 3, 0, layout.top_height_cm),
        (x0 + 3, 0, 0),
        up=(0, 1, 0),
        focal_px=layout.top_focal_px,
        size_px=size,
        dist=(-0.050, 0.015, -0.0002, 0.0003, 0.0),
    )
    front = look_at(
        "front",
        (layout.front_distance_cm, 0, layout.front_height_cm),
        (-40, 0, 55),
        focal_px=layout.front_focal_px,
        size_px=size,
        dist=(-0.070, 0.025, 0.0003, 0.0002, 0.0),
    )
    return Calibration({"side": side, "top": top, "front": front})
