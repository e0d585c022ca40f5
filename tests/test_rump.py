"""The top photo's rump read again from a full-resolution crop: the crop, its training set,
and what the detector does with it."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge.detect.detector import PoseDetector
from edge.detect.ncnn_pose import ModelFileError
from edge.detect.rump import RUMP_KEYPOINTS, crop, rump_window
from edge.keypoints import VIEW_KEYPOINTS
from edge.sim.capture import simulate_capture
from edge.sim.dataset import make_dataset
from edge.sim.rump_dataset import rump_example

ROOT = Path(__file__).resolve().parents[1]


def photo_with_spot(x_px: float, y_px: float, sigma_px: float = 3.0) -> np.ndarray:
    """A round spot of light centred on (x, y), in pixel-centre coordinates."""
    ys, xs = np.mgrid[:960, :1280]
    light = 255 * np.exp(-((xs - x_px) ** 2 + (ys - y_px) ** 2) / (2 * sigma_px ** 2))
    return np.repeat(light[..., None], 3, axis=2).astype(np.float32)


@pytest.mark.parametrize("spread_px", [100.0, 300.0])  # the crop at the photo's scale, and shrunk
def test_a_crop_shows_a_photo_pixel_where_the_window_says(spread_px):
    points = np.array([[600.0, 400.0], [600.0 + spread_px, 400.0 + spread_px / 2]])
    window = rump_window(points, 256)
    spot_x, spot_y = 640.3, 430.6
    seen = crop(photo_with_spot(spot_x, spot_y), window).astype(float).sum(axis=2)
    ys, xs = np.mgrid[:256, :256]
    # The spot's centre in the crop, from pixel centres to the window's outer-edge convention.
    found = np.array([(seen * xs).sum(), (seen * ys).sum()]) / seen.sum() + 0.5
    assert np.allclose(found, window.to_crop([spot_x + 0.5, spot_y + 0.5]), atol=0.05)
    assert np.allclose(window.to_photo(window.to_crop([spot_x, spot_y])), [spot_x, spot_y])


def test_the_crop_is_never_finer_than_the_photo_and_grows_with_a_bigger_rump():
    small = rump_window(np.array([[0.0, 0.0], [50.0, 40.0]]), 256)
    big = rump_window(np.array([[0.0, 0.0], [400.0, 100.0]]), 256)
    assert small.side_px == 256 and small.gain == 1.0
    assert big.side_px == pytest.approx(1.6 * 400) and big.gain < 1


@pytest.fixture(scope="module")
def rump_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("rump") / "set"
    summary = make_dataset(out, "rump", 4, seed=11, scale=1.0, workers=2, val_fraction=0.25)
    return out, summary


def test_a_rump_training_set_labels_the_six_rump_keypoints_in_256_px_crops(rump_set):
    out, summary = rump_set
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["kpt_shape"] == [6, 3]
    assert [RUMP_KEYPOINTS[i] for i in data["flip_idx"]] == [
        "hip", "tail_head", "hook_right", "hook_left", "pin_right", "pin_left"]
    assert summary.empty == 0
    labels = sorted(out.glob("labels/*/*.txt"))
    assert len(labels) == 4
    for label in labels:
        image = cv2.imread(str(label.parent.parent.parent / "images" / label.parent.name / f"{label.stem}.jpg"))
        assert image.shape == (256, 256, 3)
        values = np.array(label.read_text().split(), float)
        assert len(values) == 5 + 3 * 6
        keypoints = values[5:].reshape(6, 3)
        assert (keypoints[:, 2] > 0).all() and ((keypoints[:, :2] > 0) & (keypoints[:, :2] < 1)).all()


def test_each_label_points_at_the_goats_rump_in_its_crop():
    """The goat mask cropped the way the photo was: every labelled keypoint lies on the goat
    (the pin bones on its outline, where the cropped mask is partly goat), and the crop is
    the photo's own pixels there."""
    for seed in (3, 4, 5):
        capture = simulate_capture(seed, views=("top",))
        example = rump_example(capture.images["top"], capture.labels["top"][0].keypoints.keypoints,
                               np.random.default_rng(seed))
        on_goat = crop(capture.masks["top"][..., None].repeat(3, axis=2) * 255, example.window)[..., 0] > 0
        keypoints = np.array(example.label_line.split()[5:], float).reshape(6, 3)
        for x, y, _ in keypoints:
            assert on_goat[int(y * 256), int(x * 256)]
        photo = cv2.imdecode(np.frombuffer(example.jpeg, np.uint8), cv2.IMREAD_COLOR).astype(float)
        assert np.abs(photo - crop(capture.images["top"], example.window)).mean() < 3  # JPEG's loss only


def test_a_farms_labelled_top_photos_give_the_rump_models_crops(tmp_path):
    """The farm's top labels stand in here as a small simulated top set at full resolution."""
    top = tmp_path / "top"
    make_dataset(top, "top", 3, seed=12, scale=1.0, workers=1, val_fraction=0.34, empty_fraction=0.0)
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_dataset.py"), "--view", "rump",
                           "--from-top", str(top / "data.yaml"), "--out", str(tmp_path / "rump")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "3 rump crops" in done.stdout
    assert yaml.safe_load((tmp_path / "rump" / "data.yaml").read_text())["kpt_shape"] == [6, 3]
    for label in (top / "labels").rglob("*.txt"):
        photo = cv2.imread(str(top / "images" / label.parent.name / f"{label.stem}.jpg"))
        crop_label = tmp_path / "rump" / "labels" / label.parent.name / f"rump_{label.stem}_0.txt"
        crop_image = cv2.imread(str(crop_label).replace("/labels/", "/images/").replace(".txt", ".jpg"))
        # Where the top label puts the hooks, the crop's label does too, through one window.
        top_kpts = np.array(label.read_text().split()[5:], float).reshape(10, 3)
        rump_kpts = np.array(crop_label.read_text().split()[5:], float).reshape(6, 3)
        w, h = photo.shape[1], photo.shape[0]
        in_photo = top_kpts[[VIEW_KEYPOINTS["top"].index(n) for n in RUMP_KEYPOINTS], :2] * [w, h]
        gain = np.ptp(rump_kpts[:, 0] * 256) / np.ptp(in_photo[:, 0])
        origin = in_photo - rump_kpts[:, :2] * 256 / gain
        assert np.ptp(origin, axis=0).max() < 0.01 and crop_image.shape == (256, 256, 3)


def test_a_top_set_with_other_keypoints_is_refused_by_name(tmp_path):
    bad = tmp_path / "data.yaml"
    bad.write_text(yaml.safe_dump({"path": str(tmp_path), "train": "images", "val": "images", "kpt_shape": [9, 3]}))
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_dataset.py"), "--view", "rump",
                           "--from-top", str(bad), "--out", str(tmp_path / "rump")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "kpt_shape is [9, 3], but top photos have [10, 3]" in done.stderr


def test_the_rump_set_is_refused_at_any_scale_but_the_photos_own(tmp_path):
    with pytest.raises(ValueError, match="full-resolution top photo: scale must be 1"):
        make_dataset(tmp_path / "half", "rump", 2, seed=1, scale=0.5)


def test_a_models_folder_without_the_rump_model_is_named_with_the_way_out(tmp_path):
    for view in ("side", "top", "front"):
        shutil.copytree(ROOT / "models" / view, tmp_path / view)
    with pytest.raises(ModelFileError, match="rump model not found; without it, turn models.rump_crop off"):
        PoseDetector(tmp_path)
    with PoseDetector(tmp_path, rump_crop=False) as detector:
        assert set(detector.models) == {"side", "top", "front"}




def test_the_detector_reads_the_top_views_rump_keypoints_from_the_rump_model():
    """The top view's hip, tail head, hooks and pins are the rump model's, found in the crop
    around the top model's rump and put back in the photo; its other keypoints stay."""
    from edge.detect.detector import _ULTRALYTICS_TO_CALIBRATION_PX
    from edge.detect.rump import TOP_RUMP_INDEX

    photo = simulate_capture(9_100_000_000).images["top"]
    with PoseDetector(ROOT / "models", snap_to_outline=False) as detector:
        top_alone = detector.models["top"].predict(photo, fuse_iou=detector.fuse_iou)[0]
        window = rump_window(top_alone.keypoints[TOP_RUMP_INDEX, :2], detector.models["rump"].info.input_px)
        rump = detector.models["rump"].predict(crop(photo, window), fuse_iou=detector.fuse_iou)[0]
        read = detector.detect("top", photo).goats[0].keypoints
    expected = window.to_photo(rump.keypoints[:, :2]) + _ULTRALYTICS_TO_CALIBRATION_PX
    np.testing.assert_allclose(read[TOP_RUMP_INDEX, :2], expected, atol=1e-6)
    others = [i for i in range(len(read)) if i not in TOP_RUMP_INDEX]
    np.testing.assert_allclose(read[others, :2], top_alone.keypoints[others, :2] + _ULTRALYTICS_TO_CALIBRATION_PX,
                               atol=1e-6)
    assert np.abs(read[TOP_RUMP_INDEX, :2] - top_alone.keypoints[TOP_RUMP_INDEX, :2]).max() > 0.5
