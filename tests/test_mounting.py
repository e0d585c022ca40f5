"""A farm mounts its cameras its own way, and calibration.json says how: the top camera turned
by quarter turns, the side camera on the other side of the chute. The goat measures as it
would with the cameras mounted as docs/calibration.md draws them."""

from __future__ import annotations

import numpy as np
import pytest

from edge.config import ModelsConfig
from edge.detect.detector import NcnnDetector
from edge.detect.orientation import orientation_of
from edge.geometry.calibration import default_calibration
from edge.geometry.lens import Lens
from edge.measurements import LENGTHS
from edge.pipeline.from_images import measure_images
from edge.sim.capture import simulate_capture
from edge.sim.mounting import across_the_chute, turned, with_camera

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
