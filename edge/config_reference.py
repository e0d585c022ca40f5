"""The configuration reference (docs/configuration.md), generated from the config model so
that it cannot drift from what the daemon accepts."""

from __future__ import annotations

import types
import typing
from pathlib import Path

from pydantic import BaseModel

from edge.config import ROOT, SECRET_ENV, EdgeConfig

_BOUNDS = {"Ge": "≥", "Gt": ">", "Le": "≤", "Lt": "<"}


def _type_name(kind) -> str:
    if typing.get_origin(kind) is typing.Literal:
        return " or ".join(f"`{a}`" for a in typing.get_args(kind))
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(kind))
    return {type(None): "none", Path: "path"}.get(kind, getattr(kind, "__name__", str(kind)))


def _default(value) -> str:
    if isinstance(value, Path) and value.is_absolute() and value.is_relative_to(ROOT):
        return f"`{value.relative_to(ROOT)}` in the install folder"
    if value is None or isinstance(value, bool):
        return {None: "none", True: "true", False: "false"}[value]
    return f"`{value}`"


def _bounds(field) -> str:
    found = []
    for m in field.metadata:
        symbol = _BOUNDS.get(type(m).__name__)
        if symbol:
            found.append(f"{symbol} {getattr(m, type(m).__name__.lower())}")
    return ", ".join(found)


def _rows(model: type[BaseModel], prefix: str):
    for name, field in model.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            yield from _rows(field.annotation, key)
            continue
        secret = next((var for (s, k), var in SECRET_ENV.items() if key == f"{s}.{k}"), None)
        notes = "; ".join(
            filter(
                None,
                [
                    field.description,
                    _bounds(field),
                    f"the environment variable {secret} overrides it" if secret else None,
                ],
            )
        )
        yield key, _type_name(field.annotation), _default(field.default), notes


def reference_markdown() -> str:
    lines = ["| key | type | default | notes |", "|---|---|---|---|"]
    lines += [f"| `{key}` | {kind} | {default} | {notes} |" for key, kind, default, notes in _rows(EdgeConfig, "")]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")
