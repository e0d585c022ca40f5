"""The technical team retrains a view's model, exports it, and the Pi runtime loads it.

A few simulated images and one epoch: the model learns nothing useful, but every step of
the pipeline runs for real, offline, and the lean NCNN runtime must give the same boxes
and keypoints as Ultralytics' own predictor on the same exported model.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import yaml

from edge.detect.closeup import CLOSEUP_KEYPOINTS
from edge.detect.ncnn_pose import ModelFileError, NcnnPoseModel
from edge.keypoints import VIEW_KEYPOINTS
from edge.training.closeup_crops import CLOSEUP_INPUT_PX
from tests.support.scripts import run_script

pytestmark = [pytest.mark.train, pytest.mark.slow]

IMGSZ = 160


def script(name: str, *args: str) -> subprocess.CompletedProcess:
    return run_script(name, *args)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Train each model (the views' and the close-up model) for one epoch on 8 simulated images,
    then export them to NCNN."""
    root = tmp_path_factory.mktemp("train")
    done = script(
        "train_models.py",
        "--count",
        "8",
        "--seed",
        "3",
        "--scale",
        "0.25",
        "--epochs",
        "1",
        "--imgsz",
        str(IMGSZ),
        "--batch",
        "4",
        "--workers",
        "1",
        "--datasets",
        str(root / "datasets"),
        "--runs",
        str(root / "runs"),
        "--models",
        str(root / "models"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (root / "models" / "side" / "best.pt").is_file()
    done = script("export_models.py", "--models", str(root / "models"))
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def test_training_then_export_writes_the_ncnn_files_and_a_model_card(exported):
    side = exported / "models" / "side"
    for name in ("model.ncnn.param", "model.ncnn.bin", "metadata.yaml", "card.yaml"):
        assert (side / name).is_file(), name
    card = yaml.safe_load((side / "card.yaml").read_text())
    assert card["input_px"] == IMGSZ and card["keypoints"] == list(VIEW_KEYPOINTS["side"])
    assert card["training"]["epochs"] == 1
    assert len(card["files"]["model.ncnn.bin"]) == 64


def test_the_closeup_model_starts_from_the_top_models_weights_and_reads_its_own_crops(exported):
    import torch

    top = exported / "models" / "top" / "best.pt"
    closeup = torch.load(exported / "models" / "closeup" / "best.pt", weights_only=False)
    assert closeup["train_args"]["pretrained"] == str(top)
    assert closeup["train_args"]["mosaic"] == 0.0
    card = yaml.safe_load((exported / "models" / "closeup" / "card.yaml").read_text())
    assert card["input_px"] == CLOSEUP_INPUT_PX and card["keypoints"] == list(CLOSEUP_KEYPOINTS)
    assert card["training"]["data"] == "closeup-seed3-n8-s1"


def test_the_lean_runtime_matches_ultralytics_on_the_same_export_within_a_pixel(exported, tmp_path):
    from ultralytics import YOLO

    from edge.sim.capture import simulate_capture

    side = exported / "models" / "side"
    lean = NcnnPoseModel(side, threads=2)
    # Ultralytics recognises an NCNN model by its folder name; give it the shipped files.
    as_ultralytics = tmp_path / "side_ncnn_model"
    shutil.copytree(side, as_ultralytics)
    reference = YOLO(str(as_ultralytics), task="pose")
    compared = 0
    for seed in (101, 102):
        image = simulate_capture(seed, scale=0.5, views=("side",)).images["side"]
        ours = lean.predict(image, conf_threshold=0.001, max_detections=300)
        theirs = reference.predict(image, conf=0.001, iou=0.7, imgsz=IMGSZ, max_det=300, verbose=False)[0]
        assert len(ours) == len(theirs.boxes)
        for mine, box, kpts in zip(ours[:5], theirs.boxes.xyxy.numpy(), theirs.keypoints.data.numpy()):
            np.testing.assert_allclose(mine.box_px, box, atol=1.0)
            np.testing.assert_allclose(mine.keypoints[:, :2], kpts[:, :2], atol=1.0)
            np.testing.assert_allclose(mine.keypoints[:, 2], kpts[:, 2], atol=0.01)
            compared += 1
    assert compared > 0


def test_the_ncnn_detector_finds_what_the_ultralytics_detector_finds(exported):
    """The same goats and keypoints, in calibration pixels, through both Detector
    implementations on the same NCNN export."""
    from edge.config import ModelsConfig
    from edge.detect.detector import NcnnDetector
    from edge.detect.ultralytics_detector import UltralyticsDetector
    from edge.sim.capture import simulate_capture

    models = exported / "models"
    lean_settings = ModelsConfig(
        dir=models, conf_threshold=0.001, closeups=False, snap_to_outline=False, fuse_anchors=False
    )
    compared = 0
    with (
        NcnnDetector(lean_settings) as lean,
        UltralyticsDetector(models, source="ncnn", conf_threshold=0.001) as reference,
    ):
        assert set(reference.versions) == {"side", "top", "front"}
        for view in ("side", "front"):
            image = simulate_capture(103, scale=0.5, views=(view,)).images[view]
            ours, theirs = lean.detect(view, image), reference.detect(view, image)
            assert ours.image_size_px == theirs.image_size_px
            for mine, other in zip(ours.goats[:3], theirs.goats[:3]):
                np.testing.assert_allclose(mine.box_px, other.box_px, atol=1.0)
                np.testing.assert_allclose(mine.keypoints[:, :2], other.keypoints[:, :2], atol=1.0)
                compared += 1
    assert compared > 0


def test_training_resumes_instead_of_starting_over(exported):
    done = script(
        "train_models.py",
        "--views",
        "side",
        "--count",
        "8",
        "--seed",
        "3",
        "--scale",
        "0.25",
        "--epochs",
        "1",
        "--imgsz",
        str(IMGSZ),
        "--datasets",
        str(exported / "datasets"),
        "--runs",
        str(exported / "runs"),
        "--models",
        str(exported / "models"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "already trained" in done.stdout


def train_side(exported, tmp_path, *extra: str) -> subprocess.CompletedProcess:
    """The side model trained on the fixture's 8 simulated images into tmp_path/runs and
    tmp_path/models, with these extra train_models.py options."""
    return script(
        "train_models.py",
        "--views",
        "side",
        "--count",
        "8",
        "--seed",
        "3",
        "--scale",
        "0.25",
        "--imgsz",
        str(IMGSZ),
        "--batch",
        "4",
        "--workers",
        "1",
        "--datasets",
        str(exported / "datasets"),
        "--runs",
        str(tmp_path / "runs"),
        "--models",
        str(tmp_path / "models"),
        *extra,
    )


def test_a_time_budget_ends_training_early_and_the_card_records_it(exported, tmp_path):
    import torch

    models = tmp_path / "models"
    done = train_side(exported, tmp_path, "--epochs", "30", "--time-h", "0.0005", "--cache", "ram")
    assert done.returncode == 0, done.stderr[-2000:]
    epochs_run = len((tmp_path / "runs" / "side" / "results.csv").read_text().splitlines()) - 1
    assert 1 <= epochs_run < 30
    assert torch.load(models / "side" / "best.pt", weights_only=False)["train_args"]["time"] == 0.0005
    done = script("export_models.py", "--views", "side", "--models", str(models))
    assert done.returncode == 0, done.stderr[-2000:]
    training = yaml.safe_load((models / "side" / "card.yaml").read_text())["training"]
    assert training["time_h"] == 0.0005 and training["device"] == "cpu"


def test_a_model_trained_on_two_looks_names_both_datasets_and_its_learning_rate_on_its_card(exported, tmp_path):
    models = tmp_path / "models"
    done = train_side(exported, tmp_path, "--looks", "standard,patterned", "--epochs", "1", "--lr0", "0.001")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "simulated 8 images (patterned look)" in done.stdout
    done = script("export_models.py", "--views", "side", "--models", str(models))
    assert done.returncode == 0, done.stderr[-2000:]
    training = yaml.safe_load((models / "side" / "card.yaml").read_text())["training"]
    assert training["data"] == ["side-seed3-n8-s0.25", "side-seed3-n8-s0.25-patterned"]
    assert training["optimizer"] == "AdamW" and training["lr0"] == 0.001


def test_a_farm_fine_tunes_the_shipped_weights_on_its_own_photos(exported, tmp_path):
    import torch

    shipped = exported / "models" / "top" / "best.pt"
    farm_data = exported / "datasets" / "top-seed3-n8-s0.25" / "data.yaml"  # stands in for labelled photos
    done = script(
        "train_models.py",
        "--views",
        "top",
        "--real-only",
        "--real-data",
        f"top={farm_data}",
        "--fine-tune",
        f"top={shipped}",
        "--epochs",
        "1",
        "--imgsz",
        str(IMGSZ),
        "--batch",
        "4",
        "--workers",
        "1",
        "--runs",
        str(tmp_path / "runs"),
        "--models",
        str(tmp_path / "models"),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"fine-tuning {shipped}" in done.stdout
    tuned = torch.load(tmp_path / "models" / "top" / "best.pt", weights_only=False)
    assert tuned["train_args"]["model"] == str(shipped)
    assert tuned["train_args"]["data"] == str(farm_data)


def test_weights_for_another_view_are_refused_for_fine_tuning(exported, tmp_path):
    done = script(
        "train_models.py",
        "--views",
        "front",
        "--fine-tune",
        f"front={exported / 'models' / 'side' / 'best.pt'}",
        "--count",
        "8",
        "--seed",
        "3",
        "--scale",
        "0.25",
        "--datasets",
        str(exported / "datasets"),
        "--runs",
        str(tmp_path / "runs"),
        "--models",
        str(tmp_path / "models"),
    )
    assert done.returncode == 2
    assert "the front model needs [8, 3]" in done.stderr


def test_a_model_folder_missing_its_weights_is_named(exported, tmp_path):
    broken = tmp_path / "side"
    broken.mkdir()
    for name in ("model.ncnn.param", "metadata.yaml"):
        (broken / name).write_bytes((exported / "models" / "side" / name).read_bytes())
    with pytest.raises(ModelFileError, match="model.ncnn.bin: model file not found"):
        NcnnPoseModel(broken)


def test_weights_for_another_view_are_refused_at_export(exported, tmp_path):
    done = script(
        "export_models.py",
        "--views",
        "top",
        "--weights",
        f"top={exported / 'models' / 'side' / 'best.pt'}",
        "--models",
        str(tmp_path),
    )
    assert done.returncode == 2
    assert "the top model needs [10, 3]" in done.stderr


def test_a_real_dataset_with_the_wrong_keypoints_is_refused(exported, tmp_path):
    bad = tmp_path / "data.yaml"
    bad.write_text(
        yaml.safe_dump(
            {"path": str(tmp_path), "train": "images", "val": "images", "names": {0: "goat"}, "kpt_shape": [17, 3]}
        )
    )
    done = script(
        "train_models.py",
        "--views",
        "front",
        "--real-only",
        "--real-data",
        f"front={bad}",
        "--runs",
        str(tmp_path / "runs"),
        "--models",
        str(tmp_path / "models"),
    )
    assert done.returncode == 2
    assert "kpt_shape is [17, 3], but the front model needs [8, 3]" in done.stderr


def test_measure_runs_the_three_models_on_photos_and_writes_annotated_copies(exported, tmp_path, capsys):
    import json

    from edge.cli import main

    capture = tmp_path / "capture"
    assert main(["simulate", "--seed", "5", "--out", str(capture)]) == 0
    capsys.readouterr()
    code = main(
        [
            "measure",
            *(f"--{v}={capture / f'{v}.jpg'}" for v in ("side", "top", "front")),
            "--calibration",
            str(capture / "calibration.json"),
            "--models",
            str(exported / "models"),
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    # One epoch on eight images finds no goat with confidence: the answer is a retake that
    # says why, never numbers.
    assert out["status"] == "retake", out
    assert ": no goat in view: bring the goat into the chute" in out["reason"]
    assert all(v is None for v in out["measurements"].values())
    assert set(out["model_versions"]) == {"side", "top", "front", "closeup"}
    assert all(len(v) == 16 for v in out["model_versions"].values())
    for view in ("side", "top", "front"):
        assert (capture / f"{view}.annotated.jpg").is_file()


def test_measure_refuses_photos_of_the_wrong_size_by_name(exported, tmp_path, capsys):
    import cv2

    from edge.cli import main

    capture = tmp_path / "capture"
    assert main(["simulate", "--seed", "6", "--out", str(capture)]) == 0
    small = cv2.resize(cv2.imread(str(capture / "top.jpg")), (640, 480))
    cv2.imwrite(str(capture / "top.jpg"), small)
    capsys.readouterr()
    code = main(
        [
            "measure",
            *(f"--{v}={capture / f'{v}.jpg'}" for v in ("side", "top", "front")),
            "--calibration",
            str(capture / "calibration.json"),
            "--models",
            str(exported / "models"),
        ]
    )
    err = capsys.readouterr().err
    assert code != 0 and "top.jpg: 640x480 px, but the top camera is calibrated for 1280x960" in err


@pytest.mark.parametrize(
    "look, says",
    [
        ("unseen", "look 'unseen' is held out: it judges the models and may not train them"),
        ("tuning", "look 'tuning' is kept for tuning: it fits the uncertainty and may not train them"),
    ],
)
def test_training_on_the_held_out_or_tuning_look_is_refused_by_name(tmp_path, look, says):
    done = script("train_models.py", "--views", "side", "--looks", f"varied,{look}", "--datasets", str(tmp_path))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert says in done.stderr
    assert list(tmp_path.iterdir()) == []
