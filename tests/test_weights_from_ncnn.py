"""The technical team rebuilds a shipped model's PyTorch weights from its NCNN files, to
fine-tune it: the rebuilt weights read photos as the Pi does."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.detect.closeup import REGIONS
from edge.detect.ncnn_pose import MODEL_FILES, NcnnPoseModel
from tests.test_training_smoke import script

pytestmark = [pytest.mark.train, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def shipped_top(tmp_path) -> Path:
    """A copy of the shipped top model's NCNN files, without any best.pt."""
    (tmp_path / "top").mkdir()
    for name in MODEL_FILES:
        shutil.copyfile(ROOT / "models" / "top" / name, tmp_path / "top" / name)
    return tmp_path


def test_rebuilt_weights_find_the_keypoints_the_pi_finds(shipped_top):
    from ultralytics import YOLO

    from edge.sim.capture import simulate_capture

    done = script("weights_from_ncnn.py", "--views", "top", "--models", str(shipped_top), "--images", "4")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "top:" in done.stdout
    image = simulate_capture(9_000_000_021).images["top"]
    theirs = YOLO(str(shipped_top / "top" / "best.pt"), task="pose").predict(image, imgsz=320, verbose=False)[0]
    pi = NcnnPoseModel(shipped_top / "top").predict(image)
    assert len(theirs.boxes) == len(pi) == 1
    # Within half a pixel of the 1280x960 photo: where two anchors score alike, fp16
    # rounding can make NMS keep a neighbouring one.
    np.testing.assert_allclose(theirs.keypoints.xy[0].numpy(), pi[0].keypoints[:, :2], atol=0.5)


def test_a_best_pt_already_there_is_kept_unless_forced(shipped_top):
    farm_weights = shipped_top / "top" / "best.pt"
    farm_weights.write_bytes(b"the farm's own weights")
    done = script("weights_from_ncnn.py", "--views", "top", "--models", str(shipped_top), "--images", "2")
    assert done.returncode == 2
    assert "--force" in done.stderr
    assert farm_weights.read_bytes() == b"the farm's own weights"


def test_a_bin_file_that_does_not_match_its_param_file_is_named(shipped_top):
    weights = shipped_top / "top" / "model.ncnn.bin"
    weights.write_bytes(weights.read_bytes()[:-4096])
    done = script("weights_from_ncnn.py", "--views", "top", "--models", str(shipped_top), "--images", "2")
    assert done.returncode == 1
    assert "model.ncnn.bin" in done.stderr
    assert not (shipped_top / "top" / "best.pt").exists()


@pytest.mark.parametrize("region", REGIONS, ids=lambda r: r.name)
def test_the_closeup_models_weights_rebuild_from_crops_of_its_regions(tmp_path, region):
    from ultralytics import YOLO

    from edge.detect.closeup import closeup_window, crop
    from edge.sim.capture import simulate_capture

    (tmp_path / "closeup").mkdir()
    for name in MODEL_FILES:
        shutil.copyfile(ROOT / "models" / "closeup" / name, tmp_path / "closeup" / name)
    done = script("weights_from_ncnn.py", "--views", "closeup", "--models", str(tmp_path), "--images", "4")
    assert done.returncode == 0, done.stderr[-3000:]
    capture = simulate_capture(9_000_000_022, views=(region.view,))
    truth = capture.labels[region.view][0].keypoints.keypoints[region.view_index, :2] + 0.5
    image = crop(capture.images[region.view], closeup_window(truth, 256))
    theirs = YOLO(str(tmp_path / "closeup" / "best.pt"), task="pose").predict(image, imgsz=256, verbose=False)[0]
    pi = NcnnPoseModel(tmp_path / "closeup").predict(image)
    assert len(theirs.boxes) == len(pi) == 1
    np.testing.assert_allclose(theirs.keypoints.xy[0].numpy(), pi[0].keypoints[:, :2], atol=0.5)
