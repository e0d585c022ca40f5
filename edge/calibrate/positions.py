"""Where the board stands for each camera's reference photos, in the chute frame.

The reference photos tie a camera to the chute: the board corners found in them, placed at
the board's known pose in the chute, give the camera's pose by solvePnP. The renderer, the
solver and docs/calibration.md all read these placements.

Chute frame (cm): origin on the floor, on the centre line, under the front gate; x along the
chute toward the front camera, y across toward the side camera, z up.

The top camera gets two reference photos, the board flat on the floor 70 cm apart: a single
flat board 2.2 m below it fixes the camera's tilt so weakly that 0.06 px of corner noise moves
its computed position by 1.6 cm (rms); the pair brings that to 0.3 cm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.calibrate.board import BoardSpec

GOAT_CENTRE_X_CM = -88.0  # the barrel of a 110 cm buck standing at the front gate
GOAT_CHEST_X_CM = -30.0  # where the goat's chest stands
TOP_SPREAD_CM = 35.0  # the top camera's two boards lie this far ahead of and behind the goat centre


@dataclass(frozen=True)
class StandardPosition:
    """The board's placement for one reference photo, PHOTOS/<view>/<photo>.jpg.

    right and down are the world directions of the printed board's rightward and downward
    edges as seen by the camera; centre_xy_cm is the board centre's x, y. An upright board
    stands with its lowest edge on the floor; a flat one lies on the floor.
    """

    view: str
    photo: str
    centre_xy_cm: tuple[float, float]
    right: tuple[float, float, float]
    down: tuple[float, float, float]
    how: str

    def pose(self, board: BoardSpec) -> tuple[np.ndarray, np.ndarray]:
        """Board-to-world rotation and translation: x_world = R @ x_board + t."""
        right, down = np.asarray(self.right, float), np.asarray(self.down, float)
        R = np.column_stack([right, down, np.cross(right, down)])
        # The board's extent along z: whichever printed edges point up or down.
        height_cm = abs(right[2]) * board.width_cm + abs(down[2]) * board.height_cm
        centre = np.array([*self.centre_xy_cm, height_cm / 2])
        half = np.array([board.width_cm / 2, board.height_cm / 2, 0.0])
        return R, centre - R @ half

    def to_world(self, board: BoardSpec, points_board_cm: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
        R, t = self.pose(board)
        return np.asarray(points_board_cm, float).reshape(-1, 3) @ R.T + t

    def corners_world(self, board: BoardSpec) -> np.ndarray:
        """The four outer corners of the square grid in the chute frame, (4, 3)."""
        w, h = board.width_cm, board.height_cm
        return self.to_world(board, [[0, 0, 0], [w, 0, 0], [w, h, 0], [0, h, 0]])


def _top(photo: str, x_cm: float, where: str) -> StandardPosition:
    # Long edges along the chute; read from the tail end, the printed top is toward the
    # front gate (+x) and the printed right away from the side camera (-y).
    return StandardPosition(
        "top",
        photo,
        (x_cm, 0.0),
        right=(0, -1, 0),
        down=(-1, 0, 0),
        how=f"flat on the floor, printed face up, long edges along the chute, printed top "
        f"edge toward the front gate, centred on the centre line at x = {x_cm:g} cm ({where})",
    )


STANDARD_POSITIONS: dict[str, tuple[StandardPosition, ...]] = {
    # Seen from the side camera (at +y looking -y), its right is toward the tail (-x).
    "side": (
        StandardPosition(
            "side",
            "reference",
            (GOAT_CENTRE_X_CM, 0.0),
            right=(-1, 0, 0),
            down=(0, 0, -1),
            how=f"upright on the centre line (plane y = 0), printed face toward the side camera, "
            f"bottom edge on the floor, centred at x = {GOAT_CENTRE_X_CM:g} cm",
        ),
    ),
    "top": (
        _top("reference_head", GOAT_CENTRE_X_CM + TOP_SPREAD_CM, "the head end"),
        _top("reference_tail", GOAT_CENTRE_X_CM - TOP_SPREAD_CM, "the tail end"),
    ),
    # Seen from the front camera (at +x looking -x), its right is toward the side camera (+y).
    "front": (
        StandardPosition(
            "front",
            "reference",
            (GOAT_CHEST_X_CM, 0.0),
            right=(0, 1, 0),
            down=(0, 0, -1),
            how=f"upright across the chute (plane x = {GOAT_CHEST_X_CM:g} cm), printed face toward "
            f"the front camera, bottom edge on the floor, centred on the centre line",
        ),
    ),
}
