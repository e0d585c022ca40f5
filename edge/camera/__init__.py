"""The three chute cameras behind one small interface, with the backend chosen by config.

`make_camera` builds one view's camera (picamera2, a USB camera through OpenCV, the
simulated chute, or a folder of earlier captures); `CameraRig` fires all three together
and either returns every view's frame or fails naming the cameras that let it down.
"""

from edge.camera.base import Camera, CameraError, Frame
from edge.camera.factory import make_camera
from edge.camera.rig import CameraRig, CaptureFailed

__all__ = ["Camera", "CameraError", "CameraRig", "CaptureFailed", "Frame", "make_camera"]
