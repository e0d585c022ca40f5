"""Loading a view's YOLO pose weights for training or export, with the checks both need.

A .pt is only useful for a view if it finds that view's keypoints in the order of
docs/keypoints.md; a farm's own best.pt is checked the same way as ours.
"""

from __future__ import annotations

from pathlib import Path

from edge.keypoints import MODEL_KEYPOINTS

# The architecture every view trains from, and that a rebuilt best.pt is put back into.
MODEL_YAML = "yolo11n-pose.yaml"


class WeightsError(Exception):
    pass


def load_pose_weights(view: str, weights: Path):
    """The Ultralytics model for `weights`, or WeightsError naming the file and the problem."""
    from ultralytics import YOLO  # the train extra; imported only by the training scripts

    if not weights.is_file():
        raise WeightsError(f"{weights}: {view} weights not found")
    try:
        model = YOLO(str(weights), task="pose")
    except Exception as exc:  # Ultralytics raises many kinds for a bad checkpoint
        raise WeightsError(f"{weights}: not a YOLO checkpoint ({type(exc).__name__}: {exc})") from None
    kpt_shape = list(getattr(model.model, "kpt_shape", []) or [])
    want = [len(MODEL_KEYPOINTS[view]), 3]
    if kpt_shape != want:
        raise WeightsError(
            f"{weights}: finds keypoints {kpt_shape}, but the {view} model needs {want} (docs/keypoints.md)"
        )
    return model
