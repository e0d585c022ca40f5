"""The capture button: each (debounced, optionally held) press calls on_press once."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from edge.config import ButtonConfig
from edge.trigger.pins import open_device

log = logging.getLogger(__name__)


class CaptureButton:
    """A push button between `config.pin` and ground, using the Pi's internal pull-up.

    With hold_time_s 0 a press captures as it goes down; with hold_time_s > 0 only a press held
    that long captures (once per hold), so a goat leaning on the button does not.

    on_press runs in gpiozero's thread (the backend's callback thread, or the hold thread).
    It should return quickly, handing the capture to the pipeline's worker: lgpio delivers
    edges one at a time, so presses made while on_press blocks arrive after it returns and
    would no longer find the pipeline busy. An exception from on_press is logged and the
    button keeps working.
    """

    def __init__(self, config: ButtonConfig, on_press: Callable[[], None], pin_factory=None):
        from gpiozero import Button

        self.pin = config.pin
        self.bounce_time_s = config.bounce_time_s
        self._on_press = on_press
        self._lock = threading.Lock()
        self._last_press_s: float | None = None
        self._button = open_device(
            "capture button",
            config.pin,
            lambda: Button(
                config.pin,
                pull_up=True,
                bounce_time=config.bounce_time_s or None,
                # gpiozero wants a hold time even when we never listen for holds; 1 s is its default.
                hold_time=config.hold_time_s or 1.0,
                pin_factory=pin_factory,
            ),
        )
        if config.hold_time_s > 0:
            self._button.when_held = self._pressed
        else:
            self._button.when_pressed = self._pressed

    @property
    def is_pressed(self) -> bool:
        return bool(self._button.is_pressed)

    def _pressed(self) -> None:
        # gpiozero hands bounce_time to the backend (lgpio filters it), but the mock and native
        # backends ignore it and report every contact bounce; this keeps one press one call
        # whatever the backend.
        now_s = time.monotonic()
        with self._lock:
            if self._last_press_s is not None and now_s - self._last_press_s < self.bounce_time_s:
                log.debug("GPIO%d: bounce %.3f s after a press ignored", self.pin, now_s - self._last_press_s)
                return
            self._last_press_s = now_s
        try:
            self._on_press()
        except Exception:
            log.exception("capture button on GPIO%d: the press handler failed; the button still works", self.pin)

    def close(self) -> None:
        self._button.close()

    def __enter__(self) -> CaptureButton:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
