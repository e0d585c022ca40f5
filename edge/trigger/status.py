"""What the associate at the chute sees and hears: a status LED and an optional buzzer.

  busy     slow blink while a capture runs
  success  steady on for `success_for_s` (then off), one beep
  problem  fast blink for `problem_for_s` (then off), two beeps: an error, or a retake needed
  idle     off

Each state replaces the previous one at once (gpiozero stops the running blink thread), so a
success still lit when the next press comes is simply replaced by busy. With success_for_s
None the light stays on until the next state.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from edge.trigger.pins import open_device


@dataclass(frozen=True)
class LightTimings:
    busy_blink_s: float = 0.25  # on and off each; slow enough to read as "working"
    problem_blink_s: float = 0.08  # on and off each; fast enough to read as "wrong"
    problem_for_s: float = 3.0
    success_for_s: float | None = 3.0
    beep_s: float = 0.12  # each beep, and the gap between two


class StatusLight:
    """LED on `led_pin` and buzzer on `buzzer_pin`, both active-high; either None means not fitted."""

    def __init__(
        self, led_pin: int | None, buzzer_pin: int | None, pin_factory=None, timings: LightTimings = LightTimings()
    ):
        from gpiozero import LED, Buzzer

        self.timings = timings
        # Calls come from the pipeline and from the button thread; gpiozero's own stop-and-restart
        # of a blink is not one atomic step.
        self._lock = threading.Lock()
        self._led = None
        self._buzzer = None
        try:
            if led_pin is not None:
                self._led = open_device("status LED", led_pin, lambda: LED(led_pin, pin_factory=pin_factory))
            if buzzer_pin is not None:
                self._buzzer = open_device("buzzer", buzzer_pin, lambda: Buzzer(buzzer_pin, pin_factory=pin_factory))
        except Exception:
            self.close()
            raise

    def busy(self) -> None:
        t = self.timings
        with self._lock:
            if self._led:
                self._led.blink(on_time=t.busy_blink_s, off_time=t.busy_blink_s)
            if self._buzzer:
                self._buzzer.off()

    def success(self) -> None:
        t = self.timings
        with self._lock:
            if self._led:
                if t.success_for_s is None:
                    self._led.on()
                else:
                    # One blink cycle: on for success_for_s, then off; cancelled by the next state.
                    self._led.blink(on_time=t.success_for_s, off_time=0, n=1)
            self._beep(1)

    def problem(self) -> None:
        t = self.timings
        with self._lock:
            if self._led:
                flashes = max(1, round(t.problem_for_s / (2 * t.problem_blink_s)))
                self._led.blink(on_time=t.problem_blink_s, off_time=t.problem_blink_s, n=flashes)
            self._beep(2)

    def idle(self) -> None:
        with self._lock:
            for device in (self._led, self._buzzer):
                if device:
                    device.off()

    def _beep(self, times: int) -> None:
        if self._buzzer:
            self._buzzer.beep(on_time=self.timings.beep_s, off_time=self.timings.beep_s, n=times)

    def close(self) -> None:
        for device in (self._led, self._buzzer):
            if device:
                device.close()
        self._led = self._buzzer = None

    def __enter__(self) -> StatusLight:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
