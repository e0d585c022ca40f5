"""Raspberry Pi camera modules through picamera2 (libcamera).

picamera2 is imported only when a camera opens, so this package imports, and the other
backends run, on machines without it.
"""

from __future__ import annotations

from typing import Any, cast

from edge.camera.base import Camera, CameraError, Frame, frame_from_bgr, now_utc

INSTALL_HINT = (
    "picamera2 is not installed; on Raspberry Pi OS run `sudo apt install python3-picamera2` "
    "(with a venv made with --system-site-packages), or install the `pi` extra: "
    "pip install 'goatdev[pi]'"
)


def _import_picamera2():
    try:
        from picamera2 import Picamera2
    except ImportError:
        return None
    return Picamera2


def camera_number(view: str, infos: list[dict], camera_num: int, camera_id: str | None) -> int:
    """The libcamera number of this view's camera: found by its stable Id when one is given,
    because numbers follow detection order and can swap when a cable is reseated."""
    # global_camera_info() is ordered by camera number; newer picamera2 also gives "Num".
    numbered = [(info.get("Num", i), info) for i, info in enumerate(infos)]
    if camera_id is not None:
        for num, info in numbered:
            if info.get("Id") == camera_id:
                return num
        found = ", ".join(str(info.get("Id")) for _, info in numbered) or "none"
        raise CameraError(f"{view} camera: no camera with Id {camera_id!r} is connected (found: {found})")
    if not any(num == camera_num for num, _ in numbered):
        raise CameraError(
            f"{view} camera: no camera number {camera_num}; {len(infos)} connected "
            f"(list them with `rpicam-hello --list-cameras`)"
        )
    return camera_num


class Picamera2Camera(Camera):
    def __init__(
        self, view: str, size_px: tuple[int, int], *, camera_num: int, camera_id: str | None, jpeg_quality: int
    ):
        self.view = view
        self.size_px = cast(tuple[int, int], tuple(size_px))
        self.camera_num = camera_num
        self.camera_id = camera_id
        self.jpeg_quality = jpeg_quality
        self._camera: Any | None = None  # a Picamera2 once open

    def open(self) -> None:
        if self._camera is not None:
            return
        Picamera2 = _import_picamera2()
        if Picamera2 is None:
            raise CameraError(f"{self.view} camera: {INSTALL_HINT}")
        num = camera_number(self.view, Picamera2.global_camera_info(), self.camera_num, self.camera_id)
        try:
            camera = Picamera2(num)
        except Exception as exc:  # libcamera says "busy" or "failed to acquire" in many ways
            raise CameraError(f"{self.view} camera: cannot open camera {num}: {exc}") from exc
        try:
            # One still configuration, reused for every shot: reconfiguring costs ~1 s.
            # RGB888 is stored B, G, R per pixel: OpenCV's order, no conversion needed.
            config = camera.create_still_configuration(main={"size": self.size_px, "format": "RGB888"})
            camera.configure(config)
            camera.start()
        except Exception as exc:
            camera.close()
            raise CameraError(
                f"{self.view} camera: cannot start camera {num} at {self.size_px[0]}x{self.size_px[1]}: {exc}"
            ) from exc
        self._camera = camera

    def capture(self, shot: int) -> Frame:
        self.open()
        assert self._camera is not None  # open() sets it or raises
        image = self._camera.capture_array("main")
        return frame_from_bgr(self.view, image, self.size_px, self.jpeg_quality, now_utc())

    def close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            try:
                camera.stop()
            finally:
                camera.close()
