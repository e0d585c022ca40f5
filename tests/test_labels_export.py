"""The farm's photos out for labelling: stored captures with the models' keypoints as pre-labels."""

from __future__ import annotations

import json

import pytest

from edge.cli import main
from edge.jpeg import decode_jpeg
from edge.keypoints import SKELETON, VIEW_KEYPOINTS, VIEWS
from edge.labels.export import LabelExportError, Selection, export_labels
from edge.store import Store
from edge.store.errors import InvalidRecordError
from edge.store.files import sha256_hex
from tests.support.sync_helpers import record_captures


@pytest.fixture
def farm(tmp_path):
    """Ten captures, 37 s apart from 2026-11-26 08:00 UTC; every fifth a retake; the first
    four of goat B7, which was weighed once."""
    data = tmp_path / "data"
    with Store.open(data) as store:
        store.add_goat("B7")
        ids = record_captures(store, 4, goat_tag="B7") + record_captures(store, 6, start=4)
        store.add_scale_weight("B7", 31.5)
        store.add_taped("B7", {"heart_girth_cm": 78.0})
    return data, ids


def read(path):
    return json.loads(path.read_text())


def test_an_export_holds_each_photo_byte_for_byte_with_the_models_keypoints_in_coco(farm, tmp_path):
    data, ids = farm
    with Store.open(data) as store:
        summary = export_labels(store, tmp_path / "out", Selection())
        stored = store.get_capture(ids[0])
    out = tmp_path / "out"
    assert (summary.captures, summary.photos, summary.skipped) == (10, 30, {})
    coco = read(out / "top.coco.json")
    [category] = coco["categories"]
    assert category["keypoints"] == list(VIEW_KEYPOINTS["top"])
    names = category["keypoints"]
    assert {(names[a - 1], names[b - 1]) for a, b in category["skeleton"]} == set(SKELETON["top"])
    image = next(im for im in coco["images"] if im["capture_id"] == ids[0])
    raw = next(im for im in stored["images"] if im["view"] == "top" and im["kind"] == "raw")
    photo = (out / image["file_name"]).read_bytes()
    assert sha256_hex(photo) == raw["sha256"] == image["sha256"]
    assert decode_jpeg(photo).shape[:2] == (image["height"], image["width"]) == (120, 160)
    [annotation] = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
    hook = names.index("hook_left")
    x, y, conf = stored["keypoints"]["top"]["hook_left"]
    # COCO measures from the image's edge; the store from pixel centres.
    assert annotation["keypoints"][3 * hook : 3 * hook + 3] == [x + 0.5, y + 0.5, 2]
    assert annotation["num_keypoints"] == len(names)
    bx, by, bw, bh = annotation["bbox"]
    assert 0 <= bx and 0 <= by and bx + bw <= 160 and by + bh <= 120


def test_label_studio_gets_a_project_config_and_tasks_with_the_models_points_to_correct(farm, tmp_path):
    data, ids = farm
    with Store.open(data) as store:
        export_labels(store, tmp_path / "out", Selection())
        stored = store.get_capture(ids[1])
    config = (tmp_path / "out" / "side.label-studio.xml").read_text()
    for name in VIEW_KEYPOINTS["side"]:
        assert f'<Label value="{name}"' in config
    tasks = read(tmp_path / "out" / "side.label-studio.json")
    task = next(t for t in tasks if t["data"]["capture_id"] == ids[1])
    assert (tmp_path / "out" / task["data"]["image"]).is_file()
    [prediction] = task["predictions"]
    assert prediction["model_version"] == stored["model_versions"]["side"]
    point = next(r for r in prediction["result"] if r["value"]["keypointlabels"] == ["withers"])
    x, y, _ = stored["keypoints"]["side"]["withers"]
    assert point["value"]["x"] == pytest.approx(100 * (x + 0.5) / 160, abs=1e-3)
    assert point["value"]["y"] == pytest.approx(100 * (y + 0.5) / 120, abs=1e-3)
    assert point["original_width"] == 160 and point["original_height"] == 120


def test_the_manifest_names_each_capture_its_goat_and_the_goats_scale_weights_and_tape(farm, tmp_path):
    data, ids = farm
    with Store.open(data) as store:
        export_labels(store, tmp_path / "out", Selection(goat_tag=" B7 "))
    manifest = read(tmp_path / "out" / "manifest.json")
    assert manifest["format"] == "goatdev-labels" and manifest["keypoints"]["front"] == list(VIEW_KEYPOINTS["front"])
    assert [c["capture_id"] for c in manifest["captures"]] == ids[:4]  # oldest first
    first = manifest["captures"][0]
    assert first["goat_tag"] == "B7" and [w["weight_kg"] for w in first["scale_weights"]] == [31.5]
    assert [(t["name"], t["value_cm"]) for t in first["taped"]] == [("heart_girth_cm", 78.0)]
    assert set(first["images"]) == set(VIEWS)


@pytest.mark.parametrize(
    "selection, expected",
    [
        (Selection(status="retake"), [4, 9]),
        (Selection(since="2026-11-26T08:01:00", until="2026-11-26T08:03:00"), [2, 3, 4]),
        (Selection(until="2026-11-25"), []),
        (Selection(since="2026-11-26"), list(range(10))),
        # The retakes first, then the widest ± for its value: the first capture's (± 1.2 on 57).
        (Selection(least_sure=3), [0, 4, 9]),
    ],
)
def test_captures_are_chosen_by_date_goat_status_or_doubt(farm, tmp_path, selection, expected):
    data, ids = farm
    with Store.open(data) as store:
        export_labels(store, tmp_path / "out", selection)
    chosen = [c["capture_id"] for c in read(tmp_path / "out" / "manifest.json")["captures"]]
    assert sorted(chosen) == sorted(ids[i] for i in expected)


def test_a_random_sample_is_the_same_for_the_same_seed(farm, tmp_path):
    data, _ = farm
    with Store.open(data) as store:
        for name, seed in (("a", 3), ("b", 3), ("c", 4)):
            export_labels(store, tmp_path / name, Selection(sample=4, seed=seed))
    picked = {n: [c["capture_id"] for c in read(tmp_path / n / "manifest.json")["captures"]] for n in "abc"}
    assert len(picked["a"]) == 4 and picked["a"] == picked["b"] != picked["c"]


def test_a_capture_whose_photos_are_gone_or_changed_is_skipped_by_name(farm, tmp_path):
    data, ids = farm
    with Store.open(data) as store:
        side = next(im for im in store.get_capture(ids[2])["images"] if im["view"] == "side")
        store.image_path(side).write_bytes(b"not the photo")
        top = next(im for im in store.get_capture(ids[3])["images"] if im["view"] == "top")
        store.image_path(top).unlink()
        summary = export_labels(store, tmp_path / "out", Selection())
    assert summary.captures == 8
    assert "changed after it was stored (sha256 differs)" in summary.skipped[ids[2]]
    assert "raw top photo" in summary.skipped[ids[3]] and "missing" in summary.skipped[ids[3]]
    assert not list((tmp_path / "out" / "images").glob(f"{ids[2]}_*"))


def test_an_export_never_overwrites_another_and_bad_dates_are_named(farm, tmp_path):
    data, _ = farm
    with Store.open(data) as store:
        export_labels(store, tmp_path / "out", Selection(status="ok"))
        before = (tmp_path / "out" / "manifest.json").read_text()
        with pytest.raises(LabelExportError, match="already holds an export"):
            export_labels(store, tmp_path / "out", Selection())
        with pytest.raises(InvalidRecordError, match="'26/11/2026' is not a date like 2026-12-01"):
            export_labels(store, tmp_path / "other", Selection(since="26/11/2026"))
    assert (tmp_path / "out" / "manifest.json").read_text() == before
    assert not (tmp_path / "other").exists() and not (tmp_path / "other.partial").exists()


def test_the_command_line_exports_and_names_an_unknown_goat(farm, tmp_path, capsys):
    data, _ = farm
    config = tmp_path / "edge.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n')
    assert main(["labels", "export", "--config", str(config), "--out", str(tmp_path / "x"), "--status", "ok"]) == 0
    assert "8 captures, 24 photos" in capsys.readouterr().out
    code = main(["labels", "export", "--config", str(config), "--out", str(tmp_path / "y"), "--goat", "Z9"])
    assert code == 2 and "no goat with tag 'Z9'" in capsys.readouterr().err
