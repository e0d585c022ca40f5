"""The keypoint schema: which body landmarks each view's model finds, in which order.

docs/keypoints.md explains each landmark and the measurement it serves. The order here
is the order of the keypoint rows in the YOLO-pose labels and in the models' output.
"""

from __future__ import annotations

from dataclasses import dataclass

# The three cameras of the chute, in the order they are shown and stored.
VIEWS = ("side", "top", "front")

# 3D landmarks of the goat. "left" is the animal's own left, the side the side camera sees.
LANDMARKS = (
    "withers",
    "hip",
    "tail_head",
    "sternum",
    "nose",
    "poll",
    "point_of_shoulder_left",
    "point_of_shoulder_right",
    "shoulder_left",
    "shoulder_right",
    "hook_left",
    "hook_right",
    "pin_left",
    "pin_right",
    "fore_hoof_left",
    "fore_hoof_right",
    "hind_hoof_left",
)

VIEW_KEYPOINTS: dict[str, tuple[str, ...]] = {
    "side": (
        "withers",
        "hip",
        "point_of_shoulder_left",
        "pin_left",
        "sternum",
        "nose",
        "tail_head",
        "fore_hoof_left",
        "hind_hoof_left",
    ),
    "top": (
        "withers",
        "hip",
        "tail_head",
        "nose",
        "shoulder_left",
        "shoulder_right",
        "hook_left",
        "hook_right",
        "pin_left",
        "pin_right",
    ),
    "front": (
        "nose",
        "poll",
        "shoulder_left",
        "shoulder_right",
        "point_of_shoulder_left",
        "point_of_shoulder_right",
        "fore_hoof_left",
        "fore_hoof_right",
    ),
}

# The models: one per view, and the close-up model, which reads parts of the photos again
# in crops at full resolution (edge/detect/closeup.py): the top photo's rump and chest,
# and the side photo's chest (withers to sternum).
MODEL_KEYPOINTS: dict[str, tuple[str, ...]] = {
    **VIEW_KEYPOINTS,
    "closeup": (
        "hip",
        "tail_head",
        "hook_left",
        "hook_right",
        "pin_left",
        "pin_right",
        "shoulder_left",
        "shoulder_right",
        "withers",
        "sternum",
    ),
}
MODELS = tuple(MODEL_KEYPOINTS)

# Lines a labelling tool draws between a view's keypoints, so that a person correcting
# them sees the animal's frame (docs/keypoints.md): spine, legs, and across the body.
SKELETON: dict[str, tuple[tuple[str, str], ...]] = {
    "side": (
        ("nose", "withers"),
        ("withers", "hip"),
        ("hip", "tail_head"),
        ("withers", "sternum"),
        ("withers", "point_of_shoulder_left"),
        ("point_of_shoulder_left", "fore_hoof_left"),
        ("hip", "pin_left"),
        ("pin_left", "hind_hoof_left"),
    ),
    "top": (
        ("nose", "withers"),
        ("withers", "hip"),
        ("hip", "tail_head"),
        ("shoulder_left", "shoulder_right"),
        ("hook_left", "hook_right"),
        ("hook_left", "pin_left"),
        ("hook_right", "pin_right"),
        ("pin_left", "tail_head"),
        ("pin_right", "tail_head"),
    ),
    "front": (
        ("nose", "poll"),
        ("poll", "shoulder_left"),
        ("poll", "shoulder_right"),
        ("shoulder_left", "point_of_shoulder_left"),
        ("shoulder_right", "point_of_shoulder_right"),
        ("point_of_shoulder_left", "fore_hoof_left"),
        ("point_of_shoulder_right", "fore_hoof_right"),
    ),
}


def mirror_name(name: str) -> str:
    """The same landmark on the animal's other side (hook_left <-> hook_right)."""
    if name.endswith("_left"):
        return name[: -len("_left")] + "_right"
    if name.endswith("_right"):
        return name[: -len("_right")] + "_left"
    return name


def flip_idx(view: str) -> list[int]:
    """Index map for a horizontal image flip: a mirrored goat swaps its left and right.

    The side view keeps its order: a mirrored left side is read as a left side facing
    the other way, and there is no right-side keypoint to swap with.
    """
    names = MODEL_KEYPOINTS[view]
    if view == "side":
        return list(range(len(names)))
    return [names.index(mirror_name(n)) if mirror_name(n) in names else i for i, n in enumerate(names)]


@dataclass(frozen=True)
class Keypoint:
    x_px: float
    y_px: float
    confidence: float = 1.0
    # Set when the keypoint was moved onto the animal's outline in the photo
    # (edge/detect/outline.py): the unit image direction across the outline, along
    # which it is precise to about a pixel. Along the outline it is as sure as the model.
    across_outline: tuple[float, float] | None = None


# One view's keypoints by landmark name; a landmark the view did not find is absent.
ViewKeypoints = dict[str, Keypoint]
