"""The ChArUco calibration board: its geometry, its printable image, and finding it in a photo.

Board frame (cm): origin at the top-left outer corner of the square grid as printed, u to
the right along the printed rows, v down the printed columns, w = u x v into the board
(away from whoever looks at the printed face). These are OpenCV's board object points.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

# Fewer corners than this cannot pin down a pose reliably (and fit collinear rows too easily).
MIN_CORNERS = 12


@dataclass(frozen=True)
class BoardSpec:
    """A ChArUco board: squares_x columns by squares_y rows of square_cm squares.

    The default, 5 x 7 squares of 8 cm (40 x 56 cm), fits across the 50 cm chute for the
    front camera and prints on an A1 sheet glued to foam board.
    """

    squares_x: int = 5
    squares_y: int = 7
    square_cm: float = 8.0
    marker_cm: float = 6.0
    dictionary: str = "DICT_5X5_100"

    def __post_init__(self):
        if self.squares_x < 3 or self.squares_y < 3:
            raise ValueError("the board needs at least 3 x 3 squares")
        if not 0 < self.marker_cm < self.square_cm:
            raise ValueError("markers must be smaller than the squares")
        if not hasattr(cv2.aruco, self.dictionary):
            raise ValueError(f"unknown ArUco dictionary {self.dictionary!r}")

    @property
    def width_cm(self) -> float:
        return self.squares_x * self.square_cm

    @property
    def height_cm(self) -> float:
        return self.squares_y * self.square_cm

    @cached_property
    def cv_board(self) -> cv2.aruco.CharucoBoard:
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        return cv2.aruco.CharucoBoard((self.squares_x, self.squares_y), self.square_cm, self.marker_cm, dictionary)

    @cached_property
    def detector(self) -> cv2.aruco.CharucoDetector:
        # The top camera sees the floor board from 2.2 m, where a marker bit is ~3 px wide.
        # OpenCV's defaults then lose up to 10 of 24 corners in some photos; these settings
        # (small markers allowed, finer thresholding, more samples per bit, and a little
        # more error correction, which the ChArUco board layout still validates) find all.
        params = cv2.aruco.DetectorParameters()
        params.minMarkerPerimeterRate = 0.01
        params.adaptiveThreshWinSizeMin = 3
        params.adaptiveThreshWinSizeStep = 4
        params.perspectiveRemovePixelPerCell = 8
        params.perspectiveRemoveIgnoredMarginPerCell = 0.25
        params.errorCorrectionRate = 0.8
        return cv2.aruco.CharucoDetector(self.cv_board, cv2.aruco.CharucoParameters(), params)

    @property
    def corners_cm(self) -> np.ndarray:
        """Every inner chessboard corner in the board frame, indexed by ChArUco id, (N, 3)."""
        return np.asarray(self.cv_board.getChessboardCorners(), np.float64).reshape(-1, 3)

    def image(self, px_per_cm: float, margin_cm: float = 0.0) -> np.ndarray:
        """The board as a grayscale image; pixel (0, 0) covers the grid's top-left corner.

        Squares are a whole number of pixels so that every square prints the same size;
        the grid therefore spans squares * round(square_cm * px_per_cm) pixels.
        """
        square_px = round(self.square_cm * px_per_cm)
        size = (self.squares_x * square_px, self.squares_y * square_px)
        img = self.cv_board.generateImage(size, marginSize=0, borderBits=1)
        margin_px = round(margin_cm * px_per_cm)
        if margin_px:
            img = cv2.copyMakeBorder(img, margin_px, margin_px, margin_px, margin_px, cv2.BORDER_CONSTANT, value=255)
        return img

    def detect(self, image: np.ndarray) -> BoardDetection:
        """The ChArUco corners visible in a photo (possibly none)."""
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        corners, ids, _, _ = self.detector.detectBoard(gray)
        if ids is None or len(ids) == 0:
            return BoardDetection(np.zeros((0, 2)), np.zeros(0, int), np.zeros((0, 3)))
        ids = ids.ravel().astype(int)
        pixels = corners.reshape(-1, 2).astype(np.float64)
        return BoardDetection(pixels, ids, self.corners_cm[ids])


@dataclass(frozen=True, eq=False)
class BoardDetection:
    """Corners found in one photo: pixels (N, 2), ChArUco ids, and board points (N, 3) in cm."""

    pixels: np.ndarray
    ids: np.ndarray
    object_cm: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def usable(self) -> bool:
        return len(self) >= MIN_CORNERS
