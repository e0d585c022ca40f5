"""The three cameras fired together: every view's frame, or an error naming who failed.

Each view runs in its own thread, so one slow camera neither delays the others' exposure
nor blocks the daemon past `timeout_s`. A thread stuck in a driver cannot be killed; it is
left behind as a daemon thread, its camera is closed as far as possible, and a fresh one
is built and opened on the next capture.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from edge.camera.base import Camera, CameraError, Frame, check_size
from edge.camera.factory import CameraFactory, make_camera
from edge.config import CamerasConfig
from edge.keypoints import VIEWS

log = logging.getLogger(__name__)


class CaptureFailed(CameraError):
    """One or more cameras failed; `problems` maps each failed view to its message."""

    def __init__(self, problems: Mapping[str, str]):
        self.problems = {v: problems[v] for v in VIEWS if v in problems}
        super().__init__("; ".join(self.problems.values()))


@dataclass(frozen=True)
class CameraState:
    """What the rig last learned of one camera: whether it worked, and if not, why."""

    ok: bool | None  # None: not tried yet
    problem: str | None = None
    checked_at: datetime | None = None  # UTC


class _Outcome:
    """What one worker thread left behind; `done` is set last, after the value or error."""

    def __init__(self):
        self.value = None
        self.error: BaseException | None = None
        self.done = False


def _work(job: Callable, outcome: _Outcome, go: threading.Event) -> None:
    go.wait()
    try:
        outcome.value = job()
    except BaseException as exc:  # reported to the caller; a worker has nobody else to tell
        outcome.error = exc
    outcome.done = True


def _describe(view: str, exc: BaseException) -> str:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, CameraError) and f"{view} camera" in message:
        return message
    return f"{view} camera failed: {message}"


def _close_quietly(camera: Camera) -> None:
    try:
        camera.close()
    except Exception as exc:
        log.warning("%s camera: closing it failed: %s", getattr(camera, "view", "?"), exc)


def _close_in_background(camera: Camera) -> threading.Thread:
    # A camera that hung may hang again in close(); never let that block the daemon.
    thread = threading.Thread(
        target=_close_quietly, args=(camera,), daemon=True, name=f"close-{getattr(camera, 'view', '?')}-camera"
    )
    thread.start()
    return thread


class CameraRig:
    def __init__(
        self,
        cameras_config: CamerasConfig,
        calibration_sizes: Mapping[str, tuple[int, int]],
        factory: CameraFactory = make_camera,
        *,
        sim_seed_base: int | None = None,
    ):
        """calibration_sizes: view -> calibrated (width, height); every frame must match it.

        sim_seed_base: where simulated goats' seeds start; by default random, chosen once,
        so each daemon run sees new goats but the three views of a shot agree.
        """
        missing = [v for v in VIEWS if v not in calibration_sizes]
        if missing:
            raise CameraError(f"no calibrated image size for the {', '.join(missing)} camera(s)")
        self.config = cameras_config
        self.sizes_px = {v: cast(tuple[int, int], tuple(calibration_sizes[v])) for v in VIEWS}
        self.sim_seed_base = random.SystemRandom().randrange(2**31) if sim_seed_base is None else sim_seed_base
        self._factory = factory
        self._cameras: dict[str, Camera | None] = dict.fromkeys(VIEWS)
        self._states = {view: CameraState(ok=None) for view in VIEWS}
        self._lock = threading.Lock()  # one capture (or open, or close) at a time

    def states(self) -> dict[str, CameraState]:
        """Each camera's last outcome (opening or capturing), for /api/health; a camera that
        failed stays failed until it works again."""
        return dict(self._states)

    def open_all(self) -> None:
        """Open every camera now (at start-up) rather than on the first capture.

        Raises CaptureFailed naming each camera that could not open within timeout_s;
        those that did open stay open, the others are retried on the next capture.
        """
        with self._lock:
            self._open_missing(time.monotonic() + self.config.timeout_s)

    def capture_all(self, shot: int) -> dict[str, Frame]:
        """One frame per view, taken together; all three or CaptureFailed, never a part.

        Opening cameras that are not open yet counts toward the same timeout_s.
        """
        with self._lock:
            deadline = time.monotonic() + self.config.timeout_s
            self._open_missing(deadline)
            cameras = dict(self._cameras)
            frames, problems = self._in_parallel(
                {v: (lambda cam=cameras[v]: cam.capture(shot)) for v in VIEWS}, deadline
            )
            for view, frame in list(frames.items()):
                try:
                    self._check(view, frame)
                except CameraError as exc:
                    problems[view] = str(exc)
                    del frames[view]
            for view in problems:
                self._discard(view)
            self._note(problems, ok_views=frames)
            if problems:
                raise CaptureFailed(problems)
            return frames

    def close(self) -> None:
        """Close every open camera, waiting at most timeout_s for any one that hangs."""
        with self._lock:
            closing = [_close_in_background(cam) for cam in self._cameras.values() if cam is not None]
            self._cameras = dict.fromkeys(VIEWS)
            deadline = time.monotonic() + self.config.timeout_s
            for thread in closing:
                thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> CameraRig:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _open_missing(self, deadline: float) -> None:
        problems, fresh = {}, {}
        for view in VIEWS:
            if self._cameras[view] is not None:
                continue
            try:
                fresh[view] = self._factory(
                    view, self.config[view], size_px=self.sizes_px[view], sim_seed_base=self.sim_seed_base
                )
            except Exception as exc:
                problems[view] = _describe(view, exc)
        opened, failed = self._in_parallel({v: cam.open for v, cam in fresh.items()}, deadline)
        for view in opened:
            self._cameras[view] = fresh[view]
        for view in failed:
            _close_in_background(fresh[view])
        problems.update(failed)
        self._note(problems, ok_views=opened)
        if problems:
            raise CaptureFailed(problems)

    def _note(self, problems: Mapping[str, str], ok_views) -> None:
        now = datetime.now(UTC)
        for view, problem in problems.items():
            self._states[view] = CameraState(ok=False, problem=problem, checked_at=now)
        for view in ok_views:
            self._states[view] = CameraState(ok=True, checked_at=now)

    def _in_parallel(self, jobs: Mapping[str, Callable], deadline: float) -> tuple[dict, dict[str, str]]:
        """Run one job per view in threads released together; (values, problems) by view."""
        outcomes = {view: _Outcome() for view in jobs}
        go = threading.Event()
        threads = [
            threading.Thread(target=_work, args=(job, outcomes[view], go), daemon=True, name=f"{view}-camera")
            for view, job in jobs.items()
        ]
        for thread in threads:
            thread.start()
        go.set()  # released together, so the three exposures start as close as threads allow
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        values, problems = {}, {}
        for view, outcome in outcomes.items():
            if not outcome.done:
                problems[view] = f"{view} camera not responding (nothing within {self.config.timeout_s:g} s)"
            elif outcome.error is not None:
                problems[view] = _describe(view, outcome.error)
            else:
                values[view] = outcome.value
        return values, problems

    def _check(self, view: str, frame) -> None:
        # Injected backends may skip base.frame_from_*; a wrong frame must not reach geometry.
        if not isinstance(frame, Frame) or frame.view != view:
            raise CameraError(f"{view} camera returned something other than its own frame")
        check_size(view, frame.size_px, self.sizes_px[view])

    def _discard(self, view: str) -> None:
        camera, self._cameras[view] = self._cameras[view], None
        if camera is not None:
            _close_in_background(camera)
