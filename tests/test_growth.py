"""What the tablet says about a goat's growth at the chute: the change, the daily gain, the flag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from edge.herd import average_daily_gain_kg, growth_of


def capture(i: int, day: float, weight_kg: float | None, status: str = "ok", girth_cm: float | None = 80.0) -> dict:
    return {
        "id": f"c{i}",
        "captured_at": (datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=day)).isoformat(),
        "status": status,
        "measurements": {"weight_kg": weight_kg, "heart_girth_cm": girth_cm},
    }


def test_the_change_and_daily_gain_are_since_the_previous_good_capture():
    history = [capture(1, 0, 30.0, girth_cm=70.0), capture(2, 10, 33.0, girth_cm=72.0), capture(3, 15, None, "retake")]
    now = capture(4, 20, 35.0, girth_cm=73.5)
    growth = growth_of(now, [*history, now], flag_pct=10)
    assert growth.previous_capture_id == "c2"  # the retake five days later measured nothing
    assert growth.days_since_previous == 10.0
    assert growth.weight_change_kg == 2.0 and growth.heart_girth_change_cm == 1.5
    assert growth.average_daily_gain_kg == 0.2
    assert growth.trend_weight_kg == 36.0 and growth.off_trend_pct == -2.8 and not growth.flagged


def test_an_estimate_far_off_the_goats_trend_is_flagged():
    history = [capture(1, 0, 30.0), capture(2, 10, 31.0)]
    growth = growth_of(capture(3, 20, 27.0), history, flag_pct=10)
    assert growth.trend_weight_kg == 32.0 and growth.off_trend_pct == -15.6 and growth.flagged
    assert not growth_of(capture(3, 20, 27.0), history, flag_pct=20).flagged


def test_the_same_day_gives_the_change_but_no_daily_gain():
    growth = growth_of(capture(2, 0.25, 30.4), [capture(1, 0, 30.0)], flag_pct=10)
    assert growth.weight_change_kg == 0.4 and growth.average_daily_gain_kg is None
    assert growth.trend_weight_kg is None and not growth.flagged


def test_too_little_history_makes_no_trend_and_no_flag():
    """A kid from 10 to 12 kg in a month is growing, not off its trend; two weights a day
    apart say nothing about two months later."""
    kid = growth_of(capture(2, 31, 12.0), [capture(1, 0, 10.0)], flag_pct=10)
    assert kid.average_daily_gain_kg == 0.065 and kid.trend_weight_kg is None and not kid.flagged
    early = [capture(1, 0, 10.0), capture(2, 1, 8.0)]
    assert growth_of(capture(3, 59, 15.0), early, flag_pct=10).trend_weight_kg is None
    # Eight days of history carry the trend eight days on, not further.
    week = [capture(1, 0, 10.0), capture(2, 8, 11.0)]
    assert growth_of(capture(3, 16, 12.0), week, flag_pct=10).trend_weight_kg == 12.0
    assert growth_of(capture(3, 17, 12.0), week, flag_pct=10).trend_weight_kg is None


def test_a_first_capture_or_a_retake_has_no_growth():
    assert growth_of(capture(1, 0, 30.0), [], flag_pct=10).previous_capture_id is None
    assert growth_of(capture(2, 5, None, "retake"), [capture(1, 0, 30.0)], flag_pct=10).weight_change_kg is None


def test_the_average_daily_gain_is_the_slope_through_every_good_capture():
    history = [capture(1, 0, 10.0), capture(2, 10, 12.5), capture(3, 12, None, "retake"), capture(4, 20, 14.0)]
    assert average_daily_gain_kg(history) == 0.2
    assert average_daily_gain_kg(history[:1]) is None
    assert average_daily_gain_kg([capture(1, 0, 10.0), capture(2, 3, 10.6)]) is None  # under a week
