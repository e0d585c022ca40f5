"""The technical team gives a trained pose model more keypoints (as the close-up model grew
from the rump model) without it forgetting the keypoints it knows."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.scripts import run_script

pytestmark = [pytest.mark.train, pytest.mark.slow]

torch = pytest.importorskip("torch")


def widen_script(*args: str) -> subprocess.CompletedProcess:
    return run_script("widen_keypoints.py", *args, timeout_s=300)


@pytest.fixture(scope="module")
def six_keypoint_model(tmp_path_factory):
    """A yolo11n-pose with 6 keypoints and random (but not all-equal) weights, as a checkpoint."""
    from ultralytics.nn.tasks import PoseModel, yaml_model_load

    torch.manual_seed(0)
    cfg = yaml_model_load("yolo11n-pose.yaml")
    cfg["kpt_shape"] = [6, 3]
    model = PoseModel(cfg, ch=3, nc=1, verbose=False)
    with torch.no_grad():
        for p in model.model[-1].cv4.parameters():
            p.add_(0.1 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("widen") / "six.pt"
    torch.save({"model": model, "ema": None, "train_args": {}, "date": None, "version": None}, path)
    return model, path


def outputs(model, x):
    model.eval()
    with torch.no_grad():
        return model(x)[0]


def test_widened_model_keeps_its_keypoints_and_starts_the_new_ones_from_the_copied(six_keypoint_model, tmp_path):
    old, path = six_keypoint_model
    out = tmp_path / "eight.pt"
    done = widen_script(str(path), "--keypoints", "8", "--copy-from", "4,5", "--out", str(out))
    assert done.returncode == 0, done.stderr
    new = torch.load(out, weights_only=False)["model"]
    assert new.model[-1].kpt_shape == [8, 3]
    # Ultralytics would train it as a pose model (with a detector's task, the keypoints never learn).
    from ultralytics import YOLO

    assert YOLO(str(out)).overrides["task"] == "pose"
    x = torch.rand(2, 3, 256, 256)
    y_old, y_new = outputs(old, x), outputs(new, x)
    assert y_new.shape[1] == 4 + 1 + 3 * 8
    # Boxes, scores and the six old keypoints: as before.
    torch.testing.assert_close(y_new[:, : 5 + 18], y_old, atol=1e-4, rtol=0)
    # Keypoints 6 and 7 start as copies of 4 and 5 (x, y and visibility).
    torch.testing.assert_close(y_new[:, 5 + 18 :], y_old[:, 5 + 12 : 5 + 18], atol=1e-4, rtol=0)


def test_a_copy_list_that_does_not_match_the_new_count_is_refused_by_name(six_keypoint_model, tmp_path):
    _, path = six_keypoint_model
    done = widen_script(str(path), "--keypoints", "8", "--copy-from", "4", "--out", str(tmp_path / "x.pt"))
    assert done.returncode == 2
    assert "widening to 8 adds 2, but --copy-from names 1" in done.stderr
    assert not (tmp_path / "x.pt").exists()
