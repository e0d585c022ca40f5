"""Corrected keypoints back in: checked against the export and the store, stored whole or not at all."""

from __future__ import annotations

import json

import pytest

from edge.cli import main
from edge.keypoints import VIEW_KEYPOINTS
from edge.labels.export import Selection, export_labels
from edge.labels.importer import LabelImportError, import_labels
from edge.store import Store
from tests.support.sync_helpers import record_captures


@pytest.fixture
def exported(tmp_path):
    """Four captures of goat B7 exported for labelling."""
    data = tmp_path / "data"
    with Store.open(data) as store:
        store.add_goat("B7")
        ids = record_captures(store, 4, goat_tag="B7")
        export_labels(store, tmp_path / "export", Selection())
    return data, tmp_path / "export", ids


def read(path):
    return json.loads(path.read_text())


def corrected_coco(export, view, dx=3.0, dy=-2.0):
    """A person's work in a COCO tool: every point dragged by (dx, dy) pixels."""
    coco = read(export / f"{view}.coco.json")
    for annotation in coco["annotations"]:
        flat = annotation["keypoints"]
        for k in range(0, len(flat), 3):
            if flat[k + 2]:
                flat[k] += dx
                flat[k + 1] += dy
    return coco


def write(path, data):
    path.write_text(json.dumps(data))
    return path


def test_corrected_coco_keypoints_are_stored_with_the_capture_in_the_stores_pixels(exported, tmp_path):
    data, export, ids = exported
    fixed = write(tmp_path / "top-fixed.json", corrected_coco(export, "top"))
    with Store.open(data) as store:
        summary = import_labels(store, export, [fixed])
        model = store.get_capture(ids[1])["keypoints"]["top"]
        [labels] = store.get_labels(ids[1])
    assert summary.photos == 4
    assert labels["view"] == "top" and labels["source"] == "top-fixed.json"
    for name in VIEW_KEYPOINTS["top"]:
        assert labels["keypoints"][name] == pytest.approx([model[name][0] + 3.0, model[name][1] - 2.0], abs=0.01)


def test_label_studio_annotations_come_back_from_percent_and_unlabelled_tasks_wait(exported, tmp_path):
    data, export, ids = exported
    tasks = read(export / "side.label-studio.json")
    for task in tasks[:3]:  # a person labelled three photos, starting from the predictions
        result = [dict(r, value={**r["value"], "x": r["value"]["x"] + 1.0}) for r in task["predictions"][0]["result"]]
        task["annotations"] = [{"id": 1, "result": result, "was_cancelled": False}]
    with Store.open(data) as store:
        summary = import_labels(store, export, [write(tmp_path / "ls.json", tasks)])
        labelled = store.get_labels()
        model = store.get_capture(tasks[0]["data"]["capture_id"])["keypoints"]["side"]
    assert (summary.photos, summary.unlabelled) == (3, 1)
    first = next(row for row in labelled if row["capture_id"] == tasks[0]["data"]["capture_id"])
    # One percent of the 160-px photo's width to the right.
    assert first["keypoints"]["withers"][0] == pytest.approx(model["withers"][0] + 1.6, abs=0.01)


def test_a_second_import_replaces_the_first_for_the_same_photos(exported, tmp_path):
    data, export, ids = exported
    with Store.open(data) as store:
        import_labels(store, export, [write(tmp_path / "a.json", corrected_coco(export, "front", dx=1))])
        import_labels(store, export, [write(tmp_path / "b.json", corrected_coco(export, "front", dx=5))])
        rows = store.get_labels(ids[0])
        model = store.get_capture(ids[0])["keypoints"]["front"]
    assert len(rows) == 1 and rows[0]["source"] == "b.json"
    assert rows[0]["keypoints"]["nose"][0] == pytest.approx(model["nose"][0] + 5)


def problems_of(data, export, files) -> str:
    with Store.open(data) as store:
        with pytest.raises(LabelImportError) as raised:
            import_labels(store, export, files)
        assert store.get_labels() == [], "nothing may be stored from a file with a problem"
    return str(raised.value)


def test_a_point_outside_its_photo_is_named_and_nothing_is_stored(exported, tmp_path):
    data, export, _ = exported
    coco = corrected_coco(export, "top")
    coco["annotations"][2]["keypoints"][0] = 900.0  # withers, far beyond the 160-px photo
    message = problems_of(data, export, [write(tmp_path / "top.json", coco)])
    name = coco["images"][2]["file_name"]
    assert "top.json: annotation 3" in message and name in message
    assert "keypoint 'withers' at (899.5," in message and "outside the 160x120 photo" in message


def test_a_file_from_another_project_or_keypoint_set_is_refused(exported, tmp_path):
    data, export, _ = exported
    coco = corrected_coco(export, "side")
    coco["categories"][0]["keypoints"] = ["nose", "left_eye", "right_eye"] + coco["categories"][0]["keypoints"][3:]
    message = problems_of(data, export, [write(tmp_path / "other.json", coco)])
    assert "other.json: keypoints ['nose', 'left_eye'" in message and "another project" in message


def test_unknown_keypoint_names_and_photos_of_another_view_are_named(exported, tmp_path):
    data, export, _ = exported
    tasks = read(export / "front.label-studio.json")
    result = [dict(r) for r in tasks[0]["predictions"][0]["result"]]
    result[0] = dict(result[0], value={**result[0]["value"], "keypointlabels": ["ear_tip"]})
    tasks[0]["annotations"] = [{"result": result}]
    tasks[1]["data"]["view"] = "side"
    tasks[1]["annotations"] = [{"result": []}]
    message = problems_of(data, export, [write(tmp_path / "ls.json", tasks)])
    assert "keypoint label ['ear_tip'] is not one of the front view's" in message
    assert "a front photo, labelled with the side view's keypoints" in message


def test_photos_that_are_not_the_stored_ones_are_refused(exported, tmp_path):
    data, export, ids = exported
    coco = corrected_coco(export, "side")
    coco["images"][0]["file_name"] = "images/somewhere_else.jpg"
    coco["images"][1]["sha256"] = "0" * 64
    (export / coco["images"][2]["file_name"]).write_bytes(b"edited in a photo editor")
    message = problems_of(data, export, [write(tmp_path / "side.json", coco)])
    assert "somewhere_else.jpg): not a photo of this export" in message
    assert "its sha256 is not that of" in message
    assert "changed since the export (sha256)" in message


def test_a_manifest_from_elsewhere_or_no_manifest_is_refused(exported, tmp_path):
    data, export, _ = exported
    fixed = write(tmp_path / "top.json", corrected_coco(export, "top"))
    with pytest.raises(LabelImportError, match="manifest.json: not found"):
        with Store.open(data) as store:
            import_labels(store, tmp_path / "nowhere", [fixed])
    manifest = read(export / "manifest.json")
    write(export / "manifest.json", {**manifest, "format": "cvat"})
    with pytest.raises(LabelImportError, match="not a goat-edge labels export"):
        with Store.open(data) as store:
            import_labels(store, export, [fixed])


def test_labels_for_captures_another_pi_holds_are_refused(exported, tmp_path):
    _, export, _ = exported
    fixed = write(tmp_path / "top.json", corrected_coco(export, "top"))
    message = problems_of(tmp_path / "other-pi", export, [fixed])
    assert "is not in this Pi's store" in message


def test_the_command_line_imports_and_exits_non_zero_with_the_problems(exported, tmp_path, capsys):
    data, export, _ = exported
    config = tmp_path / "edge.toml"
    config.write_text(f'[storage]\ndata_dir = "{data}"\n')
    good = write(tmp_path / "top.json", corrected_coco(export, "top"))
    assert main(["labels", "import", "--config", str(config), "--export", str(export), str(good)]) == 0
    assert "labels stored for 4 photos" in capsys.readouterr().out
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    assert main(["labels", "import", "--config", str(config), "--export", str(export), str(bad)]) == 2
    assert "broken.json: not JSON" in capsys.readouterr().err
