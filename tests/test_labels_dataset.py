"""The farm's labels as training sets: one YOLO-pose dataset per view, split by goat."""

from __future__ import annotations

import json

import pytest
import yaml

from edge.cli import main
from edge.keypoints import VIEW_KEYPOINTS
from edge.labels.dataset import LabelDatasetError, label_line, split_goats, write_label_datasets
from edge.labels.export import Selection, export_labels
from edge.labels.importer import import_labels
from edge.store import Store
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
        summary = write_label_datasets(store, tmp_path / "sets", val_fraction=0.2, test_fraction=0.2, seed=1)
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
            write_label_datasets(store, tmp_path / "a")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("mine")
    with Store.open(labelled) as store:
        with pytest.raises(LabelDatasetError, match="is not empty"):
            write_label_datasets(store, tmp_path / "used")


def test_the_command_line_writes_the_datasets(labelled, tmp_path, capsys):
    config = tmp_path / "edge.toml"
    config.write_text(f'[storage]\ndata_dir = "{labelled}"\n')
    assert main(["labels", "dataset", "--config", str(config), "--out", str(tmp_path / "sets")]) == 0
    out = capsys.readouterr().out
    assert "top: " in out and "goats: train" in out
    assert (tmp_path / "sets" / "top" / "data.yaml").is_file()
