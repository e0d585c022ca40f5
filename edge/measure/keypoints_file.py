"""keypoints.json: keypoints of the three views, as a detector or a person labelled them.

    {"side": {"withers": [812.4, 301.0, 0.97], "hip": [402.1, 298.7], ...},
     "top":  {...}, "front": {...}}

Each keypoint is [x_px, y_px] or [x_px, y_px, confidence]; a view or a keypoint that
was not found is simply left out.
"""

from __future__ import annotations

import math
from pathlib import Path

from edge.errors import GoatEdgeError
from edge.jsonfile import read_json
from edge.keypoints import VIEW_KEYPOINTS, Keypoint, ViewKeypoints


class KeypointsFileError(GoatEdgeError):
    pass


def _keypoint(value, where: str) -> Keypoint:
    if not isinstance(value, list) or len(value) not in (2, 3):
        raise KeypointsFileError(f"{where}: expected [x_px, y_px] or [x_px, y_px, confidence]")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        raise KeypointsFileError(f"{where}: values must be finite numbers, got {value}")
    confidence = float(value[2]) if len(value) == 3 else 1.0
    if not 0.0 <= confidence <= 1.0:
        raise KeypointsFileError(f"{where}: confidence must be between 0 and 1, got {confidence}")
    return Keypoint(float(value[0]), float(value[1]), confidence)


def keypoints_from_dict(data, source: str) -> dict[str, ViewKeypoints]:
    if not isinstance(data, dict):
        raise KeypointsFileError(f"{source}: expected a JSON object of views")
    result: dict[str, ViewKeypoints] = {}
    for view, points in data.items():
        if view not in VIEW_KEYPOINTS:
            raise KeypointsFileError(f"{source}: unknown view {view!r}; expected {', '.join(VIEW_KEYPOINTS)}")
        if not isinstance(points, dict):
            raise KeypointsFileError(f"{source}: {view}: expected an object of keypoints")
        result[view] = {}
        for name, value in points.items():
            if name not in VIEW_KEYPOINTS[view]:
                raise KeypointsFileError(f"{source}: {view}.{name}: not a {view}-view keypoint (see docs/keypoints.md)")
            result[view][name] = _keypoint(value, f"{source}: {view}.{name}")
    return result


def load_keypoints(path: str | Path) -> dict[str, ViewKeypoints]:
    return keypoints_from_dict(read_json(path, "keypoints", KeypointsFileError), str(path))


def keypoints_to_dict(keypoints: dict[str, ViewKeypoints]) -> dict:
    return {
        view: {name: [round(kp.x_px, 3), round(kp.y_px, 3), round(kp.confidence, 4)] for name, kp in points.items()}
        for view, points in keypoints.items()
    }
