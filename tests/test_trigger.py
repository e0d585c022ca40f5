"""The capture button and status light on gpiozero's MockFactory: real gpiozero devices, mock pins."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edge.config import ButtonConfig
from edge.trigger import CaptureButton, GpioUnavailable, LightTimings, StatusLight, TriggerError, make_pin_factory

BUTTON_PIN, LED_PIN, BUZZER_PIN = 17, 27, 22


@pytest.fixture
def factory():
    """A fresh MockFactory, also as gpiozero's default so nothing reaches for real GPIO."""
    saved = Device.pin_factory
    factory = MockFactory()
    Device.pin_factory = factory
    try:
        yield factory
    finally:
        factory.reset()
        Device.pin_factory = saved


class Presses:
    """on_press for the tests: counts calls and lets a test wait for the next one."""

    def __init__(self, fail_first: int = 0):
        self.count = 0
        self.fail_first = fail_first
        self._event = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        self._event.set()
        if self.count <= self.fail_first:
            raise RuntimeError("camera exploded")

    def wait(self, timeout_s: float) -> bool:
        fired = self._event.wait(timeout_s)
        self._event.clear()
        return fired


def press(pin, held_s: float = 0.0) -> None:
    pin.drive_low()  # pulled up: pressing connects the pin to ground
    if held_s:
        time.sleep(held_s)
    pin.drive_high()


def on_durations_s(pin) -> list[float]:
    """How long each completed 'on' of an output pin lasted; MockPin stamps each change with the
    time since the one before."""
    states = pin.states
    return [states[i + 1].timestamp for i in range(len(states) - 1) if states[i].state]


# --- make_pin_factory ---------------------------------------------------------------------------


def test_pin_factory_from_config_name():
    assert make_pin_factory("default") is None
    assert isinstance(make_pin_factory("mock"), MockFactory)
    with pytest.raises(TriggerError, match="unknown pin factory 'lgpio'"):
        make_pin_factory("lgpio")


# --- CaptureButton ------------------------------------------------------------------------------


def test_a_press_captures_once(factory):
    presses = Presses()
    button = CaptureButton(ButtonConfig(pin=BUTTON_PIN), presses, pin_factory=factory)
    try:
        pin = factory.pin(BUTTON_PIN)
        assert pin.pull == "up" and not button.is_pressed
        pin.drive_low()
        assert presses.wait(1.0)
        assert button.is_pressed
        pin.drive_high()
        time.sleep(0.05)
        assert presses.count == 1  # the release is not a press
    finally:
        button.close()


def test_contact_bounce_is_one_press_and_a_later_press_another(factory):
    # MockPin ignores bounce_time (gpiozero: "XXX Need to implement this"), so this exercises
    # CaptureButton's own guard, the same one that covers the native backend on a Pi.
    presses = Presses()
    button = CaptureButton(ButtonConfig(pin=BUTTON_PIN, bounce_time_s=0.05), presses, pin_factory=factory)
    try:
        pin = factory.pin(BUTTON_PIN)
        for _ in range(4):  # a switch chattering for well under 50 ms
            press(pin)
        assert presses.count == 1
        time.sleep(0.1)
        press(pin)
        assert presses.count == 2
    finally:
        button.close()


def test_with_hold_time_a_short_press_does_nothing_and_a_long_press_captures_once(factory):
    presses = Presses()
    button = CaptureButton(ButtonConfig(pin=BUTTON_PIN, hold_time_s=0.3, bounce_time_s=0), presses, pin_factory=factory)
    try:
        pin = factory.pin(BUTTON_PIN)
        press(pin, held_s=0.05)
        assert not presses.wait(0.5)
        assert presses.count == 0

        pressed_at = time.monotonic()
        pin.drive_low()
        assert presses.wait(2.0)
        assert time.monotonic() - pressed_at >= 0.25
        time.sleep(0.5)  # still held past another hold time: no second capture
        pin.drive_high()
        assert presses.count == 1
    finally:
        button.close()


def test_a_failing_handler_is_logged_and_the_button_keeps_working(factory, caplog):
    presses = Presses(fail_first=1)
    button = CaptureButton(ButtonConfig(pin=BUTTON_PIN, bounce_time_s=0), presses, pin_factory=factory)
    try:
        pin = factory.pin(BUTTON_PIN)
        with caplog.at_level(logging.ERROR, logger="edge.trigger.button"):
            press(pin)  # raises inside on_press; must not reach the pin's caller
        assert presses.count == 1
        assert "GPIO17" in caplog.text and "camera exploded" in caplog.text
        press(pin)
        assert presses.count == 2
    finally:
        button.close()


def test_a_pin_already_in_use_names_the_pin(factory):
    first = CaptureButton(ButtonConfig(pin=BUTTON_PIN), Presses(), pin_factory=factory)
    try:
        with pytest.raises(GpioUnavailable, match="capture button on GPIO17"):
            CaptureButton(ButtonConfig(pin=BUTTON_PIN), Presses(), pin_factory=factory)
    finally:
        first.close()


# --- StatusLight --------------------------------------------------------------------------------

FAST = LightTimings(busy_blink_s=0.1, problem_blink_s=0.03, problem_for_s=0.3, success_for_s=0.4, beep_s=0.03)


@pytest.fixture
def light(factory):
    """A status light with an LED and a buzzer on fast timings, closed before the pins go."""
    with StatusLight(LED_PIN, BUZZER_PIN, pin_factory=factory, timings=FAST) as light:
        yield light


def test_busy_blinks_slowly_until_the_next_state(factory, light):
    led = factory.pin(LED_PIN)
    light.busy()
    time.sleep(0.75)
    light.idle()
    ons = on_durations_s(led)
    assert len(ons) >= 3
    assert all(0.07 <= d <= 0.3 for d in ons), ons
    assert led.state is False
    assert on_durations_s(factory.pin(BUZZER_PIN)) == []  # working is silent


def test_success_after_busy_is_steady_on_then_off_with_one_beep(factory, light):
    led, buzzer = factory.pin(LED_PIN), factory.pin(BUZZER_PIN)
    light.busy()
    time.sleep(0.15)
    led.clear_states()
    light.success()
    time.sleep(0.25)
    assert led.state is True
    assert False not in [s.state for s in led.states[1:]]  # steady: no blinking since success()
    time.sleep(0.4)
    assert led.state is False
    assert max(on_durations_s(led)) >= 0.35  # one long steady "on", not a blink
    assert len(on_durations_s(buzzer)) == 1


def test_success_without_a_time_limit_stays_on(factory):
    with StatusLight(LED_PIN, None, pin_factory=factory, timings=LightTimings(success_for_s=None)) as light:
        light.success()
        time.sleep(0.2)
        assert factory.pin(LED_PIN).state is True
        light.busy()  # the next capture replaces it
        time.sleep(0.05)
        light.idle()
        assert factory.pin(LED_PIN).state is False


def test_problem_blinks_fast_for_a_while_and_beeps_twice(factory, light):
    led, buzzer = factory.pin(LED_PIN), factory.pin(BUZZER_PIN)
    light.problem()
    time.sleep(0.6)
    ons = on_durations_s(led)
    assert len(ons) == 5  # round(0.3 s / (2 * 0.03 s)) flashes, then it stops
    assert all(d < FAST.busy_blink_s for d in ons), ons  # faster than busy
    assert led.state is False
    assert len(on_durations_s(buzzer)) == 2


def test_no_led_and_no_buzzer_is_silent_and_harmless(factory):
    with StatusLight(None, None, pin_factory=factory) as light:
        light.busy()
        light.success()
        light.problem()
        light.idle()
    assert factory.pins == {}  # nothing was opened
