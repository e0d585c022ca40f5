"""The simulated chute: a seed becomes three camera images with the goat's true keypoints."""

from __future__ import annotations

import dataclasses
from functools import cache

import cv2
import numpy as np
import pytest

from edge.geometry.calibration import default_calibration
from edge.keypoints import VIEW_KEYPOINTS, VIEWS
from edge.sim.capture import simulate_capture
from edge.sim.goat import build_goat, sample_goat_params
from edge.sim.render import Renderer
from edge.sim.scene import sample_scene
from edge.sim.truth import NOT_IN_IMAGE, VISIBLE

SMALL = 0.25  # 320x240: enough to check geometry, fast enough to render many


@cache
def small_capture(seed: int, goats: int = 1):
    return simulate_capture(seed, scale=SMALL, goats=goats)


def test_a_seed_always_gives_the_same_jpegs_and_another_seed_another_goat():
    first = simulate_capture(3, scale=SMALL)
    again = simulate_capture(3, scale=SMALL)
    other = simulate_capture(4, scale=SMALL)
    assert first.jpegs == again.jpegs
    assert first.goats[0].params == again.goats[0].params
    assert other.goats[0].params != first.goats[0].params
    assert all(other.jpegs[v] != first.jpegs[v] for v in VIEWS)


def test_each_image_is_exactly_its_decoded_jpeg_at_the_calibrated_size():
    capture = simulate_capture(5, scale=SMALL)
    for view in VIEWS:
        camera = capture.calibration[view]
        decoded = cv2.imdecode(np.frombuffer(capture.jpegs[view], np.uint8), cv2.IMREAD_COLOR)
        assert np.array_equal(decoded, capture.images[view])
        assert capture.images[view].shape == (camera.height_px, camera.width_px, 3)
        assert capture.masks[view].shape == (camera.height_px, camera.width_px)


@pytest.mark.parametrize("seed", range(8))
def test_every_visible_keypoint_lands_on_its_own_goat(seed):
    # A landmark on the silhouette's edge can project up to a pixel beside the last pixel
    # centre that sees the goat, so the pixel or one of its neighbours must show the goat.
    capture = small_capture(seed, goats=1 + seed % 2)
    for view in VIEWS:
        mask = capture.masks[view]
        for goat_id, entry in enumerate(capture.labels[view], start=1):
            for name, (x, y, flag) in zip(VIEW_KEYPOINTS[view], entry.keypoints.keypoints):
                if flag != VISIBLE:
                    continue
                col, row = int(round(x)), int(round(y))
                around = mask[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2]
                assert (around == goat_id).any(), f"seed {seed} {view}: {name} of goat {goat_id} is off the goat"


@pytest.mark.parametrize("seed", range(8))
def test_the_box_holds_the_visible_goat_and_every_keypoint_in_frame(seed):
    capture = small_capture(seed, goats=1 + seed % 2)
    for view in VIEWS:
        for goat_id, entry in enumerate(capture.labels[view], start=1):
            rows, cols = np.nonzero(capture.masks[view] == goat_id)
            if len(rows) == 0:
                assert entry.box_px is None
                continue
            x0, y0, x1, y1 = entry.box_px
            assert x0 <= cols.min() - 0.5 and cols.max() + 0.5 <= x1
            assert y0 <= rows.min() - 0.5 and rows.max() + 0.5 <= y1
            in_frame = entry.keypoints.keypoints[entry.keypoints.keypoints[:, 2] != NOT_IN_IMAGE]
            assert np.all((in_frame[:, 0] >= x0) & (in_frame[:, 0] <= x1)), view
            assert np.all((in_frame[:, 1] >= y0) & (in_frame[:, 1] <= y1)), view


def test_an_empty_chute_has_no_goat_no_keypoints_and_no_boxes():
    capture = simulate_capture(11, scale=SMALL, goats=0)
    assert capture.goats == () and capture.truth == ()
    for view in VIEWS:
        assert capture.labels[view] == ()
        assert not capture.masks[view].any()
        assert capture.images[view].std() > 5  # still a barn, not a blank frame


def test_the_same_seed_shows_the_same_barn_with_or_without_a_goat():
    empty = simulate_capture(12, scale=SMALL, goats=0)
    one = simulate_capture(12, scale=SMALL, goats=1)
    assert empty.scene.floor_kind == one.scene.floor_kind
    assert [it.name for it in empty.scene.items] == [it.name for it in one.scene.items]


def test_a_second_goat_queues_behind_the_first_and_can_hide_behind_it():
    capture = simulate_capture(13, scale=SMALL, goats=2)
    front, back = capture.goats
    assert max(p.shape.bounds()[1][0] for p in back.parts) < min(p.shape.bounds()[0][0] for p in front.parts)
    assert len(capture.truth) == 2
    for view in VIEWS:
        assert len(capture.labels[view]) == 2
    assert set(np.unique(capture.masks["side"])) == {0, 1, 2}


def test_half_scale_keypoints_are_the_full_scale_keypoints_scaled():
    full = simulate_capture(21, scale=1.0)
    half = simulate_capture(21, scale=0.5)
    assert half.images["side"].shape == (480, 640, 3)
    for view in VIEWS:
        kp_full = full.labels[view][0].keypoints.keypoints
        kp_half = half.labels[view][0].keypoints.keypoints
        # Pixel centres sit at integers, so a pixel's coordinates scale about -0.5.
        np.testing.assert_allclose(kp_half[:, :2], (kp_full[:, :2] + 0.5) * 0.5 - 0.5, atol=0.01)
        assert np.array_equal(kp_half[:, 2], kp_full[:, 2])


@pytest.mark.parametrize("withers_cm, nose_x_cm", [(40.0, -28.0), (95.0, -8.0), (95.0, -28.0)])
def test_the_smallest_kid_and_the_tallest_buck_stand_fully_in_every_view(withers_cm, nose_x_cm):
    calibration = default_calibration().scaled(SMALL)
    rng = np.random.default_rng(0)
    scene = sample_scene(rng)
    params = dataclasses.replace(
        sample_goat_params(rng),
        withers_height_cm=withers_cm,
        body_length_ratio=1.18,
        head_pitch_deg=-15.0,
        nose_x_cm=nose_x_cm,
        yaw_deg=8.0,
        horns=True,
    )
    renderer = Renderer(scene, [build_goat(params)])
    for view in VIEWS:
        mask = renderer.render(calibration[view]).goat_mask
        assert mask.any(), view
        edges = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
        assert not edges.any(), f"the goat touches the edge of the {view} image"
