"""Decoding the pose head and mapping it back to the photo, on hand-made tensors."""

from __future__ import annotations

import numpy as np
import pytest

from edge.detect.decode import box_iou, decode_pose, nms
from edge.detect.letterbox import PAD_VALUE, Letterbox, letterbox

K = 2  # keypoints per animal in these hand-made outputs


def head_output(anchors: list[tuple]) -> np.ndarray:
    """out0 as the exported model gives it: one column per anchor.

    Each anchor is (cx, cy, w, h, score, [(x, y, v) * K]).
    """
    cols = []
    for cx, cy, w, h, score, kpts in anchors:
        cols.append([cx, cy, w, h, score, *np.ravel(kpts)])
    return np.array(cols, np.float32).T


def test_a_single_confident_anchor_becomes_one_detection_with_its_keypoints():
    out = head_output(
        [
            (100, 80, 40, 20, 0.9, [(90, 75, 0.8), (110, 85, 0.3)]),
            (200, 200, 10, 10, 0.1, [(0, 0, 0), (0, 0, 0)]),  # below the threshold
        ]
    )
    dets = decode_pose(out, K, conf_threshold=0.25)
    assert len(dets) == 1
    np.testing.assert_allclose(dets[0].box_px, [80, 70, 120, 90])
    assert dets[0].score == pytest.approx(0.9)
    np.testing.assert_allclose(dets[0].keypoints, [[90, 75, 0.8], [110, 85, 0.3]], rtol=1e-6)


def test_overlapping_anchors_of_one_goat_collapse_to_the_best_and_a_second_goat_survives():
    goat = [(50, 50, 0.9), (60, 60, 0.9)]
    out = head_output(
        [
            (100, 100, 80, 40, 0.70, goat),
            (102, 101, 80, 40, 0.95, goat),  # the same goat, a better anchor
            (98, 99, 78, 42, 0.60, goat),
            (300, 100, 80, 40, 0.80, goat),  # a second goat further down the chute
        ]
    )
    dets = decode_pose(out, K, conf_threshold=0.25, iou_threshold=0.7)
    assert [round(d.score, 2) for d in dets] == [0.95, 0.80]
    assert dets[1].box_px[0] == pytest.approx(260)


def test_fusing_averages_a_goats_keypoints_over_its_anchors_by_score_and_keeps_goats_apart():
    out = head_output(
        [
            (100, 100, 80, 40, 0.90, [(90, 95, 0.8), (110, 105, 0.7)]),
            (101, 100, 80, 40, 0.30, [(94, 99, 0.6), (114, 101, 0.5)]),  # the same goat, a weaker anchor
            (100, 100, 40, 20, 0.50, [(0, 0, 0.1), (0, 0, 0.1)]),  # overlaps, but too little (IoU 0.25)
            (300, 100, 80, 40, 0.80, [(290, 95, 0.9), (310, 105, 0.9)]),  # a second goat
        ]
    )
    best = decode_pose(out, K)
    fused = decode_pose(out, K, fuse_iou=0.8)
    np.testing.assert_allclose(best[0].keypoints[:, :2], [[90, 95], [110, 105]])  # Ultralytics' reading
    np.testing.assert_allclose(fused[0].keypoints[:, :2], [[91, 96], [111, 104]])  # 3:1 by score
    np.testing.assert_allclose(fused[0].keypoints[:, 2], [0.8, 0.7])  # visibility: the best anchor's
    np.testing.assert_allclose(fused[0].box_px, best[0].box_px)
    np.testing.assert_allclose(fused[1].keypoints[:, :2], [[290, 95], [310, 105]])


def test_no_anchor_above_the_threshold_means_no_goat():
    out = head_output([(100, 100, 80, 40, 0.2, [(0, 0, 0)] * K)])
    assert decode_pose(out, K, conf_threshold=0.25) == []


def test_an_output_that_does_not_match_the_keypoint_count_is_refused():
    out = head_output([(100, 100, 80, 40, 0.9, [(0, 0, 0)] * K)])
    with pytest.raises(ValueError, match="has shape \\(11, 1\\); expected \\(14, anchors\\)"):
        decode_pose(out, 3)


def test_nms_keeps_boxes_that_touch_but_do_not_overlap_much():
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [0, 0, 10, 10.5]], float)
    scores = np.array([0.9, 0.8, 0.7])
    # Box 1 overlaps box 0 by a third; box 2 is nearly box 0.
    assert box_iou(boxes[0], boxes[1:2])[0] == pytest.approx(50 / 150)
    assert list(nms(boxes, scores, 0.5)) == [0, 1]


def test_letterbox_places_a_4_by_3_photo_in_the_middle_of_a_square_and_maps_points_back():
    photo = np.full((960, 1280, 3), 200, np.uint8)
    padded, placement = letterbox(photo, 320)
    assert padded.shape == (320, 320, 3)
    assert placement == Letterbox(320, 0.25, 0.25, 0, 40)
    # Grey bars above and below, the photo between them.
    assert (padded[:40] == PAD_VALUE).all() and (padded[280:] == PAD_VALUE).all()
    assert (padded[40:280] == 200).all()
    back = placement.to_image(np.array([[0.0, 40.0], [160.0, 160.0], [320.0, 280.0]]))
    np.testing.assert_allclose(back, [[0, 0], [640, 480], [1280, 960]])


def test_letterbox_rounds_each_side_like_the_training_pipeline():
    # 1000 x 333 into 320: the photo becomes 320 x 107 and the 213 px of padding split 106 / 107.
    placement = Letterbox.fit(1000, 333, 320)
    assert (placement.pad_left_px, placement.pad_top_px) == (0, 106)
    assert placement.gain_y == pytest.approx(107 / 333)
