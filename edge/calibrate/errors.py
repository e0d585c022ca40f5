"""What can go wrong while calibrating; each message names the camera and the photo or folder."""

from __future__ import annotations

from edge.errors import GoatEdgeError


class CalibrateError(GoatEdgeError):
    """Calibration refused; no calibration file was written."""


class PhotoFolderMissingError(CalibrateError):
    """A camera's photo folder does not exist."""


class ReferencePhotoMissingError(CalibrateError):
    """A camera's folder has no reference photo of the board at its standard position."""


class PhotoUnreadableError(CalibrateError):
    """A photo cannot be decoded, or its size differs from the camera's other photos."""


class BoardNotFoundError(CalibrateError):
    """The board is not visible (enough) in the reference photo."""


class TooFewPhotosError(CalibrateError):
    """Too few of a camera's photos show the board to solve its lens."""


class ReprojectionError(CalibrateError):
    """The calibrated camera reprojects the board corners worse than the allowed limit."""


class IncompleteCalibrationError(CalibrateError):
    """Some cameras were left out and there is no existing calibration to take them from."""


class LensSolveError(CalibrateError):
    """OpenCV could not solve the lens from the photos (degenerate views)."""


class InvalidBoardError(CalibrateError):
    """The board given on the command line cannot exist (e.g. markers larger than squares)."""
