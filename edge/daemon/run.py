"""`goat-edge run`: cameras, models, store, button and local API in one process.

Start-up order: config -> store (migrations, orphan sweep) -> models -> cameras ->
pipeline -> API -> button, then systemd is told READY. SIGTERM (or Ctrl-C) stops the API,
lets a running capture finish and store, and closes the parts in reverse.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
import urllib.error
import urllib.request
from collections.abc import Callable

from edge.camera.base import CameraError
from edge.config import EdgeConfig
from edge.errors import GoatEdgeError
from edge.pipeline.capture import CaptureBusyError
from edge.pipeline.context import EdgeContext, build_context
from edge.pipeline.health import health_report
from edge.service import systemd

log = logging.getLogger("goat-edge")
# glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune_malloc(arenas: int | None = 2, mmap_threshold_bytes: int | None = 1 << 20) -> None:
    """Keep glibc from holding on to freed memory the daemon's memory budget needs
    (measured in benchmarks/RESULTS.md).

    - Threads get their own malloc arenas (up to 8 per core), each keeping what it freed;
      the API's, the cameras' and ncnn's threads would each hold some. Two arenas are
      plenty for one capture at a time.
    - glibc raises its mmap threshold after the first large block is freed, so from the
      second capture on the photos and their copies come from the heap, which keeps them
      after use. A fixed threshold keeps blocks of 1 MB and up in mmap, returned as soon
      as they are freed.

    Must run before those threads start; MALLOC_ARENA_MAX or MALLOC_MMAP_THRESHOLD_ in the
    environment win, and None leaves glibc's own setting."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        if arenas is not None and "MALLOC_ARENA_MAX" not in os.environ:
            libc.mallopt(_M_ARENA_MAX, arenas)
        if mmap_threshold_bytes is not None and "MALLOC_MMAP_THRESHOLD_" not in os.environ:
            libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold_bytes)
    except (OSError, AttributeError):
        pass  # not glibc: none of these settings exist


class ButtonCaptures:
    """Runs a capture per button press on its own thread, so gpiozero's event thread never
    blocks; a press while a capture runs is dropped, not queued."""

    def __init__(self, ctx: EdgeContext, light):
        self.ctx, self.light = ctx, light

    def on_press(self) -> None:
        if self.ctx.pipeline.busy:
            log.info("button pressed during a capture: ignored")
            return
        threading.Thread(target=self._capture, name="button-capture", daemon=True).start()

    def _capture(self) -> None:
        self.light.busy()
        try:
            stored = self.ctx.pipeline.capture("button")
        except CaptureBusyError:
            log.info("button pressed during a capture: ignored")
            return
        except GoatEdgeError as exc:
            log.error("capture failed: %s", exc)
            self.light.problem()
            return
        self.light.success() if stored["status"] == "ok" else self.light.problem()


def _watchdog(server, stop: threading.Event, problems: Callable[[], list[str]] | None = None) -> None:
    """READY once the API listens, then keep-alives while the API answers its own health
    probe: an API stalled by a flood of connections or a stuck request is restarted by
    systemd, even though this thread still runs. A part that is down (a 503 from health)
    is not cured by a restart: the API still answers, and systemd's status line
    (systemctl status goat-edge) says what is wrong."""
    while not server.started and not stop.wait(0.05):
        pass
    if stop.is_set():  # the API never started (its port taken, say): not ready, never was
        return
    log.info("ready: API on http://%s:%d/", server.config.host, server.config.port)
    systemd.ready()
    interval_s = systemd.watchdog_interval_s()
    said = None
    while interval_s and not stop.wait(interval_s / 2):
        if server.should_exit:
            continue
        if api_answers(server.config.host, server.config.port, timeout_s=interval_s / 4):
            systemd.watchdog_ping()
        else:
            log.warning("watchdog: the API did not answer its health probe; not telling systemd all is well")
        now = "; ".join(problems()) if problems else ""
        if now != said:
            systemd.notify(f"STATUS={now[:400] or 'all parts working'}")
            said = now


def api_answers(host: str, port: int, timeout_s: float) -> bool:
    """Whether GET /api/health answers within timeout_s, asked the way a client would: 200,
    or 503 (the API works; a part it reports on does not)."""
    probe = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "::1": "[::1]", "localhost": "127.0.0.1"}.get(host, host)
    try:
        with urllib.request.urlopen(f"http://{probe}:{port}/api/health", timeout=timeout_s) as answer:
            return answer.status == 200
    except urllib.error.HTTPError as error:
        return error.code == 503
    except (OSError, ValueError):  # refused, timed out
        return False


def _watch_models(ctx: EdgeContext, stop: threading.Event) -> None:
    """Load a promoted (or rolled back) model set between captures, without a restart."""
    while not stop.wait(ctx.config.models.reload_check_s):
        ctx.reload_models()


def _recheck_cameras(ctx: EdgeContext, stop: threading.Event) -> None:
    """Open the cameras at start-up, and while idle retry any that failed, so /api/health
    knows of a camera that is unplugged (or plugged back) before the next capture."""
    wait_s = 0.0
    while not stop.wait(wait_s):
        wait_s = ctx.config.health.camera_recheck_s
        if ctx.pipeline.busy or all(state.ok for state in ctx.rig.states().values()):
            continue
        try:
            ctx.rig.open_all()
        except CameraError as exc:
            log.warning("cameras: %s", exc)


def start_button(ctx: EdgeContext, pin_factory):
    """The capture button and status light on `pin_factory` (None: gpiozero's default)."""
    from edge.trigger.button import CaptureButton
    from edge.trigger.status import StatusLight

    cfg = ctx.config.button
    light = StatusLight(cfg.led_pin, cfg.buzzer_pin, pin_factory=pin_factory)
    try:
        button = CaptureButton(cfg, ButtonCaptures(ctx, light).on_press, pin_factory=pin_factory)
    except BaseException:
        light.close()
        raise
    return button, light


def run_daemon(config: EdgeConfig) -> int:
    import uvicorn

    from edge.api.app import create_app
    from edge.api.connections import check_file_limit, guarded_protocol

    tune_malloc()
    check_file_limit(config.api)
    ctx = build_context(config)
    button = light = None
    stop = threading.Event()
    try:
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(ctx),
                host=config.api.host,
                port=config.api.port,
                log_config=None,
                access_log=False,
                # A tablet's open event stream (/api/events) must not hold up a stop.
                timeout_graceful_shutdown=5,
                http=guarded_protocol(config.api),
            )
        )
        if config.button.enabled:
            from edge.trigger.pins import make_pin_factory

            button, light = start_button(ctx, make_pin_factory(config.button.pin_factory))

        def problems() -> list[str]:  # for the watchdog's status line
            return health_report(ctx).problems

        threading.Thread(target=_watchdog, args=(server, stop, problems), name="watchdog", daemon=True).start()
        threading.Thread(target=_recheck_cameras, args=(ctx, stop), name="cameras", daemon=True).start()
        threading.Thread(target=_watch_models, args=(ctx, stop), name="models", daemon=True).start()
        # uvicorn re-raises the stop signal once it has shut down; with the default handler
        # that would kill us before the running capture is stored and the parts closed.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: None)
        log.info("device %s: starting the API", config.device.id)
        try:
            server.run()
        except SystemExit:  # uvicorn's way of saying it could not start (its log says why)
            pass
        if not server.started:
            raise GoatEdgeError(
                f"cannot serve the API on {config.api.host}:{config.api.port} (is another goat-edge running?)"
            )
    finally:
        stop.set()
        systemd.stopping()
        if button:
            button.close()
        ctx.close()
        if light:
            light.close()
        log.info("stopped")
    return 0
