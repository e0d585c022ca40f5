"""A goat's growth from its captures: the change since last time, its daily gain, its trend."""

from edge.herd.growth import Growth, average_daily_gain_kg, growth_of

__all__ = ["Growth", "average_daily_gain_kg", "growth_of"]
