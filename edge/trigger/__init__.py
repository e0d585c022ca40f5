"""The chute's hardware trigger: the capture button and the status light/buzzer, through gpiozero.

The pipeline owns the policy (one capture at a time); this package only turns presses into
calls and capture states into light and sound.
"""

from edge.trigger.button import CaptureButton
from edge.trigger.pins import GpioUnavailable, TriggerError, make_pin_factory
from edge.trigger.status import LightTimings, StatusLight

__all__ = ["CaptureButton", "GpioUnavailable", "LightTimings", "StatusLight", "TriggerError", "make_pin_factory"]
