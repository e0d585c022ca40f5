"""A farm mounts its cameras its own way, and calibration.json says how: the top camera turned
by quarter turns, the side camera on the other side of the chute, a camera higher, lower or
off to one side and aimed at the goat. The goat measures as it would with the cameras
mounted as docs/calibration.md draws them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge.config import ModelsConfig
from edge.detect.detector import NcnnDetector
from edge.detect.orientation import orientation_of
from edge.detect.viewpoint import Viewpoint, needs_warp, reference_plane
from edge.geometry.calibration import default_calibration
from edge.geometry.lens import Lens
from edge.measurements import LENGTHS
from edge.pipeline.from_images import measure_images
from edge.sim.capture import simulate_capture
from edge.sim.mounting import across_the_chute, moved_mountings, turned, with_camera
from edge.training.camera_jitter import CAMERA_VARIANTS, camera_variant

CANONICAL = default_calibration()


def side_from_the_other_side() -> Lens:
    return across_the_chute(CANONICAL["side"])


def percent_errors(result, truth: dict[str, float]) -> dict[str, float]:
    return {name: 100 * (result.measurements[name] - truth[name]) / truth[name] for name in LENGTHS}


@pytest.fixture(scope="module")
def detector():
    with NcnnDetector(ModelsConfig()) as d:
        yield d


@pytest.mark.parametrize("quarter_turns", [1, 2, 3])
def test_the_orientation_found_from_calibration_turns_the_photo_back(quarter_turns):
    top = turned(CANONICAL["top"], quarter_turns)
    orientation = orientation_of(top, CANONICAL["top"])
    assert (orientation.quarter_turns, orientation.mirrored) == (quarter_turns, False)
    # Every photo pixel lands where the turned image shows it, and maps back exactly.
    photo = np.random.default_rng(quarter_turns).integers(0, 255, (960, 1280, 3), np.uint8)
    upright = orientation.to_canonical(photo)
    xy = np.array([[0.0, 0.0], [1279.0, 0.0], [17.0, 903.0], [640.0, 480.0]])
    moved = xy @ orientation.matrix[:2, :2].T + orientation.matrix[:2, 2]
    for (x, y), (u, v) in zip(xy.astype(int), moved.round().astype(int), strict=True):
        assert (upright[v, u] == photo[y, x]).all()
    assert orientation_of(CANONICAL["top"], CANONICAL["top"]).is_identity


def test_in_a_chute_built_the_other_way_round_every_view_is_read_as_a_mirror_image():
    calibration = with_camera(CANONICAL, side_from_the_other_side())
    assert calibration.mirrored_chute and not CANONICAL.mirrored_chute
    for view in ("side", "top", "front"):
        orientation = orientation_of(calibration[view], CANONICAL[view], mirrored_chute=True)
        assert orientation.mirrored, view
        assert not orientation_of(CANONICAL[view], CANONICAL[view]).mirrored


@pytest.mark.parametrize(
    "quarter_turns", [1, pytest.param(2, marks=pytest.mark.slow), pytest.param(3, marks=pytest.mark.slow)]
)
def test_a_top_camera_turned_by_quarter_turns_measures_as_the_standard_mounting(detector, quarter_turns):
    """The same goat in the same barn: the top photo from the turned camera is the scene
    turned, and every measurement comes out as with the standard mounting."""
    calibration = with_camera(CANONICAL, turned(CANONICAL["top"], quarter_turns))
    for seed in (21, 22):
        standard = simulate_capture(seed)
        top = simulate_capture(seed, calibration, views=("top",)).images["top"]
        assert top.shape == standard.images["top"].shape
        ours = measure_images({**standard.images, "top": top}, calibration, detector)
        theirs = measure_images(standard.images, CANONICAL, detector)
        assert ours.gate.status == "ok", ours.gate.reason
        for name in LENGTHS:
            assert ours.result.measurements[name] == pytest.approx(theirs.result.measurements[name], rel=0.02), (
                seed,
                name,
            )


@pytest.mark.slow
def test_a_side_camera_on_the_other_side_of_the_chute_measures_within_the_standard_error(detector):
    """The chute built the other way round (its open side, and the side camera, at -y): the
    side camera sees the goat's right flank. Every capture measures, and the errors against
    the truth are those of the standard mounting (the barn is mirrored, so its light falls
    from the other side and the photos differ: compared over several goats)."""
    calibration = with_camera(CANONICAL, side_from_the_other_side())
    errors = {"standard": [], "other side": []}
    for seed in (31, 32, 33, 34):
        for mounting, calib, mirrored in (("standard", CANONICAL, False), ("other side", calibration, True)):
            capture = simulate_capture(seed, calib, mirrored_chute=mirrored)
            result = measure_images(capture.images, calib, detector)
            assert result.gate.status == "ok", (mounting, seed, result.gate.reason)
            assert all(result.result.measurements[n] is not None for n in LENGTHS), result.result.reasons
            errors[mounting] += list(percent_errors(result.result, capture.truth[0]).values())
    mape = {mounting: float(np.mean(np.abs(e))) for mounting, e in errors.items()}
    assert mape["other side"] <= mape["standard"] + 1.0, mape
    assert mape["other side"] <= 3.0, mape


def test_only_cameras_mounted_beyond_what_the_models_learnt_are_re_projected():
    """Turned or mirrored cameras and the training's own camera jitter are read as taken; a
    camera moved well off its place is re-projected."""
    for view in ("side", "top", "front"):
        assert not needs_warp(CANONICAL[view], CANONICAL[view])
        for variant in range(1, CAMERA_VARIANTS):
            assert not needs_warp(camera_variant(variant)[view], CANONICAL[view]), (view, variant)
    for quarter_turns in (1, 2, 3):
        assert not needs_warp(turned(CANONICAL["top"], quarter_turns), CANONICAL["top"])
    assert not needs_warp(side_from_the_other_side(), CANONICAL["side"], mirrored_chute=True)
    for name, calibration in moved_mountings(CANONICAL).items():
        moved = [v for v in ("side", "top", "front") if needs_warp(calibration[v], CANONICAL[v])]
        assert len(moved) == 1 and moved[0] in name, name


@pytest.mark.parametrize("name", list(moved_mountings(CANONICAL)))
def test_a_re_projected_photo_shows_the_chute_centre_where_the_canonical_camera_sees_it(name):
    """Points where the goat stands (the plane across the chute's centre facing the camera)
    appear in the re-projected photo at the canonical camera's pixels, and keypoints found
    there map back to the photo's pixels that show them."""
    calibration = moved_mountings(CANONICAL)[name]
    view = next(v for v in ("side", "top", "front") if needs_warp(calibration[v], CANONICAL[v]))
    viewpoint = Viewpoint(calibration[view], CANONICAL[view], mirrored=False)
    point, normal = reference_plane(CANONICAL[view])
    rng = np.random.default_rng(7)
    # Points on the plane, within 40 cm of its centre: the goat's flank, back or chest.
    along = np.linalg.svd(normal[None, :])[2][1:]
    on_plane = point + rng.uniform(-40, 40, (50, 2)) @ along
    canonical_px, _ = CANONICAL[view].project(on_plane)
    photo_px, _ = calibration[view].project(on_plane)
    assert np.abs(viewpoint.photo_px(canonical_px) - photo_px).max() < 1e-6
    # The re-projected image takes each of those pixels from the photo's (interpolated grid).
    photo = rng.integers(0, 255, (960, 1280), np.uint8)
    photo = cv2.GaussianBlur(photo, (0, 0), 3)  # smooth, so that a pixel's neighbours tell
    seen = viewpoint.to_canonical(photo)
    for (u, v), (x, y) in zip(canonical_px.round().astype(int), viewpoint.photo_px(canonical_px.round())):
        assert abs(float(seen[v, u]) - float(cv2.getRectSubPix(photo, (1, 1), (x, y))[0, 0])) <= 1.0


@pytest.mark.slow
@pytest.mark.parametrize("name", list(moved_mountings(CANONICAL)))
def test_a_camera_mounted_well_off_its_place_and_calibrated_so_still_measures_each_goat(detector, name):
    """A camera 25 cm higher, lower or off to one side and aimed at the goat, beyond the
    camera positions the models learnt: its photos are re-projected, every capture
    measures, and the lengths given stay within a few per cent (over 30 goats the pooled
    MAPE is 1.4-1.8 % against the standard mounting's 1.1 %: benchmarks/RESULTS.md)."""
    calibration = moved_mountings(CANONICAL)[name]
    errors = []
    for seed in (51, 52, 53):
        capture = simulate_capture(seed, calibration)
        result = measure_images(capture.images, calibration, detector)
        assert result.gate.status == "ok", (seed, result.gate.reason)
        given = {n: result.result.measurements[n] for n in LENGTHS if result.result.measurements[n] is not None}
        # A landmark the views place too differently is left out with its reason, never guessed.
        assert all(result.result.reasons.get(n) for n in LENGTHS if n not in given)
        assert given, result.result.reasons
        errors += [abs(100 * (value - capture.truth[0][n]) / capture.truth[0][n]) for n, value in given.items()]
    assert np.mean(errors) <= 2.5, errors
