"""A goat's growth from its captures: the change since last time, its daily gain, its trend."""

from edge.herd.growth import Growth, growth_of

__all__ = ["Growth", "growth_of"]
