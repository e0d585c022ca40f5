"""What every camera backend provides: open, capture one frame per shot, close.

Helpers here turn a backend's raw picture into a checked `Frame`, so every backend refuses
a corrupt JPEG or a picture of the wrong size with the same message.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from edge.errors import GoatEdgeError
from edge.jpeg import JpegError, decode_jpeg, encode_jpeg


class CameraError(GoatEdgeError):
    """A camera could not be opened, sent no picture, or sent one that cannot be used."""


@dataclass(frozen=True, eq=False)
class Frame:
    view: str
    jpeg: bytes  # what is stored; image_bgr is exactly its decoding
    image_bgr: np.ndarray  # (height, width, 3) uint8
    captured_at: datetime  # UTC

    @property
    def size_px(self) -> tuple[int, int]:
        height, width = self.image_bgr.shape[:2]
        return width, height


class Camera(ABC):
    """One view's camera. Backends override `capture`, and `open`/`close` if they hold a device.

    The constructor must not touch hardware (the rig builds cameras freely and opens them in
    a worker thread with a deadline); `open` acquires the device, `close` releases it and
    must be safe to call twice, or on a camera that never opened or failed half-way.
    """

    view: str

    def open(self) -> None:  # noqa: B027 (optional: most backends have nothing to acquire)
        """Acquire the device and configure it once; override when there is one to acquire."""

    @abstractmethod
    def capture(self, shot: int) -> Frame:
        """Take one picture for shot number `shot` (counting from 1 in the daemon).

        Must return a Frame built with `frame_from_jpeg` or `frame_from_bgr`, and raise
        CameraError, naming the view, when there is no usable picture.
        """

    def close(self) -> None:  # noqa: B027 (optional, as open is)
        """Release the device; override when `open` acquired one."""

    def __enter__(self) -> Camera:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def now_utc() -> datetime:
    return datetime.now(UTC)


def check_size(view: str, size_px: tuple[int, int], expected_px: tuple[int, int]) -> None:
    if tuple(size_px) != tuple(expected_px):
        raise CameraError(
            f"{view} camera sent a {size_px[0]}x{size_px[1]} picture but it is calibrated for "
            f"{expected_px[0]}x{expected_px[1]}; set the camera to the calibrated size or recalibrate"
        )


def frame_from_jpeg(
    view: str, jpeg: bytes, expected_px: tuple[int, int], captured_at: datetime, source: Path | str | None = None
) -> Frame:
    """A Frame from a JPEG, refused if it does not decode or has the wrong size."""
    try:
        image = decode_jpeg(jpeg)
    except JpegError:
        where = f": {source}" if source is not None else ""
        raise CameraError(f"{view} camera returned a corrupt image{where}") from None
    check_size(view, (image.shape[1], image.shape[0]), expected_px)
    return Frame(view, bytes(jpeg), image, captured_at)


def frame_from_bgr(
    view: str, image_bgr: np.ndarray, expected_px: tuple[int, int], jpeg_quality: int, captured_at: datetime
) -> Frame:
    """Encode a live picture; the Frame's image is the decoded JPEG, not the raw array, so
    measuring the stored JPEG later gives exactly what was measured now."""
    if image_bgr is None or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        shape = None if image_bgr is None else image_bgr.shape
        raise CameraError(f"{view} camera returned a corrupt image (array of shape {shape}, expected colour)")
    check_size(view, (image_bgr.shape[1], image_bgr.shape[0]), expected_px)
    try:
        jpeg = encode_jpeg(image_bgr, jpeg_quality)
    except JpegError:
        raise CameraError(f"{view} camera: its picture could not be encoded as JPEG") from None
    return frame_from_jpeg(view, jpeg, expected_px, captured_at)
