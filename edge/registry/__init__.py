"""Versions of the model set on the Pi, the active one, and the switch between them."""

from edge.registry.registry import Registry, RegistryError

__all__ = ["Registry", "RegistryError"]
