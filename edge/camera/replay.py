"""Earlier captures played back as if the cameras took them: bench tests without a goat.

The folder holds one subfolder per capture, each with side.jpg, top.jpg and front.jpg (what
`goat-edge simulate` writes); a folder holding those files itself is a single capture.
Captures play in name order and start again after the last.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from edge.camera.base import Camera, CameraError, Frame, frame_from_jpeg, now_utc
from edge.keypoints import VIEWS


def list_captures(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise CameraError(f"replay folder {folder} does not exist or is not a folder")
    # Every subfolder counts, even one missing this view's file, so all views agree on
    # which capture shot n is; the missing file is then named when it is reached.
    captures = sorted(p for p in folder.iterdir() if p.is_dir())
    if not captures and any((folder / f"{v}.jpg").is_file() for v in VIEWS):
        captures = [folder]
    if not captures:
        raise CameraError(
            f"replay folder {folder} holds no captures; expected subfolders with "
            f"{', '.join(v + '.jpg' for v in VIEWS)} (as `goat-edge simulate --out` writes)"
        )
    return captures


class ReplayCamera(Camera):
    def __init__(self, view: str, folder: Path, size_px: tuple[int, int]):
        self.view = view
        self.folder = Path(folder)
        self.size_px = cast(tuple[int, int], tuple(size_px))
        self._captures: list[Path] | None = None

    def open(self) -> None:
        # Listed once: a capture added while running shows up after the next reopen.
        self._captures = list_captures(self.folder)

    def path_for(self, shot: int) -> Path:
        if self._captures is None:
            self.open()
        assert self._captures is not None  # open() lists them or raises
        return self._captures[shot % len(self._captures)] / f"{self.view}.jpg"

    def capture(self, shot: int) -> Frame:
        path = self.path_for(shot)
        try:
            jpeg = path.read_bytes()
        except FileNotFoundError:
            raise CameraError(f"{self.view} camera (replay): {path} is missing") from None
        except OSError as exc:
            raise CameraError(f"{self.view} camera (replay): cannot read {path}: {exc.strerror or exc}") from None
        return frame_from_jpeg(self.view, jpeg, self.size_px, now_utc(), source=path)

    def close(self) -> None:
        self._captures = None
