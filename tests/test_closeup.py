"""The top photo's rump and chest, and the side photo's chest, read again from
full-resolution crops: the crops, their training set, and what the detector does with them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from benchmarks.closeup_crops import LabelledCrop, labelled_crops, pair_misses
from edge.config import ModelsConfig
from edge.detect.closeup import CLOSEUP_KEYPOINTS, REGIONS, closeup_window, crop, regions_of
from edge.detect.detector import NcnnDetector
from edge.detect.ncnn_pose import ModelFileError, NcnnPoseModel
from edge.keypoints import VIEW_KEYPOINTS
from edge.sim.capture import simulate_capture
from edge.training.closeup_crops import closeup_examples
from edge.training.dataset import make_dataset

ROOT = Path(__file__).resolve().parents[1]


def photo_with_spot(x_px: float, y_px: float, sigma_px: float = 3.0) -> np.ndarray:
    """A round spot of light centred on (x, y), in pixel-centre coordinates."""
    ys, xs = np.mgrid[:960, :1280]
    light = 255 * np.exp(-((xs - x_px) ** 2 + (ys - y_px) ** 2) / (2 * sigma_px**2))
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


def crops_of(labels: list[Path], region: str) -> list[Path]:
    """The labels of one region's crops, named closeup_<region>_<capture seed>."""
    return [p for p in labels if p.stem.rsplit("_", 1)[0] == f"closeup_{region}"]


def label_keypoints(label_text: str) -> np.ndarray:
    values = np.array(label_text.split(), float)
    assert len(values) == 5 + 3 * len(CLOSEUP_KEYPOINTS)
    return values[5:].reshape(-1, 3)


@pytest.mark.slow
def test_a_closeup_training_set_has_a_crop_of_each_region_of_each_goat(closeup_set):
    out, summary = closeup_set
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["kpt_shape"] == [10, 3]
    assert [CLOSEUP_KEYPOINTS[i] for i in data["flip_idx"]] == [
        "hip",
        "tail_head",
        "hook_right",
        "hook_left",
        "pin_right",
        "pin_left",
        "shoulder_right",
        "shoulder_left",
        "withers",
        "sternum",
    ]
    assert summary.empty == 0 and summary.goat_labels == 12
    labels = sorted(out.glob("labels/*/*.txt"))
    assert len(labels) == 12
    for region in REGIONS:
        crops = crops_of(labels, region.name)
        assert len(crops) == 4
        for label in crops:
            image = cv2.imread(str(label.parent.parent.parent / "images" / label.parent.name / f"{label.stem}.jpg"))
            assert image.shape == (256, 256, 3)
            keypoints = label_keypoints(label.read_text())
            # The region's own keypoints are labelled inside the crop; the other regions' are not there.
            own = keypoints[region.closeup_index]
            assert (own[:, 2] > 0).all() and ((own[:, :2] > 0) & (own[:, :2] < 1)).all()
            others = np.delete(keypoints, region.closeup_index, axis=0)
            assert (others == 0).all()


@pytest.mark.parametrize("region", ["chest", "chest_side"])
def test_a_chest_crops_box_is_a_square_around_its_two_keypoints(closeup_set, region):
    """Two shoulders in a line (or the withers above the sternum) would make a box with no
    height (or width), which Ultralytics' keypoint loss cannot use; the box is the square
    of their spread."""
    out, _ = closeup_set
    (own,) = [r for r in REGIONS if r.name == region]
    labels = crops_of(list(out.glob("labels/*/*.txt")), region)
    assert len(labels) == 4
    for label in labels:
        values = np.array(label.read_text().split(), float)
        cx, cy, w, h = values[1:5]
        points = label_keypoints(label.read_text())[own.closeup_index, :2]
        assert w == pytest.approx(h, abs=1e-5)
        assert ((points > [cx - w / 2, cy - h / 2]) & (points < [cx + w / 2, cy + h / 2])).all()
        assert w >= np.ptp(points, axis=0).max()


def test_each_label_points_at_the_goat_in_its_crop():
    """The goat mask cropped the way the photo was: every labelled keypoint lies on the goat
    (the pin bones and shoulders on its outline, where the cropped mask is partly goat), and
    the crop is the photo's own pixels there."""
    for seed in (3, 4, 5):
        capture = simulate_capture(seed, views=("top", "side"))
        for view, regions in (("top", ["rump", "chest"]), ("side", ["chest_side"])):
            examples = closeup_examples(view, capture.images[view], capture.labels[view][0].keypoints.keypoints, seed)
            assert [e.region for e in examples] == regions
            for example in examples:
                on_goat = crop(capture.masks[view][..., None].repeat(3, axis=2) * 255, example.window)[..., 0] > 0
                for x, y, v in label_keypoints(example.label_line):
                    if v > 0:
                        assert on_goat[int(y * 256), int(x * 256)]
                photo = cv2.imdecode(np.frombuffer(example.jpeg, np.uint8), cv2.IMREAD_COLOR).astype(float)
                assert np.abs(photo - crop(capture.images[view], example.window)).mean() < 3  # JPEG's loss only


@pytest.mark.slow
def test_a_farms_labelled_top_and_side_photos_give_the_closeup_models_crops(tmp_path):
    """The farm's labels stand in here as small simulated top and side sets at full resolution."""
    sets = {view: tmp_path / view for view in ("top", "side")}
    for view, folder in sets.items():
        make_dataset(folder, view, 3, seed=12, scale=1.0, workers=1, val_fraction=0.34, empty_fraction=0.0)
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "make_dataset.py"),
            "--view",
            "closeup",
            "--from-top",
            str(sets["top"] / "data.yaml"),
            "--from-side",
            str(sets["side"] / "data.yaml"),
            "--out",
            str(tmp_path / "closeup"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "6 close-up crops from" in done.stdout and "3 close-up crops from" in done.stdout
    assert yaml.safe_load((tmp_path / "closeup" / "data.yaml").read_text())["kpt_shape"] == [10, 3]
    assert len(list((tmp_path / "closeup" / "labels").rglob("*.txt"))) == 9
    for region in REGIONS:
        for label in (sets[region.view] / "labels").rglob("*.txt"):
            photo = cv2.imread(str(sets[region.view] / "images" / label.parent.name / f"{label.stem}.jpg"))
            view_kpts = np.array(label.read_text().split()[5:], float).reshape(len(VIEW_KEYPOINTS[region.view]), 3)
            w, h = photo.shape[1], photo.shape[0]
            crop_name = f"closeup_{region.name}_{label.stem}_0.txt"
            crop_label = tmp_path / "closeup" / "labels" / label.parent.name / crop_name
            crop_image = cv2.imread(str(crop_label).replace("/labels/", "/images/").replace(".txt", ".jpg"))
            # Where the view's label puts the region's keypoints, the crop's label does too, through one window.
            in_photo = view_kpts[region.view_index, :2] * [w, h]
            in_crop = label_keypoints(crop_label.read_text())[region.closeup_index, :2] * 256
            gain = np.ptp(in_crop, axis=0).max() / np.ptp(in_photo, axis=0).max()
            origin = in_photo - in_crop / gain
            assert np.ptp(origin, axis=0).max() < 0.01 and crop_image.shape == (256, 256, 3)


def test_a_top_set_with_other_keypoints_is_refused_by_name(tmp_path):
    bad = tmp_path / "data.yaml"
    bad.write_text(yaml.safe_dump({"path": str(tmp_path), "train": "images", "val": "images", "kpt_shape": [9, 3]}))
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "make_dataset.py"),
            "--view",
            "closeup",
            "--from-top",
            str(bad),
            "--out",
            str(tmp_path / "closeup"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "kpt_shape is [9, 3], but top photos have [10, 3]" in done.stderr


def test_the_closeup_set_is_refused_at_any_scale_but_the_photos_own(tmp_path):
    with pytest.raises(ValueError, match="full-resolution photos: scale must be 1"):
        make_dataset(tmp_path / "half", "closeup", 2, seed=1, scale=0.5)


def test_a_models_folder_without_the_closeup_model_is_named_with_the_way_out(tmp_path):
    for view in ("side", "top", "front"):
        shutil.copytree(ROOT / "models" / view, tmp_path / view)
    with pytest.raises(ModelFileError, match="close-up model not found; without it, turn models.closeups off"):
        NcnnDetector(ModelsConfig(dir=tmp_path))
    with NcnnDetector(ModelsConfig(dir=tmp_path, closeups=False)) as detector:
        assert set(detector.models) == {"side", "top", "front"}


@pytest.mark.parametrize(
    "view, kept",
    [
        ("top", ["withers", "nose"]),
        (
            "side",
            ["hip", "point_of_shoulder_left", "pin_left", "nose", "tail_head", "fore_hoof_left", "hind_hoof_left"],
        ),
    ],
)
def test_the_detector_reads_each_regions_keypoints_from_the_closeup_model(view, kept):
    """The top view's hip, tail head, hooks, pins and shoulders, and the side view's withers
    and sternum, are the close-up model's, found in the crops around what the view model
    found and put back in the photo; the view's other keypoints stay."""
    from edge.detect.types import ULTRALYTICS_TO_CALIBRATION_PX

    photo = simulate_capture(9_100_000_000).images[view]
    with NcnnDetector(ModelsConfig(dir=ROOT / "models", snap_to_outline=False)) as detector:
        closeup = detector.models["closeup"]
        view_alone = detector.models[view].predict(photo, fuse_iou=detector.fuse_iou)[0]
        read = detector.detect(view, photo).goats[0].keypoints
        replaced = []
        for region in regions_of(view):
            window = closeup_window(view_alone.keypoints[region.view_index, :2], closeup.info.input_px)
            found = closeup.predict(crop(photo, window), fuse_iou=detector.fuse_iou)[0]
            expected = window.to_photo(found.keypoints[region.closeup_index, :2]) + ULTRALYTICS_TO_CALIBRATION_PX
            np.testing.assert_allclose(read[region.view_index, :2], expected, atol=1e-6)
            assert np.abs(read[region.view_index, :2] - view_alone.keypoints[region.view_index, :2]).max() > 0.5
            replaced += region.view_index
    others = [i for i in range(len(read)) if i not in replaced]
    assert [VIEW_KEYPOINTS[view][i] for i in others] == kept
    np.testing.assert_allclose(
        read[others, :2], view_alone.keypoints[others, :2] + ULTRALYTICS_TO_CALIBRATION_PX, atol=1e-6
    )


def test_the_crops_benchmark_reads_how_far_apart_a_model_places_each_pair(closeup_set):
    """benchmarks/closeup_crops.py is how a retrained close-up model is checked for widths it
    would widen: the shipped model reads the hooks as far apart as labelled, and labels drawn
    4 px further apart on each side read as the model placing them 8 px too close."""
    out, _ = closeup_set
    model = NcnnPoseModel(ROOT / "models" / "closeup")
    crops = labelled_crops(out)
    hooks = [CLOSEUP_KEYPOINTS.index("hook_left"), CLOSEUP_KEYPOINTS.index("hook_right")]
    widened = []
    for c in crops:
        points = c.keypoints_px.copy()
        if (points[hooks, 2] > 0).all():
            apart = points[hooks[1], :2] - points[hooks[0], :2]
            outward = apart / np.linalg.norm(apart)
            points[hooks[0], :2] -= 4 * outward
            points[hooks[1], :2] += 4 * outward
        widened.append(LabelledCrop(c.image_bgr, points))

    as_labelled = pair_misses(model, crops)["hooks (hip width)"]
    as_widened = pair_misses(model, widened)["hooks (hip width)"]
    assert len(as_labelled["px"]) == 4  # one rump crop per goat
    assert abs(np.median(as_labelled["pct"])) < 3
    assert as_widened["px"] == pytest.approx(as_labelled["px"] - 8)
