"""The farm's labels as training sets: one YOLO-pose dataset per view, split by goat."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import yaml

from edge.cli import main
from edge.config import ModelsConfig
from edge.detect.detector import NcnnDetector
from edge.detect.viewpoint import model_frame
from edge.geometry.calibration import default_calibration
from edge.jpeg import decode_jpeg
from edge.keypoints import VIEW_KEYPOINTS, VIEWS
from edge.labels.dataset import LabelDatasetError, label_line, split_goats, write_label_datasets
from edge.labels.export import Selection, export_labels
from edge.labels.importer import import_labels
from edge.measurements import MEASUREMENTS
from edge.sim.capture import simulate_capture
from edge.sim.mounting import moved_mountings, turned, with_camera
from edge.sim.truth import NOT_IN_IMAGE
from edge.store import Store
from edge.store.ids import new_id
from edge.store.labels import ViewLabels
from edge.store.records import CaptureRecord, ImageFile
from tests.support.sync_helpers import record_captures


@pytest.fixture
def labelled(tmp_path):
    """Six goats, two captures each, and two captures of no goat named; every top photo labelled."""
    data = tmp_path / "data"
    with Store.open(data) as store:
        for g in range(6):
            store.add_goat(f"G{g}")
            record_captures(store, 2, start=2 * g, goat_tag=f"G{g}")
        record_captures(store, 2, start=12)
        export_labels(store, tmp_path / "export", Selection())
        coco = json.loads((tmp_path / "export" / "top.coco.json").read_text())
        (tmp_path / "top.json").write_text(json.dumps(coco))
        import_labels(store, tmp_path / "export", [tmp_path / "top.json"])
    return data


def test_each_goat_lands_in_one_split_and_unnamed_captures_train(labelled, tmp_path):
    with Store.open(labelled) as store:
        summary = write_label_datasets(
            store, tmp_path / "sets", default_calibration(), val_fraction=0.2, test_fraction=0.2, seed=1
        )
        tag_of = {c["id"]: c["goat_tag"] for c in store.select_captures()}
    assert list(summary.photos) == ["top"]
    assert sum(summary.photos["top"].values()) == 14
    assert [len(summary.goats[s]) for s in ("train", "val", "test")] == [4, 1, 1]
    split_of_goat = {tag: split for split, tags in summary.goats.items() for tag in tags}
    for split in ("train", "val", "test"):
        for image in (tmp_path / "sets" / "top" / "images" / split).glob("*.jpg"):
            tag = tag_of[image.stem.rsplit("_", 1)[0]]
            assert split == (split_of_goat[tag] if tag else "train"), image.name
    data = yaml.safe_load((tmp_path / "sets" / "top" / "data.yaml").read_text())
    assert data["kpt_shape"] == [10, 3] and data["test"] == "images/test"


def test_a_label_line_is_what_ultralytics_reads_and_unplaced_points_are_zero():
    points = {"withers": [79.5, 59.5], "hip": [39.5, 29.5]}
    values = label_line("top", points, 160, 120).split()
    assert values[0] == "0" and len(values) == 5 + 3 * len(VIEW_KEYPOINTS["top"])
    withers = VIEW_KEYPOINTS["top"].index("withers")
    assert [float(v) for v in values[5 + 3 * withers : 8 + 3 * withers]] == [0.5, 0.5, 2.0]
    nose = VIEW_KEYPOINTS["top"].index("nose")
    assert values[5 + 3 * nose : 8 + 3 * nose] == ["0.000000", "0.000000", "0"]
    # The box is the points' extent (40 x 30 px) grown as the simulator's boxes are, so the
    # models are not taught another box: by 1.5 % on each side and 6 % above and below.
    cx, cy, w, h = (float(v) for v in values[1:5])
    assert cx == pytest.approx(60 / 160) and cy == pytest.approx(45 / 120)
    assert w == pytest.approx(40 * 1.03 / 160) and h == pytest.approx(30 * 1.12 / 120)


def test_a_side_box_reaches_above_the_withers_to_the_head_and_ears():
    points = {"withers": [100.0, 50.0], "hind_hoof_left": [40.0, 100.0], "nose": [160.0, 40.0]}
    cx, cy, w, h = (float(v) for v in label_line("side", points, 320, 240).split()[1:5])
    top_px, bottom_px = (cy - h / 2) * 240, (cy + h / 2) * 240
    assert top_px == pytest.approx(40.5 - 0.24 * 60) and bottom_px == pytest.approx(100.5)


def test_the_split_is_repeatable_and_small_herds_still_get_a_test_goat():
    assert split_goats(["A", "B", "C", "D", "E"], 0.2, 0.2, 3) == split_goats(["E", "D", "C", "B", "A"], 0.2, 0.2, 3)
    three = split_goats(["A", "B", "C"], 0.2, 0.2, 0)
    assert sorted(three.values()) == ["test", "train", "val"]


def test_no_labels_or_a_used_folder_is_refused_by_name(tmp_path, labelled):
    with Store.open(tmp_path / "empty") as store:
        with pytest.raises(LabelDatasetError, match="no labels stored yet"):
            write_label_datasets(store, tmp_path / "a", default_calibration())
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("mine")
    with Store.open(labelled) as store:
        with pytest.raises(LabelDatasetError, match="is not empty"):
            write_label_datasets(store, tmp_path / "used", default_calibration())


def test_the_command_line_writes_the_datasets(labelled, tmp_path, capsys):
    config = tmp_path / "edge.toml"
    config.write_text(f'[storage]\ndata_dir = "{labelled}"\n')
    assert main(["labels", "dataset", "--config", str(config), "--out", str(tmp_path / "sets")]) == 0
    out = capsys.readouterr().out
    assert "top: " in out and "goats: train" in out
    assert (tmp_path / "sets" / "top" / "data.yaml").is_file()


def store_capture(store: Store, capture, goat_tag: str, calibration_hash: str) -> str:
    """The simulated capture stored as the daemon stores one, under that calibration."""
    at = datetime(2026, 12, 1, 8, tzinfo=UTC) + timedelta(minutes=len(store.select_captures()))
    store.add_goat(goat_tag)
    rec = CaptureRecord(
        capture_id=new_id(at),
        captured_at=at,
        device_id="barn",
        status="ok",
        reason=None,
        trigger="button",
        images=tuple(ImageFile(v, k, capture.jpegs[v]) for v in VIEWS for k in ("raw", "annotated")),
        measurements=dict.fromkeys(MEASUREMENTS),
        measurement_reasons={},
        model_versions={},
        calibration_hash=calibration_hash,
        weight_formula=None,
        goat_tag=goat_tag,
    )
    store.record_capture(rec)
    return rec.capture_id


@pytest.mark.parametrize(
    "mounting",
    ["top camera turned a quarter", "top camera 25 cm off the centre line and 15 cm lower, tilted to it"],
)
def test_a_camera_mounted_its_own_way_gives_photos_as_the_models_see_them(tmp_path, mounting):
    """The farm's top camera is mounted turned, or well off its place, and calibrated so. Its
    photos go into the dataset as the detector reads them (turned back, or re-projected),
    with the placed points where that image shows them: what a model is trained on is
    what it will be asked to read. A photo labelled under another calibration is left out."""
    standard = default_calibration()
    if mounting == "top camera turned a quarter":
        calibration = with_camera(standard, turned(standard["top"], 1))
    else:
        calibration = moved_mountings(standard)[mounting]
    capture = simulate_capture(44, calibration)
    placed = {
        name: [float(x), float(y)]
        for name, (x, y, flag) in zip(VIEW_KEYPOINTS["top"], capture.labels["top"][0].keypoints.keypoints)
        if flag != NOT_IN_IMAGE
    }
    with Store.open(tmp_path / "data") as store:
        for n, calibration_hash in enumerate((calibration.hash, standard.hash)):
            capture_id = store_capture(store, capture, f"G{n}", calibration_hash)
            store.put_labels([ViewLabels(capture_id, "top", placed, "person")])
        summary = write_label_datasets(store, tmp_path / "sets", calibration, val_fraction=0.0, test_fraction=0.0)
    assert summary.photos == {"top": {"train": 1, "val": 0, "test": 0}} and summary.other_calibration == 1

    (photo_path,) = (tmp_path / "sets" / "top" / "images" / "train").glob("*.jpg")
    photo = decode_jpeg(photo_path.read_bytes())
    frame = model_frame(calibration["top"], standard["top"])
    assert photo.shape == frame.to_canonical(capture.images["top"]).shape
    label_path = tmp_path / "sets" / "top" / "labels" / "train" / f"{photo_path.stem}.txt"
    label = [float(v) for v in label_path.read_text().split()]
    height, width = photo.shape[:2]
    written = {
        name: (label[5 + 3 * k] * width - 0.5, label[6 + 3 * k] * height - 0.5)
        for k, name in enumerate(VIEW_KEYPOINTS["top"])
        if label[7 + 3 * k] > 0
    }
    assert set(written) == set(placed)
    expected = frame.canonical_px(np.array([placed[name] for name in written]))
    assert np.abs(np.array(list(written.values())) - expected).max() < 0.01

    # The models read the dataset's photo as the standard camera's and find the goat where
    # they find it in the farm's own photo, brought into the same frame.
    with NcnnDetector(ModelsConfig()) as detector:
        from_dataset = detector.detect("top", photo, standard["top"]).keypoints()
        from_farm = detector.detect("top", capture.images["top"], calibration["top"]).keypoints()
    names = sorted(from_farm)
    farm_in_frame = frame.canonical_px(np.array([[from_farm[n].x_px, from_farm[n].y_px] for n in names]))
    dataset_points = np.array([[from_dataset[n].x_px, from_dataset[n].y_px] for n in names])
    assert np.median(np.hypot(*(dataset_points - farm_in_frame).T)) < 1.0
