"""The quality gate turns captures the models cannot measure well into a clear retake."""

from __future__ import annotations

import numpy as np

from edge.detect.types import PoseDetection, ViewDetections
from edge.keypoints import VIEW_KEYPOINTS
from edge.pipeline.gate import gate, view_problems

SIZE = (1280, 960)


def goat(view: str, box=(300, 200, 900, 700), score=0.9, confidence=0.9) -> PoseDetection:
    k = len(VIEW_KEYPOINTS[view])
    kpts = np.column_stack([np.linspace(box[0], box[2], k), np.linspace(box[1], box[3], k), np.full(k, confidence)])
    return PoseDetection(np.array(box, float), score, kpts)


def seen(view: str, *goats: PoseDetection) -> ViewDetections:
    return ViewDetections(view, SIZE, goats)


def test_a_clear_capture_passes():
    result = gate({v: seen(v, goat(v)) for v in VIEW_KEYPOINTS})
    assert result.status == "ok" and result.reason is None


def test_an_empty_chute_is_a_retake_that_says_so():
    result = gate({v: seen(v) for v in VIEW_KEYPOINTS})
    assert result.status == "retake"
    # Said once for the three cameras, so the instruction stays short on the tablet.
    assert result.reason == (
        "side, top and front cameras: no goat in view: bring the goat into the chute, "
        "or check that nothing covers the camera"
    )
    top_only = gate({v: seen(v) if v == "top" else seen(v, goat(v)) for v in VIEW_KEYPOINTS})
    assert top_only.reason.startswith("top camera: no goat in view")


def test_a_second_goat_in_the_chute_is_a_retake():
    problems = view_problems(seen("side", goat("side"), goat("side", box=(950, 250, 1270, 700), score=0.7)))
    assert problems == ["side camera: more than one goat in view: let one goat into the chute at a time"]


def test_a_faint_second_detection_is_not_mistaken_for_a_second_goat():
    assert view_problems(seen("side", goat("side"), goat("side", box=(950, 250, 1200, 700), score=0.3))) == []


def test_a_goat_cut_off_by_the_frame_edge_is_a_retake_naming_the_camera():
    problems = view_problems(seen("top", goat("top", box=(-0.5, 300, 700, 600))))
    assert problems == ["top camera: goat not fully in view: wait until the whole goat stands inside the chute"]


def test_unsure_keypoints_are_a_retake_naming_them():
    detection = goat("front")
    detection.keypoints[2, 2] = 0.2  # shoulder_left
    problems = view_problems(seen("front", detection))
    assert problems == [
        "front camera: unsure where the shoulder left is: check that nothing hides the goat from this camera "
        "(a person, a gate, dirt on the lens)"
    ]


def test_a_head_turned_away_is_a_retake_that_says_to_wait_for_it():
    detection = goat("side")
    detection.keypoints[VIEW_KEYPOINTS["side"].index("nose"), 2] = 0.1
    problems = view_problems(seen("side", detection))
    assert problems == [
        "side camera: unsure where the nose is (the goat's head is turned away or down): wait for it to face forward"
    ]


def test_hidden_legs_are_a_retake_that_says_to_clear_them():
    detection = goat("front")
    for hoof in ("fore_hoof_left", "fore_hoof_right"):
        detection.keypoints[VIEW_KEYPOINTS["front"].index(hoof), 2] = 0.2
    problems = view_problems(seen("front", detection))
    assert problems == [
        "front camera: unsure where the fore hoof left, fore hoof right are (its legs are hidden): "
        "check that nothing stands in front of them"
    ]
