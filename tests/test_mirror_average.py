"""The top and front views are also read in their mirror image, and the two readings averaged.

A goat's mirror image across the chute is another goat with left and right swapped; the
side camera's would be a goat facing backwards, so that view is never mirrored.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edge.config import ModelsConfig
from edge.detect.detector import NcnnDetector
from edge.detect.mirror import FLIP_LEFT_RIGHT, FLIP_UP_DOWN, average_with_mirror, flip_image, mirror_axis, unflip
from edge.detect.types import PoseDetection
from edge.geometry.calibration import default_calibration
from edge.keypoints import VIEW_KEYPOINTS, flip_idx
from edge.sim.capture import simulate_capture


def goat(x0: float, y0: float, x1: float, y1: float, keypoints) -> PoseDetection:
    return PoseDetection(np.array([x0, y0, x1, y1], float), 0.9, np.asarray(keypoints, float))


def test_the_flip_follows_the_chute_across_each_camera_as_mounted():
    calibration = default_calibration()
    assert mirror_axis(calibration["side"], "side") is None
    assert mirror_axis(calibration["top"], "top") == FLIP_UP_DOWN  # the goat lies along the image's width
    assert mirror_axis(calibration["front"], "front") == FLIP_LEFT_RIGHT
    # The same top camera turned a quarter turn about its lens: the goat now lies along the height.
    quarter_turn = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    turned = dataclasses.replace(calibration["top"], R=quarter_turn @ calibration["top"].R)
    assert mirror_axis(turned, "top") == FLIP_LEFT_RIGHT


def test_a_detection_in_the_mirror_image_maps_back_with_left_and_right_restored():
    names = VIEW_KEYPOINTS["front"]
    left, right = names.index("shoulder_left"), names.index("shoulder_right")
    # In a 100 px wide mirrored photo the goat's left shoulder shows at x = 30 under the
    # right shoulder's name; in the photo itself it is at x = 70 under its own name.
    mirrored_kpts = np.zeros((len(names), 3))
    mirrored_kpts[right] = [30, 20, 0.9]
    mirrored_kpts[left] = [60, 22, 0.8]
    back = unflip(goat(10, 5, 40, 30, mirrored_kpts), FLIP_LEFT_RIGHT, (100, 50), flip_idx("front"))
    np.testing.assert_allclose(back.box_px, [60, 5, 90, 30])
    np.testing.assert_allclose(back.keypoints[left], [70, 20, 0.9])
    np.testing.assert_allclose(back.keypoints[right], [40, 22, 0.8])


def test_each_goat_is_averaged_with_its_own_mirror_reading_and_an_unmatched_one_kept():
    here = goat(0, 0, 10, 10, [[2, 2, 0.8]])
    there = goat(50, 0, 60, 10, [[52, 2, 0.9]])
    mirror_of_here = goat(1, 0, 11, 10, [[4, 4, 0.6]])
    averaged = average_with_mirror([here, there], [mirror_of_here])
    assert len(averaged) == 2  # the quality gate still sees both goats
    np.testing.assert_allclose(averaged[0].keypoints, [[3, 3, 0.7]])
    np.testing.assert_allclose(averaged[0].box_px, [0.5, 0, 10.5, 10])
    assert averaged[1] is there
    assert average_with_mirror([here], []) == [here]


@pytest.mark.parametrize("view", ["top", "front"])
def test_the_shipped_model_reads_the_mirror_image_as_the_same_goat(view):
    calibration = default_calibration()
    photo = simulate_capture(9_000_000_003, views=(view,)).images[view]
    axis = mirror_axis(calibration[view], view)
    with NcnnDetector(ModelsConfig(dir="models", mirror_average=False)) as detector:
        model = detector.models[view]
        direct = model.predict(photo)[0]
        mirrored = model.predict(flip_image(photo, axis))[0]
    h, w = photo.shape[:2]
    back = unflip(mirrored, axis, (w, h), flip_idx(view))
    apart_px = np.hypot(*(back.keypoints[:, :2] - direct.keypoints[:, :2]).T)
    # A few pixels of model error each way; a left-right mix-up would put the shoulders,
    # hooks and pins a whole body width (over 100 px) apart.
    assert np.median(apart_px) < 15 and apart_px.max() < 60, apart_px.round(1)


# The close-up model reads the top photo's rump and chest once each, from the (averaged) top
# reading, and the side photo's chest once.
@pytest.mark.parametrize(
    "mirror_average, reads",
    [(True, {"side": 1, "top": 2, "front": 2, "closeup": 3}), (False, {"side": 1, "top": 1, "front": 1, "closeup": 3})],
)
def test_with_mirror_averaging_on_the_top_and_front_photos_are_read_twice(monkeypatch, mirror_average, reads):
    calibration = default_calibration()
    capture = simulate_capture(9_000_000_003)
    with NcnnDetector(ModelsConfig(dir="models", mirror_average=mirror_average)) as detector:
        calls = {view: 0 for view in detector.models}
        for view, model in detector.models.items():
            original = model.predict

            def counted(image, *, _view=view, _original=original, **kw):
                calls[_view] += 1
                return _original(image, **kw)

            monkeypatch.setattr(model, "predict", counted)
        for view in ("side", "top", "front"):
            detector.detect(view, capture.images[view], calibration[view])
    assert calls == reads


def test_goat_edge_measure_with_mirror_averaging_measures_a_capture_to_its_truth(tmp_path, capsys):
    import json

    from edge.cli import main

    capture = tmp_path / "capture"
    assert main(["simulate", "--seed", "9000000003", "--out", str(capture)]) == 0
    capsys.readouterr()
    code = main(
        [
            "measure",
            *(f"--{v}={capture / f'{v}.jpg'}" for v in ("side", "top", "front")),
            "--calibration",
            str(capture / "calibration.json"),
            "--mirror-average",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["status"] == "ok", out
    truth = json.loads((capture / "truth.json").read_text())["goats"][0]["measurements"]
    for name in ("body_length_cm", "withers_height_cm", "rump_height_cm"):
        assert out["measurements"][name] == pytest.approx(truth[name], rel=0.05), name
