"""USB cameras through OpenCV's V4L2 capture: for a chute built from webcams."""

from __future__ import annotations

from typing import cast

import cv2

from edge.camera.base import Camera, CameraError, Frame, frame_from_bgr, now_utc

# V4L2 keeps a few frames queued; grabbing and dropping them means the picture kept was
# taken after the button press, not up to a few frames (and maybe a goat) earlier.
STALE_FRAMES = 4


def device_source(device: str) -> int | str:
    """'0' -> index 0; '/dev/video2' or a /dev/v4l/by-id path stays a path."""
    return int(device) if device.strip().isdigit() else device


class OpenCVCamera(Camera):
    def __init__(self, view: str, device: str, size_px: tuple[int, int], jpeg_quality: int):
        self.view = view
        self.device = device
        self.size_px = cast(tuple[int, int], tuple(size_px))
        self.jpeg_quality = jpeg_quality
        self._capture: cv2.VideoCapture | None = None

    def open(self) -> None:
        if self._capture is not None:
            return
        capture = cv2.VideoCapture(device_source(self.device), cv2.CAP_V4L2)
        if not capture.isOpened():
            capture.release()
            raise CameraError(
                f"{self.view} camera: cannot open USB camera {self.device}; check it is plugged in, "
                f"that the device exists (v4l2-ctl --list-devices) and this user is in the 'video' group"
            )
        width, height = self.size_px
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # not every driver honours it, hence the flush
        self._capture = capture

    def capture(self, shot: int) -> Frame:
        self.open()
        assert self._capture is not None  # open() sets it or raises
        for _ in range(STALE_FRAMES):
            self._capture.grab()
        ok, image = self._capture.read()
        captured_at = now_utc()
        if not ok or image is None:
            raise CameraError(f"{self.view} camera: USB camera {self.device} sent no picture")
        return frame_from_bgr(self.view, image, self.size_px, self.jpeg_quality, captured_at)

    def close(self) -> None:
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.release()
