"""Withers, sternum and the top view's shoulders are moved onto the goat's outline in the
full photo, and the geometry trusts them across the outline more than the model."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.config import ModelsConfig
from edge.detect.detector import NcnnDetector
from edge.detect.outline import CLOSEUP_SETTINGS, OUTLINE_PAIRS, VIEW_SETTINGS, snap_to_outline, strongest_edge
from edge.detect.types import PoseDetection
from edge.geometry.calibration import default_calibration
from edge.keypoints import VIEW_KEYPOINTS, Keypoint
from edge.measure.estimate import measure
from edge.sim.capture import simulate_capture
from tests.test_measure import simulated

CALIBRATION = default_calibration()


def barn_photo(seed: int = 0) -> np.ndarray:
    """A straw-like noisy floor, 640x480."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal((40, 90, 90), 18, (480, 640, 3)), 0, 255).astype(np.uint8)


def with_goat(photo: np.ndarray, centre, axes, angle_deg: float) -> np.ndarray:
    """A pale goat body seen as an ellipse, with a little coat texture."""
    goat = photo.copy()
    cv2.ellipse(goat, centre, axes, angle_deg, 0, 360, (205, 215, 220), -1, cv2.LINE_AA)
    noise = np.random.default_rng(1).normal(0, 6, photo.shape)
    inside = cv2.ellipse(np.zeros(photo.shape[:2], np.uint8), centre, axes, angle_deg, 0, 360, 1, -1) > 0
    goat[inside] = np.clip(goat[inside] + noise[inside], 0, 255).astype(np.uint8)
    return goat


def detection(view: str, points: dict[str, tuple[float, float]]) -> PoseDetection:
    kpts = np.zeros((len(VIEW_KEYPOINTS[view]), 3))
    kpts[:, 2] = 0.9
    for name, xy in points.items():
        kpts[VIEW_KEYPOINTS[view].index(name), :2] = xy
    return PoseDetection(np.array([0, 0, 639, 479], float), 0.9, kpts)


def test_withers_and_sternum_a_few_pixels_inside_the_chest_move_out_onto_its_top_and_bottom():
    # The chest seen from the side: top edge at y = 170, bottom edge at y = 310.
    photo = with_goat(barn_photo(), (320, 240), (150, 70), 0)
    found = detection("side", {"withers": (300, 177), "sternum": (305, 302), "hip": (420, 180)})
    moved = snap_to_outline(photo, found, "side")
    names = VIEW_KEYPOINTS["side"]
    withers, sternum, hip = (moved.keypoints[names.index(n)] for n in ("withers", "sternum", "hip"))
    assert withers[0] == pytest.approx(300, abs=0.5) and withers[1] == pytest.approx(169.5, abs=1.0)
    assert sternum[0] == pytest.approx(305, abs=0.5) and sternum[1] == pytest.approx(310.5, abs=1.0)
    np.testing.assert_allclose(hip, found.keypoints[names.index("hip")])  # not an outline keypoint
    np.testing.assert_allclose(moved.across_outline[names.index("withers")], [0, -1], atol=0.05)
    np.testing.assert_allclose(moved.across_outline[names.index("sternum")], [0, 1], atol=0.05)
    assert np.isnan(moved.across_outline[names.index("hip")]).all()


def test_shoulders_of_a_goat_standing_askew_move_onto_its_sides_along_their_own_line():
    # Seen from above, the goat's long axis 30 degrees off the image's rows; chest half-width 45 px.
    angle = np.radians(30)
    centre = np.array([320.0, 240.0])
    across = np.array([-np.sin(angle), np.cos(angle)])  # from the right side to the left
    photo = with_goat(barn_photo(2), (320, 240), (160, 45), 30)
    found = detection("top", {"shoulder_left": centre + 39 * across + [2, 1], "shoulder_right": centre - 51 * across})
    moved = snap_to_outline(photo, found, "top")
    names = VIEW_KEYPOINTS["top"]
    for name, sign in (("shoulder_left", 1), ("shoulder_right", -1)):
        reach = (moved.keypoints[names.index(name), :2] - centre) @ (sign * across)
        assert reach == pytest.approx(45, abs=1.0), name


def test_the_sternum_moves_past_the_shaded_underside_of_the_chest_to_its_bottom():
    # Lit from above, the chest's underside is the same coat in shade: from y = 290 down to its
    # bottom edge at y = 310 it is a third as bright, and its hue is the coat's own.
    photo = with_goat(barn_photo(), (320, 240), (150, 70), 0)
    underside = (np.arange(480)[:, None] >= 290) & (np.abs(np.arange(640) - 320) < 140)[None, :]
    underside &= photo.astype(int).sum(axis=2) > 500  # the coat, not the floor
    photo[underside] = (photo[underside] / 3).astype(np.uint8)
    found = detection("side", {"withers": (300, 177), "sternum": (305, 300)})
    moved = snap_to_outline(photo, found, "side")
    sternum = moved.keypoints[VIEW_KEYPOINTS["side"].index("sternum")]
    assert sternum[1] == pytest.approx(310.5, abs=1.0)


def test_a_change_of_brightness_alone_loses_to_a_change_of_colour_further_out():
    colours = np.full((45, 3), (100.0, 90.0, 85.0))  # the keypoint is sample 22: lit coat
    colours[20:] = (25.0, 22.5, 21.25)  # the same coat in shade, 2 samples in
    colours[32:] = (40.0, 60.0, 75.0)  # the floor, 10 samples out
    edge = strongest_edge(colours, VIEW_SETTINGS["side"])
    assert edge.offset_px == pytest.approx(9.5, abs=0.3)


def test_a_keypoint_stays_where_the_model_put_it_when_the_photo_shows_no_edge():
    found = detection("side", {"withers": (300, 177), "sternum": (305, 302)})
    coat = np.random.default_rng(3).normal((190, 200, 205), 4, (480, 640, 3))  # sensor noise only
    moved = snap_to_outline(np.clip(coat, 0, 255).astype(np.uint8), found, "side")
    np.testing.assert_array_equal(moved.keypoints, found.keypoints)
    assert np.isnan(moved.across_outline).all()


def test_of_two_equal_edges_the_one_nearer_the_models_keypoint_is_the_outline():
    colours = np.full((33, 3), 50.0)  # the keypoint is sample 16
    colours[4:] = 120.0  # an edge 12 samples in
    colours[19:] = 190.0  # an edge as strong 3 samples out
    edge = strongest_edge(colours)
    assert edge.offset_px == pytest.approx(2.5, abs=0.3) and edge.contrast > 2


def test_after_the_closeup_model_a_shoulders_outline_beats_a_stronger_rail_edge_further_out():
    """The close-up model puts a shoulder about a pixel from the outline; a rail's edge 7 px
    further out and 2.5 times as strong takes the outline step searching as far as the top
    model misses, and not as far as the close-up model does."""
    colours = np.full((33, 3), (110.0, 115.0, 120.0))  # the keypoint is sample 16: a grey coat
    colours[18:] = (40.0, 90.0, 95.0)  # the floor, 1.5 samples out: the outline
    colours[25:] = (230.0, 60.0, 40.0)  # a painted rail beyond: a change 2.5 times as strong
    assert strongest_edge(colours, VIEW_SETTINGS["top"]).offset_px == pytest.approx(8.5, abs=0.3)
    assert strongest_edge(colours, CLOSEUP_SETTINGS).offset_px == pytest.approx(1.5, abs=0.3)


def test_the_front_view_keeps_its_keypoints():
    assert "front" not in OUTLINE_PAIRS  # its shoulders hide behind the head
    photo = with_goat(barn_photo(), (320, 240), (150, 70), 0)
    found = detection("front", {"shoulder_left": (320, 177), "shoulder_right": (320, 302)})
    assert snap_to_outline(photo, found, "front") is found


def test_top_shoulders_precise_across_the_chest_decide_its_width_over_a_front_view_that_misses():
    goat, keypoints = simulated(15)
    truth_cm = float(np.linalg.norm(goat.landmarks_cm["shoulder_left"] - goat.landmarks_cm["shoulder_right"]))
    top, front = keypoints["top"], keypoints["front"]
    miss = front["shoulder_left"]
    front["shoulder_left"] = Keypoint(miss.x_px + 6, miss.y_px)  # the front model 6 px out
    plain = measure(keypoints, CALIBRATION).measurements["chest_width_cm"]
    left, right = top["shoulder_left"], top["shoulder_right"]
    outward = np.array([left.x_px - right.x_px, left.y_px - right.y_px])
    outward /= np.linalg.norm(outward)
    top["shoulder_left"] = Keypoint(left.x_px, left.y_px, 1.0, tuple(outward))
    top["shoulder_right"] = Keypoint(right.x_px, right.y_px, 1.0, tuple(-outward))
    precise = measure(keypoints, CALIBRATION).measurements["chest_width_cm"]
    assert abs(plain - truth_cm) > 0.02 * truth_cm  # the miss shows without the outline
    assert abs(precise - truth_cm) < 0.005 * truth_cm


def test_views_that_disagree_are_still_refused_when_one_of_them_is_on_the_outline():
    _, keypoints = simulated(15)
    left = keypoints["top"]["shoulder_left"]
    keypoints["top"]["shoulder_left"] = Keypoint(left.x_px, left.y_px, 1.0, (0.0, -1.0))
    miss = keypoints["front"]["shoulder_left"]
    keypoints["front"]["shoulder_left"] = Keypoint(miss.x_px + 80, miss.y_px)
    result = measure(keypoints, CALIBRATION)
    assert result.measurements["chest_width_cm"] is None
    assert "view disagrees with the others" in result.reasons["chest_width_cm"]


def across_outline_misses(closeups: bool) -> tuple[list[float], list[float]]:
    """How far the outline keypoints of a few rendered captures are from the truth across
    the outline, px: as the shipped models read them, and after the outline step."""
    before, after = [], []
    with (
        NcnnDetector(ModelsConfig(dir="models", snap_to_outline=False, closeups=closeups)) as plain,
        NcnnDetector(ModelsConfig(dir="models", closeups=closeups)) as snapping,
    ):
        for seed in range(9_000_000_010, 9_000_000_016):
            capture = simulate_capture(seed)
            for view, pairs in OUTLINE_PAIRS.items():
                image = capture.images[view]
                found = plain.detect(view, image)
                snapped = snapping.detect(view, image)
                np.testing.assert_array_equal(
                    snapped.goats[0].keypoints, snapping.snap(image, found).goats[0].keypoints
                )
                truth = capture.labels[view][0].keypoints.keypoints
                names = VIEW_KEYPOINTS[view]
                for name, partner in pairs:
                    i, j = names.index(name), names.index(partner)
                    model = found.goats[0].keypoints
                    outward = (model[i, :2] - model[j, :2]) / np.linalg.norm(model[i, :2] - model[j, :2])
                    before.append(abs((model[i, :2] - truth[i, :2]) @ outward))
                    after.append(abs((snapped.goats[0].keypoints[i, :2] - truth[i, :2]) @ outward))
    return before, after


@pytest.mark.slow
def test_on_rendered_captures_the_view_models_keypoints_land_nearer_the_outline():
    before, after = across_outline_misses(closeups=False)
    # Across the outline the view models miss by a few pixels; the photo's edge is about one.
    assert np.median(after) < 0.5 * np.median(before), (np.round(before, 1), np.round(after, 1))
    assert np.median(after) < 1.5


@pytest.mark.slow
def test_after_the_closeup_model_the_outline_keypoints_stay_within_a_pixel_of_the_outline():
    """The close-up model already reads them to about a pixel; the outline step, weighing
    edges by that smaller miss, does not move them off it."""
    before, after = across_outline_misses(closeups=True)
    assert np.median(before) < 1.5
    assert np.median(after) <= np.median(before) and np.median(after) < 1.0, np.round(after, 1)
