"""The chute's three cameras fire together: the same goat from three sides, or a clear
message naming the camera that let the capture down."""

from __future__ import annotations

import sys
import threading
import time

import cv2
import numpy as np
import pytest

from edge.camera import Camera, CameraError, CameraRig, CaptureFailed, make_camera
from edge.camera.base import frame_from_bgr, frame_from_jpeg, now_utc
from edge.cli import main
from edge.config import CameraConfig, CamerasConfig
from edge.geometry.calibration import default_calibration, save_calibration
from edge.keypoints import VIEWS
from edge.sim.capture import simulate_capture

SMALL_PX = (320, 240)  # a quarter-size simulated chute: the same goats, rendered 16x faster
SIZES = dict.fromkeys(VIEWS, SMALL_PX)
TINY_PX = (64, 48)


def cameras_config(timeout_s: float = 5.0, **per_view) -> CamerasConfig:
    return CamerasConfig(timeout_s=timeout_s, **{v: CameraConfig(**cfg) for v, cfg in per_view.items()})


# --- the simulated chute -------------------------------------------------------------


def test_three_views_of_one_shot_show_the_same_goat():
    rig = CameraRig(cameras_config(), SIZES, sim_seed_base=100)
    with rig:
        frames = rig.capture_all(3)
    expected = simulate_capture(103, scale=0.25)  # the goat `goat-edge simulate --seed 103` shows
    assert set(frames) == set(VIEWS)
    for view in VIEWS:
        assert frames[view].view == view
        assert frames[view].size_px == SMALL_PX
        assert frames[view].jpeg == expected.jpegs[view]
        assert np.array_equal(frames[view].image_bgr, expected.images[view])


def test_a_fixed_seed_shows_the_same_goat_every_shot_and_no_seed_a_new_one():
    fixed = make_camera("side", CameraConfig(seed=7), size_px=SMALL_PX, sim_seed_base=0)
    assert fixed.capture(1).jpeg == fixed.capture(2).jpeg
    roaming = make_camera("side", CameraConfig(), size_px=SMALL_PX, sim_seed_base=7)
    first, second = roaming.capture(0), roaming.capture(1)
    assert first.jpeg == fixed.capture(3).jpeg  # seed base 7 + shot 0 is the seed-7 goat
    assert not np.array_equal(first.image_bgr, second.image_bgr)


def test_the_simulated_chute_refuses_a_calibrated_size_of_another_shape():
    with pytest.raises(CameraError, match=r"top camera \(simulated\).*1280x960.*400x400"):
        make_camera("top", CameraConfig(), size_px=(400, 400), sim_seed_base=0)


# --- replaying captures written by `goat-edge simulate` ------------------------------


@pytest.fixture(scope="module")
def replay_folder(tmp_path_factory):
    """Two captures written by `goat-edge simulate`, rendered at 320x240 to stay quick."""
    root = tmp_path_factory.mktemp("replay")
    calibration = root.parent / "small-calibration.json"
    save_calibration(default_calibration().scaled(0.25), calibration)
    for name, seed in (("a", 5), ("b", 6)):
        assert (
            main(["simulate", "--seed", str(seed), "--out", str(root / name), "--calibration", str(calibration)]) == 0
        )
    return root


def replay_rig(folder, size_px=SMALL_PX):
    return CameraRig(
        cameras_config(**{v: {"backend": "replay", "folder": folder} for v in VIEWS}), dict.fromkeys(VIEWS, size_px)
    )


def test_replay_plays_the_captures_in_order_and_starts_again(replay_folder):
    with replay_rig(replay_folder) as rig:
        shots = [rig.capture_all(shot) for shot in range(3)]
    for shot, capture in zip(range(3), ("a", "b", "a")):
        for view in VIEWS:
            jpeg = (replay_folder / capture / f"{view}.jpg").read_bytes()
            assert shots[shot][view].jpeg == jpeg
            decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            assert np.array_equal(shots[shot][view].image_bgr, decoded)
    assert shots[0]["side"].jpeg != shots[1]["side"].jpeg


def test_replay_names_a_corrupt_file(replay_folder, tmp_path):
    bad = tmp_path / "captures" / "a"
    bad.mkdir(parents=True)
    for view in VIEWS:
        (bad / f"{view}.jpg").write_bytes((replay_folder / "a" / f"{view}.jpg").read_bytes())
    (bad / "front.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with replay_rig(tmp_path / "captures") as rig, pytest.raises(CaptureFailed) as failed:
        rig.capture_all(0)
    assert set(failed.value.problems) == {"front"}
    assert "front camera returned a corrupt image" in str(failed.value)
    assert str(bad / "front.jpg") in str(failed.value)


def test_replay_names_a_missing_file_and_an_empty_folder(replay_folder, tmp_path):
    (tmp_path / "empty").mkdir()
    with replay_rig(tmp_path / "empty") as rig, pytest.raises(CaptureFailed, match="holds no captures"):
        rig.capture_all(0)
    partial = tmp_path / "partial" / "a"
    partial.mkdir(parents=True)
    (partial / "side.jpg").write_bytes((replay_folder / "a" / "side.jpg").read_bytes())
    with replay_rig(tmp_path / "partial") as rig, pytest.raises(CaptureFailed) as failed:
        rig.capture_all(0)
    assert set(failed.value.problems) == {"top", "front"}
    assert str(partial / "top.jpg") in str(failed.value) and str(partial / "front.jpg") in str(failed.value)


def test_captures_of_another_size_than_calibrated_are_refused_naming_both(replay_folder):
    with replay_rig(replay_folder, size_px=(640, 480)) as rig, pytest.raises(CaptureFailed) as failed:
        rig.capture_all(0)
    assert "side camera sent a 320x240 picture but it is calibrated for 640x480" in str(failed.value)


# --- cameras that hang, fail or send garbage (test backends through the factory) -----


class PlainCamera(Camera):
    """A camera that sends a flat grey picture; `hang` and `fail` make it misbehave."""

    def __init__(
        self,
        view,
        size_px,
        hang: threading.Event | None = None,
        fail: Exception | None = None,
        jpeg: bytes | None = None,
    ):
        self.view, self.size_px = view, size_px
        self.hang, self.fail, self.jpeg = hang, fail, jpeg
        self.opened = self.closed = False
        self.closed_event = threading.Event()

    def open(self):
        self.opened = True

    def capture(self, shot):
        if self.hang is not None:
            self.hang.wait(10)  # a driver stuck in a read
        if self.fail is not None:
            raise self.fail
        if self.jpeg is not None:
            return frame_from_jpeg(self.view, self.jpeg, self.size_px, now_utc())
        image = np.full((self.size_px[1], self.size_px[0], 3), 40 * (shot % 5), np.uint8)
        return frame_from_bgr(self.view, image, self.size_px, 90, now_utc())

    def close(self):
        self.closed = True
        self.closed_event.set()


class Workshop:
    """A factory that builds PlainCameras, misbehaving as told, and remembers each one."""

    def __init__(self, **first_camera_kwargs):
        self.first = first_camera_kwargs  # view -> kwargs for that view's first camera only
        self.built: dict[str, list[PlainCamera]] = {v: [] for v in VIEWS}

    def __call__(self, view, camera_config, *, size_px, sim_seed_base):
        kwargs = self.first.get(view, {}) if not self.built[view] else {}
        camera = PlainCamera(view, size_px, **kwargs)
        self.built[view].append(camera)
        return camera


def test_a_hanging_camera_is_named_and_reopened_on_the_next_capture():
    release = threading.Event()
    workshop = Workshop(front={"hang": release})
    rig = CameraRig(cameras_config(timeout_s=0.3), dict.fromkeys(VIEWS, TINY_PX), factory=workshop)
    try:
        started = time.monotonic()
        with pytest.raises(CaptureFailed) as failed:
            rig.capture_all(1)
        assert time.monotonic() - started < 5  # it gave up instead of waiting for the driver
        assert "front camera not responding" in str(failed.value)
        assert set(failed.value.problems) == {"front"}
        hung = workshop.built["front"][0]
        assert hung.closed_event.wait(2)

        frames = rig.capture_all(2)
        assert set(frames) == set(VIEWS)
        assert len(workshop.built["front"]) == 2 and workshop.built["front"][1].opened
        assert len(workshop.built["side"]) == 1  # the cameras that worked were kept open
    finally:
        release.set()
        rig.close()


def test_a_failing_camera_is_named_and_nothing_is_returned():
    workshop = Workshop(side={"fail": RuntimeError("USB device disconnected")})
    with CameraRig(cameras_config(), dict.fromkeys(VIEWS, TINY_PX), factory=workshop) as rig:
        with pytest.raises(CaptureFailed) as failed:
            rig.capture_all(1)
        assert str(failed.value) == "side camera failed: USB device disconnected"
        assert rig.capture_all(2)["side"].view == "side"


def test_every_failing_camera_is_named():
    workshop = Workshop(
        side={"fail": CameraError("side camera: lens is covered")}, front={"fail": OSError("I/O error")}
    )
    with CameraRig(cameras_config(), dict.fromkeys(VIEWS, TINY_PX), factory=workshop) as rig:
        with pytest.raises(CaptureFailed) as failed:
            rig.capture_all(1)
    assert set(failed.value.problems) == {"side", "front"}
    assert "side camera: lens is covered" in str(failed.value)
    assert "front camera failed: I/O error" in str(failed.value)


@pytest.mark.parametrize("jpeg", [b"", b"\xff\xd8\xff\xe0 garbage"], ids=["empty", "garbage"])
def test_a_corrupt_jpeg_is_refused(jpeg):
    workshop = Workshop(front={"jpeg": jpeg})
    with CameraRig(cameras_config(), dict.fromkeys(VIEWS, TINY_PX), factory=workshop) as rig:
        with pytest.raises(CaptureFailed, match="^front camera returned a corrupt image$"):
            rig.capture_all(1)


def test_open_all_reports_which_camera_could_not_open():
    class Unplugged(PlainCamera):
        def open(self):
            raise CameraError("top camera: cannot open USB camera /dev/video4")

    def factory(view, camera_config, *, size_px, sim_seed_base):
        return (Unplugged if view == "top" else PlainCamera)(view, size_px)

    rig = CameraRig(cameras_config(), dict.fromkeys(VIEWS, TINY_PX), factory=factory)
    with pytest.raises(CaptureFailed) as failed:
        rig.open_all()
    rig.close()
    assert failed.value.problems == {"top": "top camera: cannot open USB camera /dev/video4"}


def test_close_closes_every_camera():
    workshop = Workshop()
    rig = CameraRig(cameras_config(), dict.fromkeys(VIEWS, TINY_PX), factory=workshop)
    rig.open_all()
    rig.close()
    assert all(workshop.built[v][0].closed for v in VIEWS)


# --- real hardware backends on a machine without the hardware ------------------------


def test_picamera2_backend_without_picamera2_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # as on a laptop: import fails
    camera = make_camera("side", CameraConfig(backend="picamera2"), size_px=SMALL_PX, sim_seed_base=0)
    with pytest.raises(CameraError) as failed:
        camera.open()
    message = str(failed.value)
    assert message.startswith("side camera: picamera2 is not installed")
    assert "python3-picamera2" in message and "goatdev[pi]" in message


def test_a_usb_camera_that_does_not_exist_gives_a_clear_error():
    camera = make_camera(
        "front", CameraConfig(backend="opencv", device="/dev/video99"), size_px=SMALL_PX, sim_seed_base=0
    )
    with pytest.raises(CameraError, match="front camera: cannot open USB camera /dev/video99"):
        camera.capture(1)
    camera.close()


def test_pi_cameras_are_found_by_their_stable_id_not_their_position():
    from edge.camera.picamera2_backend import camera_number

    infos = [
        {"Model": "imx708", "Id": "/base/axi/pcie@120000/rp1/i2c@88000/imx708@1a"},
        {"Model": "imx708", "Id": "/base/axi/pcie@120000/rp1/i2c@80000/imx708@1a"},
    ]
    assert camera_number("top", infos, 0, "/base/axi/pcie@120000/rp1/i2c@80000/imx708@1a") == 1
    assert camera_number("top", infos, 1, None) == 1
    with pytest.raises(CameraError, match="top camera: no camera with Id 'imx477'"):
        camera_number("top", infos, 0, "imx477")
    with pytest.raises(CameraError, match="top camera: no camera number 2; 2 connected"):
        camera_number("top", infos, 2, None)
