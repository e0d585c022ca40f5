"""JPEG files in and out: the one encoder and decoder of cameras, annotated images,
the simulator and training crops."""

from __future__ import annotations

import cv2
import numpy as np

from edge.errors import GoatEdgeError


class JpegError(GoatEdgeError):
    """An image that cannot be encoded, or bytes that are not a JPEG."""


def encode_jpeg(image_bgr: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image_bgr), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise JpegError(f"cannot encode a {image_bgr.shape} image as JPEG")
    return buf.tobytes()


def decode_jpeg(data: bytes, *, colour: bool = True) -> np.ndarray:
    """The image in data: BGR, or as stored (a grey JPEG stays grey) with colour off."""
    image = (
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR if colour else cv2.IMREAD_UNCHANGED)
        if data
        else None
    )
    if image is None:
        raise JpegError("not a JPEG image")
    return image
