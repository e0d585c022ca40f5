"""A technician photographs the ChArUco board in the chute and runs `goat-edge calibrate`.

The photos are rendered through the simulator's own cameras (default_calibration(), 1280x960
with lens distortion), so the recovered cameras can be checked against the truth.
"""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from edge.calibrate.board import BoardSpec
from edge.calibrate.errors import ReprojectionError
from edge.calibrate.positions import STANDARD_POSITIONS
from edge.calibrate.solve import calibrate_photos
from edge.cli import main
from edge.geometry.calibration import default_calibration, load_calibration, save_calibration
from edge.keypoints import VIEWS
from edge.sim.board import render_board_photo
from edge.sim.calibration_photos import write_photo_set

PHOTOS_PER_CAMERA = 12


@pytest.fixture(scope="module")
def truth():
    return default_calibration()


@pytest.fixture(scope="module")
def photos(tmp_path_factory, truth):
    """One simulated photo session: PHOTOS/<camera>/photo_NN.jpg and reference*.jpg."""
    folder = tmp_path_factory.mktemp("photos")
    write_photo_set(truth, folder, photos_per_camera=PHOTOS_PER_CAMERA, seed=7)
    return folder


def run(capsys, *argv):
    code = main(["calibrate", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def blank_folder(folder, names):
    """Photos of an empty chute: a plain grey gradient with sensor noise, no board."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    ramp = np.linspace(90, 160, 1280)[None, :].repeat(960, axis=0)
    for name in names:
        cv2.imwrite(str(folder / name), np.clip(ramp + rng.normal(0, 2, ramp.shape), 0, 255).astype(np.uint8))


@pytest.mark.slow
def test_the_renderer_draws_board_corners_where_the_true_camera_projects_them(truth):
    board = BoardSpec()
    for view in VIEWS:
        camera, position = truth[view], STANDARD_POSITIONS[view][0]
        R_bw, t_bw = position.pose(board)
        photo = render_board_photo(camera, board, R_bw, t_bw, np.random.default_rng(3))
        found = board.detect(photo)
        assert len(found) == len(board.corners_cm), view
        expected, _ = camera.project(position.to_world(board, found.object_cm))
        error_px = np.linalg.norm(found.pixels - expected, axis=1)
        assert error_px.mean() < 0.1 and error_px.max() < 0.3, view


def test_standard_positions_stand_where_the_docs_say(truth):
    board = BoardSpec()
    (side,) = STANDARD_POSITIONS["side"]
    (front,) = STANDARD_POSITIONS["front"]
    corners = side.corners_world(board)
    assert np.allclose(corners[:, 1], 0) and corners[:, 2].min() == pytest.approx(0)
    assert corners[:, 0].mean() == pytest.approx(-88)
    corners = front.corners_world(board)
    assert np.allclose(corners[:, 0], -30) and corners[:, 2].min() == pytest.approx(0)
    assert np.ptp(corners[:, 1]) < 50, "the board must fit across the 50 cm chute"
    for position in STANDARD_POSITIONS["top"]:
        corners = position.corners_world(board)
        assert np.allclose(corners[:, 2], 0) and np.ptp(corners[:, 1]) < 50
    for view in VIEWS:
        camera = truth[view]
        for position in STANDARD_POSITIONS[view]:
            R_bw, _ = position.pose(board)
            # The printed face (board -w) looks at the camera, and the board is wholly in view.
            to_camera = camera.center_cm - position.corners_world(board).mean(axis=0)
            assert -R_bw[:, 2] @ to_camera > 0, (view, position.photo)
            px, depth = camera.project(position.corners_world(board))
            assert (depth > 0).all() and (px > 0).all(), (view, position.photo)
            assert (px < camera.size_px).all(), (view, position.photo)


@pytest.mark.slow
def test_calibrate_recovers_every_simulated_camera(photos, truth, tmp_path, capsys):
    out = tmp_path / "calibration.json"
    code, stdout, err = run(capsys, "--photos", photos, "--out", out)
    assert code == 0, err

    calibration = load_calibration(out)
    for view in VIEWS:
        got, true = calibration[view], truth[view]
        assert got.size_px == true.size_px
        assert got.K[0, 0] == pytest.approx(true.K[0, 0], rel=0.01), view
        assert got.K[1, 1] == pytest.approx(true.K[1, 1], rel=0.01), view
        assert np.linalg.norm(got.center_cm - true.center_cm) < 1.0, view
        assert 0 < calibration.reprojection_error_px[view] < 1.0, view
    for view in VIEWS:  # the printed table: photos used, error, focal, position
        line = next(line for line in stdout.splitlines() if line.startswith(view))
        assert f"{PHOTOS_PER_CAMERA}/{PHOTOS_PER_CAMERA}" in line
        printed = [float(v) for v in line[line.index("(") + 1 : line.index(")")].split(",")]
        assert np.allclose(printed, truth[view].center_cm, atol=1.0), line
    assert f"wrote {out}" in stdout


def test_library_call_reports_the_evidence_per_camera(photos, truth):
    solutions = calibrate_photos(photos, ("front",), BoardSpec())
    front = solutions["front"]
    assert front.photos_used == front.photos_total == PHOTOS_PER_CAMERA
    assert front.reference_error_px < 0.3
    assert np.linalg.norm(front.camera.center_cm - truth["front"].center_cm) < 1.0
    # The lens is solved with OpenCV's five-term model: k1 k2 p1 p2 k3.
    assert front.camera.dist.shape == (5,)
    assert front.camera.dist[0] == pytest.approx(truth["front"].dist[0], abs=0.01)


def test_photos_without_the_board_are_refused_and_nothing_is_written(tmp_path, capsys):
    for view in VIEWS:
        names = [f"photo_{n:02d}.jpg" for n in range(10)]
        names += [f"{p.photo}.jpg" for p in STANDARD_POSITIONS[view]]
        blank_folder(tmp_path / "photos" / view, names)
    out = tmp_path / "calibration.json"
    code, stdout, err = run(capsys, "--photos", tmp_path / "photos", "--out", out)
    assert code != 0
    assert "side camera" in err and "board not found" in err and "reference.jpg" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_too_few_usable_photos_says_how_many_were_usable(photos, tmp_path, capsys):
    side = tmp_path / "photos" / "side"
    blank_folder(side, [f"photo_{n:02d}.jpg" for n in range(9)])
    for n in range(3):  # three good photos among nine blank ones
        shutil.copy(photos / "side" / f"photo_{n:02d}.jpg", side / f"good_{n}.jpg")
    shutil.copy(photos / "side" / "reference.jpg", side)
    code, _, err = run(capsys, "--photos", tmp_path / "photos", "--out", tmp_path / "c.json", "--views", "side")
    assert code != 0
    assert "side camera" in err and "only 3 of 12 photos" in err
    assert not (tmp_path / "c.json").exists()


def test_a_missing_reference_photo_is_named(photos, tmp_path, capsys):
    shutil.copytree(photos / "top", tmp_path / "photos" / "top")
    (tmp_path / "photos" / "top" / "reference_tail.jpg").unlink()
    code, _, err = run(capsys, "--photos", tmp_path / "photos", "--out", tmp_path / "c.json", "--views", "top")
    assert code != 0
    assert "top camera" in err and "reference_tail.jpg" in err


def test_a_missing_camera_folder_is_named(photos, tmp_path, capsys):
    shutil.copytree(photos / "side", tmp_path / "photos" / "side")
    code, _, err = run(capsys, "--photos", tmp_path / "photos", "--out", tmp_path / "c.json")
    assert code != 0
    assert "top camera" in err and "not found" in err


def test_a_failed_calibration_keeps_the_existing_good_file(photos, tmp_path, capsys):
    out = tmp_path / "calibration.json"
    save_calibration(default_calibration(), out)
    before = out.read_bytes()
    code, _, err = run(capsys, "--photos", photos, "--out", out, "--max-error-px", "0.0001")
    assert code != 0
    assert "reprojection error" in err and "0.0001 px" in err and "side camera" in err
    assert out.read_bytes() == before


def test_an_impossible_error_limit_raises_a_typed_error(photos):
    with pytest.raises(ReprojectionError, match="above the limit"):
        calibrate_photos(photos, ("top",), BoardSpec(), max_error_px=1e-4)


def test_recalibrating_one_camera_keeps_the_others(photos, tmp_path, capsys):
    out = tmp_path / "calibration.json"
    save_calibration(default_calibration(), out)
    original = load_calibration(out)
    code, stdout, err = run(capsys, "--photos", photos, "--out", out, "--views", "front")
    assert code == 0, err
    updated = load_calibration(out)
    for view in ("side", "top"):
        assert np.array_equal(updated[view].K, original[view].K)
        assert np.array_equal(updated[view].t, original[view].t)
    assert not np.array_equal(updated["front"].K, original["front"].K)
    assert "front" in updated.reprojection_error_px
    assert "kept from the existing file" in stdout


def test_leaving_out_a_camera_needs_an_existing_file(photos, tmp_path, capsys):
    out = tmp_path / "calibration.json"
    code, _, err = run(capsys, "--photos", photos, "--out", out, "--views", "front")
    assert code != 0
    assert "side and top cameras" in err
    assert not out.exists()
