"""The top photo's rump and chest read again from full-resolution crops: the crops, their
training set, and what the detector does with them."""
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
from edge.detect.closeup import CLOSEUP_KEYPOINTS, REGIONS, closeup_window, crop
from edge.keypoints import VIEW_KEYPOINTS
from edge.sim.capture import simulate_capture
from edge.sim.dataset import make_dataset
from edge.sim.closeup_dataset import closeup_examples

ROOT = Path(__file__).resolve().parents[1]


def photo_with_spot(x_px: float, y_px: float, sigma_px: float = 3.0) -> np.ndarray:
    """A round spot of light centred on (x, y), in pixel-centre coordinates."""
    ys, xs = np.mgrid[:960, :1280]
    light = 255 * np.exp(-((xs - x_px) ** 2 + (ys - y_px) ** 2) / (2 * sigma_px ** 2))
    return np.repeat(light[..., None], 3, axis=2).astype(np.float32)


@pytest.mark.parametrize("spread_px", [100.0, 300.0])  # the crop at the photo's scale, and shrunk
def test_a_crop_shows_a_photo_pixel_where_the_window_says(spread_px):
    points = np.array([[600.0, 400.0], [600.0 + spread_px, 400.0 + spread_px / 2]])
    window = closeup_window(points, 256)
    spot_x, spot_y = 640.3, 430.6
    seen = crop(photo_with_spot(spot_x, spot_y), window).astype(float).sum(axis=2)
    ys, xs = np.mgrid[:256, :256]
    # The spot's centre in the crop, from pixel centres to the window's outer-edge convention.
    found = np.array([(seen * xs).sum(), (seen * ys).sum()]) / seen.sum() + 0.5
    assert np.allclose(found, window.to_crop([spot_x + 0.5, spot_y + 0.5]), atol=0.05)
    assert np.allclose(window.to_photo(window.to_crop([spot_x, spot_y])), [spot_x, spot_y])


def test_the_crop_is_never_finer_than_the_photo_and_grows_with_a_bigger_goat():
    small = closeup_window(np.array([[0.0, 0.0], [50.0, 40.0]]), 256)
    big = closeup_window(np.array([[0.0, 0.0], [400.0, 100.0]]), 256)
    assert small.side_px == 256 and small.gain == 1.0
    assert big.side_px == pytest.approx(1.6 * 400) and big.gain < 1



@pytest.fixture(scope="module")
def closeup_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("closeup") / "set"
    summary = make_dataset(out, "closeup", 4, seed=11, scale=1.0, workers=2, val_fraction=0.25)
    return out, summary


def label_keypoints(label_text: str) -> np.ndarray:
    values = np.array(label_text.split(), float)
    assert len(values) == 5 + 3 * len(CLOSEUP_KEYPOINTS)
    return values[5:].reshape(-1, 3)


def test_a_closeup_training_set_has_a_rump_and_a_chest_crop_of_each_goat(closeup_set):
    out, summary = closeup_set
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["kpt_shape"] == [8, 3]
    assert [CLOSEUP_KEYPOINTS[i] for i in data["flip_idx"]] == [
        "hip", "tail_head", "hook_right", "hook_left", "pin_right", "pin_left", "shoulder_right", "shoulder_left"]
    assert summary.empty == 0 and summary.goat_labels == 8
    labels = sorted(out.glob("labels/*/*.txt"))
    assert len(labels) == 8
    for region in REGIONS:
        crops = [p for p in labels if p.stem.startswith(f"closeup_{region.name}_")]
        assert len(crops) == 4
        for label in crops:
            image = cv2.imread(str(label.parent.parent.parent / "images" / label.parent.name / f"{label.stem}.jpg"))
            assert image.shape == (256, 256, 3)
            keypoints = label_keypoints(label.read_text())
            # The region's own keypoints are labelled inside the crop; the other region's are not there.
            own = keypoints[region.closeup_index]
            assert (own[:, 2] > 0).all() and ((own[:, :2] > 0) & (own[:, :2] < 1)).all()
            others = np.delete(keypoints, region.closeup_index, axis=0)
            assert (others == 0).all()


def test_the_chest_crops_box_is_a_square_around_both_shoulders(closeup_set):
    """Two shoulders in a line would make a box with no height, which Ultralytics' keypoint
    loss cannot use; the chest's box is the square of their spread."""
    out, _ = closeup_set
    for label in out.glob("labels/*/closeup_chest_*.txt"):
        values = np.array(label.read_text().split(), float)
        cx, cy, w, h = values[1:5]
        shoulders = label_keypoints(label.read_text())[[CLOSEUP_KEYPOINTS.index("shoulder_left"),
                                                       CLOSEUP_KEYPOINTS.index("shoulder_right")], :2]
        assert w == pytest.approx(h, abs=1e-5)
        assert ((shoulders > [cx - w / 2, cy - h / 2]) & (shoulders < [cx + w / 2, cy + h / 2])).all()
        assert w >= np.ptp(shoulders, axis=0).max()


def test_each_label_points_at_the_goat_in_its_crop():
    """The goat mask cropped the way the photo was: every labelled keypoint lies on the goat
    (the pin bones and shoulders on its outline, where the cropped mask is partly goat), and
    the crop is the photo's own pixels there."""
    for seed in (3, 4, 5):
        capture = simulate_capture(seed, views=("top",))
        examples = closeup_examples(capture.images["top"], capture.labels["top"][0].keypoints.keypoints, seed)
        assert [e.region for e in examples] == ["rump", "chest"]
        for example in examples:
            on_goat = crop(capture.masks["top"][..., None].repeat(3, axis=2) * 255, example.window)[..., 0] > 0
            for x, y, v in label_keypoints(example.label_line):
                if v > 0:
                    assert on_goat[int(y * 256), int(x * 256)]
            photo = cv2.imdecode(np.frombuffer(example.jpeg, np.uint8), cv2.IMREAD_COLOR).astype(float)
            assert np.abs(photo - crop(capture.images["top"], example.window)).mean() < 3  # JPEG's loss only


def test_a_farms_labelled_top_photos_give_the_closeup_models_crops(tmp_path):
    """The farm's top labels stand in here as a small simulated top set at full resolution."""
    top = tmp_path / "top"
    make_dataset(top, "top", 3, seed=12, scale=1.0, workers=1, val_fraction=0.34, empty_fraction=0.0)
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_dataset.py"), "--view", "closeup",
                           "--from-top", str(top / "data.yaml"), "--out", str(tmp_path / "closeup")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "6 close-up crops" in done.stdout
    assert yaml.safe_load((tmp_path / "closeup" / "data.yaml").read_text())["kpt_shape"] == [8, 3]
    for label in (top / "labels").rglob("*.txt"):
        photo = cv2.imread(str(top / "images" / label.parent.name / f"{label.stem}.jpg"))
        top_kpts = np.array(label.read_text().split()[5:], float).reshape(10, 3)
        w, h = photo.shape[1], photo.shape[0]
        for region in REGIONS:
            crop_label = tmp_path / "closeup" / "labels" / label.parent.name / f"closeup_{region.name}_{label.stem}_0.txt"
            crop_image = cv2.imread(str(crop_label).replace("/labels/", "/images/").replace(".txt", ".jpg"))
            # Where the top label puts the region's keypoints, the crop's label does too, through one window.
            in_photo = top_kpts[region.top_index, :2] * [w, h]
            in_crop = label_keypoints(crop_label.read_text())[region.closeup_index, :2] * 256
            gain = np.ptp(in_crop[:, 0]) / np.ptp(in_photo[:, 0])
            origin = in_photo - in_crop / gain
            assert np.ptp(origin, axis=0).max() < 0.01 and crop_image.shape == (256, 256, 3)


def test_a_top_set_with_other_keypoints_is_refused_by_name(tmp_path):
    bad = tmp_path / "data.yaml"
    bad.write_text(yaml.safe_dump({"path": str(tmp_path), "train": "images", "val": "images", "kpt_shape": [9, 3]}))
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_dataset.py"), "--view", "closeup",
                           "--from-top", str(bad), "--out", str(tmp_path / "closeup")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "kpt_shape is [9, 3], but top photos have [10, 3]" in done.stderr


def test_the_closeup_set_is_refused_at_any_scale_but_the_photos_own(tmp_path):
    with pytest.raises(ValueError, match="full-resolution top photo: scale must be 1"):
        make_dataset(tmp_path / "half", "closeup", 2, seed=1, scale=0.5)


def test_a_models_folder_without_the_closeup_model_is_named_with_the_way_out(tmp_path):
    for view in ("side", "top", "front"):
        shutil.copytree(ROOT / "models" / view, tmp_path / view)
    with pytest.raises(ModelFileError, match="close-up model not found; without it, turn models.closeups off"):
        PoseDetector(tmp_path)
    with PoseDetector(tmp_path, closeups=False) as detector:
        assert set(detector.models) == {"side", "top", "front"}


def test_the_detector_reads_the_top_views_rump_and_shoulders_from_the_closeup_model():
    """The top view's hip, tail head, hooks, pins and shoulders are the close-up model's,
    found in the crops around the top model's rump and chest and put back in the photo;
    its other keypoints stay."""
    from edge.detect.detector import _ULTRALYTICS_TO_CALIBRATION_PX

    photo = simulate_capture(9_100_000_000).images["top"]
    with PoseDetector(ROOT / "models", snap_to_outline=False) as detector:
        closeup = detector.models["closeup"]
        top_alone = detector.models["top"].predict(photo, fuse_iou=detector.fuse_iou)[0]
        read = detector.detect("top", photo).goats[0].keypoints
        replaced = []
        for region in REGIONS:
            window = closeup_window(top_alone.keypoints[region.top_index, :2], closeup.info.input_px)
            found = closeup.predict(crop(photo, window), fuse_iou=detector.fuse_iou)[0]
            expected = window.to_photo(found.keypoints[region.closeup_index, :2]) + _ULTRALYTICS_TO_CALIBRATION_PX
            np.testing.assert_allclose(read[region.top_index, :2], expected, atol=1e-6)
            assert np.abs(read[region.top_index, :2] - top_alone.keypoints[region.top_index, :2]).max() > 0.5
            replaced += region.top_index
    others = [i for i in range(len(read)) if i not in replaced]
    assert [VIEW_KEYPOINTS["top"][i] for i in others] == ["withers", "nose"]
    np.testing.assert_allclose(read[others, :2], top_alone.keypoints[others, :2] + _ULTRALYTICS_TO_CALIBRATION_PX,
                               atol=1e-6)
