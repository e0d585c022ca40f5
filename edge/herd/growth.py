"""What a capture says about the goat's growth, against its earlier captures.

The associate at the chute wants the change since this goat's last capture and its
average daily gain (HerdMASTER's crush-side view); the farmer wants to hear when an
estimate is far off the goat's own trend (InterHerd flags more than 10 %), which is a
sick goat, a wrong tag or a bad capture. Only good captures with an estimated weight
count: a retake measured nothing the associate accepted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

import numpy as np

SECONDS_PER_DAY = 86_400.0
# A gain over less than a day is mostly the error of two estimates, not growth.
MIN_GAIN_DAYS = 1.0
# A trend needs earlier estimates spread over at least this long, and is not carried
# further ahead than they spread: two weights a day apart say nothing about next month.
MIN_TREND_SPAN_DAYS = 7.0


@dataclass(frozen=True)
class Growth:
    previous_capture_id: str | None = None
    previous_captured_at: str | None = None
    days_since_previous: float | None = None
    weight_change_kg: float | None = None
    heart_girth_change_cm: float | None = None
    average_daily_gain_kg: float | None = None  # since the previous capture, a day or more before
    trend_weight_kg: float | None = None  # what the goat's earlier captures predict for now
    off_trend_pct: float | None = None  # this estimate against that prediction, signed
    flagged: bool = False  # off the trend by more than the farm's limit

    def as_dict(self) -> dict:
        return asdict(self)


def _when(capture: dict) -> datetime:
    return datetime.fromisoformat(capture["captured_at"])


def _counts(capture: dict) -> bool:
    return capture["status"] == "ok" and capture["measurements"].get("weight_kg") is not None


def growth_of(capture: dict, history: list[dict], flag_pct: float) -> Growth:
    """`capture` against the same goat's other captures in `history` (any order; later ones
    and the capture itself are ignored)."""
    if not _counts(capture):
        return Growth()
    now = _when(capture)
    earlier = sorted(
        (c for c in history if c["id"] != capture["id"] and _counts(c) and _when(c) < now),
        key=_when,
    )
    if not earlier:
        return Growth()
    previous = earlier[-1]
    days = (now - _when(previous)).total_seconds() / SECONDS_PER_DAY
    weight = capture["measurements"]["weight_kg"]
    change = weight - previous["measurements"]["weight_kg"]
    girth, previous_girth = (c["measurements"].get("heart_girth_cm") for c in (capture, previous))
    trend = _trend_weight_kg(earlier, now)
    off_pct = None if trend is None else 100.0 * (weight - trend) / trend  # trend > 0
    return Growth(
        previous_capture_id=previous["id"],
        previous_captured_at=previous["captured_at"],
        days_since_previous=round(days, 2),
        weight_change_kg=round(change, 2),
        heart_girth_change_cm=None if girth is None or previous_girth is None else round(girth - previous_girth, 1),
        average_daily_gain_kg=round(change / days, 3) if days >= MIN_GAIN_DAYS else None,
        trend_weight_kg=None if trend is None else round(trend, 1),
        off_trend_pct=None if off_pct is None else round(off_pct, 1),
        flagged=off_pct is not None and abs(off_pct) > flag_pct,
    )


def _trend_weight_kg(earlier: list[dict], now: datetime) -> float | None:
    """The weight the earlier captures predict for `now`: a straight line through them, where
    they span a week or more and `now` lies no further beyond the last of them than they
    span; otherwise None (too little to say what is normal for this goat)."""
    days = np.array([(_when(c) - now).total_seconds() / SECONDS_PER_DAY for c in earlier])
    weights = np.array([c["measurements"]["weight_kg"] for c in earlier])
    span = days.max() - days.min()
    if span < MIN_TREND_SPAN_DAYS or -days.max() > span:
        return None
    slope, intercept = np.polyfit(days, weights, 1)
    return float(intercept) if intercept > 0 else None  # the line at day 0, which is now


def average_daily_gain_kg(history: list[dict]) -> float | None:
    """The goat's average daily gain over all its good captures: the slope of a straight line
    through their estimated weights, where they span a week or more."""
    counted = sorted((c for c in history if _counts(c)), key=_when)
    if len(counted) < 2:
        return None
    first = _when(counted[0])
    days = np.array([(_when(c) - first).total_seconds() / SECONDS_PER_DAY for c in counted])
    if days[-1] < MIN_TREND_SPAN_DAYS:
        return None
    slope, _ = np.polyfit(days, [c["measurements"]["weight_kg"] for c in counted], 1)
    return round(float(slope), 3)
