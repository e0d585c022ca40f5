"""One line per goat for the herd view: its last capture, its daily gain, and whether its
latest estimate is off its trend."""

from __future__ import annotations

from edge.herd import average_daily_gain_kg, growth_of
from edge.store.db import Store

HISTORY_CAPTURES = 500  # a goat's captures its growth is judged against


def goat_summary(goat: dict, history: list[dict], flag_pct: float) -> dict:
    good = [c for c in history if c["status"] == "ok" and c["measurements"].get("weight_kg") is not None]
    latest = good[0] if good else None  # history is newest first
    growth = growth_of(latest, history, flag_pct) if latest else None
    return {
        "tag": goat["tag"],
        "name": goat["name"],
        "breed": goat["breed"],
        "sex": goat["sex"],
        "birth_date": goat["birth_date"],
        "captures": len(history),
        "last_captured_at": history[0]["captured_at"] if history else None,
        "last_weight_kg": latest["measurements"]["weight_kg"] if latest else None,
        "average_daily_gain_kg": average_daily_gain_kg(history),
        "flagged": bool(growth and growth.flagged),
        "off_trend_pct": growth.off_trend_pct if growth else None,
        "trend_weight_kg": growth.trend_weight_kg if growth else None,
    }


def herd_summary(store: Store, flag_pct: float) -> list[dict]:
    return [
        goat_summary(goat, store.list_captures(limit=HISTORY_CAPTURES, goat_tag=goat["tag"]), flag_pct)
        for goat in store.list_goats()
    ]
