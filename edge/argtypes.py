"""argparse value types shared by the commands, so a bad option is refused by name."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def _number(text: str, kind=float):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def non_negative_int(text: str) -> int:
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_int(text: str) -> int:
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def positive_float(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def fraction(text: str) -> float:
    """A share from 0 to 1 inclusive, such as a confidence."""
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def scale(text: str) -> float:
    """A render scale: above 0, at most 1."""
    value = _number(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 1, got {text}")
    return value


def squares(text: str) -> tuple[int, int]:
    """A ChArUco grid written COLUMNSxROWS, such as 5x7."""
    try:
        cols, rows = (int(n) for n in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected COLUMNSxROWS such as 5x7, got {text!r}") from None
    if cols < 3 or rows < 3:
        raise argparse.ArgumentTypeError(f"the board needs at least 3x3 squares, got {text}")
    return cols, rows


def _chosen(text: str, allowed: tuple[str, ...], what: str) -> tuple[str, ...]:
    chosen = tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in chosen if v not in allowed]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {unknown[0] if unknown else text!r}; choose from {','.join(allowed)}"
        )
    return tuple(v for v in allowed if v in chosen)


def views(text: str) -> tuple[str, ...]:
    """Comma-separated camera views, such as side,top; returned in side, top, front order."""
    from edge.keypoints import VIEWS

    return _chosen(text, VIEWS, "camera")


def models(text: str) -> tuple[str, ...]:
    """Comma-separated pose models: the three views' and closeup (edge/detect/closeup.py), in that order."""
    from edge.keypoints import MODELS

    return _chosen(text, MODELS, "model")


def view_path(text: str) -> tuple[str, Path]:
    """MODEL=PATH, such as side=/farm/side/best.pt; MODEL is a view or closeup."""
    from edge.keypoints import MODELS

    view, _, path = text.partition("=")
    if view not in MODELS or not path:
        raise argparse.ArgumentTypeError(f"expected VIEW=PATH with VIEW one of {','.join(MODELS)}, got {text!r}")
    return view, Path(path)
