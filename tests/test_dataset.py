"""Making a YOLO-pose training set from the simulator, and reading it back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from edge.keypoints import VIEW_KEYPOINTS, flip_idx
from edge.sim.capture import simulate_capture
from edge.sim.truth import NOT_IN_IMAGE
from edge.training.camera_jitter import CAMERA_VARIANTS, camera_variant, dataset_calibration
from edge.training.dataset import DatasetExistsError, capture_seeds, make_dataset

SCALE = 0.25
WIDTH, HEIGHT = 320, 240


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("side")
    summary = make_dataset(out, "side", 6, seed=9, scale=SCALE, workers=2, val_fraction=0.2, empty_fraction=0.2)
    return out, summary


def read_seeds(out):
    rows = [line.split() for line in (out / "seeds.txt").read_text().splitlines() if not line.startswith("#")]
    return [(int(seed), split, int(goats)) for seed, split, goats in rows]


def test_a_small_side_dataset_has_an_image_and_a_label_file_for_every_seed(dataset):
    out, summary = dataset
    seeds = read_seeds(out)
    assert [s for s, _, _ in seeds] == capture_seeds(9, 6) == [9 * 1_000_003 + i for i in range(6)]
    assert summary.images == 6 and summary.val == 1 and summary.empty == 1
    for seed, split, _ in seeds:
        assert (out / "images" / split / f"side_{seed}.jpg").read_bytes()[:2] == b"\xff\xd8"
        assert (out / "labels" / split / f"side_{seed}.txt").exists()


def test_data_yaml_tells_ultralytics_the_keypoint_shape_and_flip(dataset):
    out, _ = dataset
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["path"] == str(out.resolve())
    assert (out / data["train"]).is_dir() and (out / data["val"]).is_dir()
    assert data["names"] == {0: "goat"}
    assert data["kpt_shape"] == [len(VIEW_KEYPOINTS["side"]), 3]
    assert data["flip_idx"] == flip_idx("side")


def test_label_lines_have_a_box_and_every_keypoint_normalised(dataset):
    out, _ = dataset
    k = len(VIEW_KEYPOINTS["side"])
    for seed, split, goats in read_seeds(out):
        lines = (out / "labels" / split / f"side_{seed}.txt").read_text().splitlines()
        assert len(lines) == goats  # the empty chute has an empty label file
        for line in lines:
            fields = line.split()
            assert fields[0] == "0" and len(fields) == 5 + 3 * k
            values = np.array(fields[1:], float)
            assert np.all((values[:4] > 0) & (values[:4] <= 1))
            kps = values[4:].reshape(k, 3)
            assert set(kps[:, 2]) <= {0, 1, 2}
            assert np.all((kps[:, :2] >= 0) & (kps[:, :2] <= 1))
            assert np.all(kps[kps[:, 2] == 0, :2] == 0)


def test_labels_denormalise_to_the_simulators_keypoints_and_box(dataset):
    out, _ = dataset
    for seed, split, goats in read_seeds(out):
        if goats == 0:
            continue
        values = np.array((out / "labels" / split / f"side_{seed}.txt").read_text().split()[1:], float)
        entry = simulate_capture(seed, dataset_calibration(seed), scale=SCALE, views=("side",)).labels["side"][0]
        truth = entry.keypoints.keypoints
        kps = values[4:].reshape(-1, 3)
        assert np.array_equal(kps[:, 2], truth[:, 2])
        shown = truth[:, 2] != NOT_IN_IMAGE
        np.testing.assert_allclose(kps[shown, 0] * WIDTH - 0.5, truth[shown, 0], atol=1e-3)
        np.testing.assert_allclose(kps[shown, 1] * HEIGHT - 0.5, truth[shown, 1], atol=1e-3)
        cx, cy, w, h = values[:4]
        x0, y0, x1, y1 = entry.box_px
        np.testing.assert_allclose(
            [
                (cx - w / 2) * WIDTH - 0.5,
                (cy - h / 2) * HEIGHT - 0.5,
                (cx + w / 2) * WIDTH - 0.5,
                (cy + h / 2) * HEIGHT - 0.5,
            ],
            [x0, y0, x1, y1],
            atol=1e-3,
        )


def test_the_images_are_the_simulators_jpegs_byte_for_byte(dataset):
    out, _ = dataset
    seed, split, goats = read_seeds(out)[0]
    capture = simulate_capture(seed, dataset_calibration(seed), scale=SCALE, goats=goats, views=("side",))
    assert (out / "images" / split / f"side_{seed}.jpg").read_bytes() == capture.jpegs["side"]


def test_a_second_dataset_will_not_overwrite_the_first(dataset):
    out, _ = dataset
    with pytest.raises(DatasetExistsError, match="already holds a dataset"):
        make_dataset(out, "side", 2, seed=10, scale=SCALE, workers=1)


def test_the_command_line_makes_a_top_view_set_whose_flip_swaps_left_and_right(tmp_path):
    out = tmp_path / "top"
    script = Path(__file__).resolve().parents[1] / "scripts" / "make_dataset.py"
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            "--view",
            "top",
            "--count",
            "2",
            "--seed",
            "5",
            "--out",
            str(out),
            "--scale",
            str(SCALE),
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "images/s" in done.stdout
    data = yaml.safe_load((out / "data.yaml").read_text())
    names = VIEW_KEYPOINTS["top"]
    assert data["flip_idx"] == flip_idx("top")
    assert names[data["flip_idx"][names.index("hook_left")]] == "hook_right"
    assert len(list((out / "images").rglob("*.jpg"))) == 2


def test_a_run_stopped_halfway_leaves_nothing_under_the_real_name_and_the_next_run_succeeds(tmp_path):
    out = tmp_path / "side"
    # What a killed run leaves: its partial folder beside the target.
    leftover = tmp_path / "side.partial" / "images" / "train"
    leftover.mkdir(parents=True)
    (leftover / "side_1.jpg").write_bytes(b"half a jpeg")
    summary = make_dataset(out, "side", 2, seed=11, scale=SCALE, workers=1)
    assert summary.images == 2
    assert not (tmp_path / "side.partial").exists()
    assert not (out / "images" / "train" / "side_1.jpg").exists()
    assert yaml.safe_load((out / "data.yaml").read_text())["path"] == str(out.resolve())


@pytest.mark.parametrize(
    "args, says",
    [
        (["--count", "0"], "must be 1 or more"),
        (["--seed", "-1"], "must be 0 or more"),
        (["--scale", "0"], "must be above 0"),
        (["--val-fraction", "1"], "must lie in [0, 1)"),
        (["--look", "unseen"], "look 'unseen' is held out: it judges the models and may never be trained on"),
        (["--look", "tuning"], "look 'tuning' is kept for tuning: it fits the uncertainty and may never be trained on"),
        (
            ["--look", "cartoon"],
            "unknown look 'cartoon'; expected one of "
            "standard, varied, patterned, recoated, proportions, unseen, tuning",
        ),
    ],
)
def test_bad_dataset_options_are_refused_by_name_without_a_traceback(tmp_path, args, says):
    script = Path(__file__).resolve().parents[1] / "scripts" / "make_dataset.py"
    base = {"--view": "side", "--count": "2", "--seed": "1", "--out": str(tmp_path / "d")}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = [item for pair in base.items() for item in pair]
    done = subprocess.run([sys.executable, str(script), *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert says in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "d").exists()


def test_datasets_see_the_goat_through_several_camera_mountings_not_one():
    nominal = camera_variant(0)["side"]
    centres = [camera_variant(v)["side"].center_cm for v in range(CAMERA_VARIANTS)]
    focals = [camera_variant(v)["side"].K[0, 0] for v in range(CAMERA_VARIANTS)]
    assert len({tuple(np.round(c, 3)) for c in centres}) == CAMERA_VARIANTS
    assert max(np.linalg.norm(c - nominal.center_cm) for c in centres) <= 3.0 * np.sqrt(3) + 1e-9
    assert 0 < np.ptp(focals) <= 0.06 * nominal.K[0, 0] + 1e-9
