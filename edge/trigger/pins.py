"""Choosing gpiozero's pin factory from config, and opening devices with errors a person can act on.

Only gpiozero itself is imported here, never a backend, so this imports on any machine; the
real backend (lgpio on a Pi 5, RPi.GPIO on older ones) is found by gpiozero when the first
device opens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from edge.errors import GoatEdgeError

T = TypeVar("T")


class TriggerError(GoatEdgeError):
    pass


class GpioUnavailable(TriggerError):
    pass


def make_pin_factory(name: str):
    """The factory for ButtonConfig.pin_factory: a fresh MockFactory for 'mock'; None for 'default'.

    None makes gpiozero pick its own default (lgpio, RPi.GPIO, ... with a warning per fallback),
    which also honours GPIOZERO_PIN_FACTORY. Pass one factory to both the button and the light:
    a MockFactory keeps its pins, so the test or the simulated chute can drive the same pin the
    button listens on.
    """
    if name == "default":
        return None
    if name == "mock":
        from gpiozero.pins.mock import MockFactory

        # Plain MockPin: the LED and buzzer only switch on and off, no PWM needed.
        return MockFactory()
    raise TriggerError(f"unknown pin factory '{name}': use 'default' (the Pi's GPIO) or 'mock' (no hardware)")


def open_device(what: str, pin: int, opener: Callable[[], T]) -> T:
    """Run `opener` (a gpiozero constructor); turn its failures into a GpioUnavailable naming `what`."""
    from gpiozero.exc import BadPinFactory, GPIOZeroError

    try:
        return opener()
    except BadPinFactory as exc:
        raise GpioUnavailable(
            f"{what} on GPIO{pin}: no GPIO library works here ({exc}); on a Pi install python3-lgpio, "
            "elsewhere set button.pin_factory = 'mock' or button.enabled = false"
        ) from None
    except PermissionError as exc:
        raise GpioUnavailable(
            f"{what} on GPIO{pin}: permission denied ({exc.strerror or exc}); add the service user to the 'gpio' group"
        ) from None
    except (GPIOZeroError, OSError) as exc:
        raise GpioUnavailable(
            f"{what} on GPIO{pin} could not be opened: {exc}; "
            "check the pin number in the config and that no other program uses it"
        ) from None
