"""Reading and writing the small JSON files a technician hands the commands."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ValidationError

from edge.errors import GoatEdgeError


def read_text(path: str | Path, what: str, error: type[GoatEdgeError] = GoatEdgeError) -> str:
    """The file's text, or `error` with a one-line message naming the file and the problem."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a folder, not a {what} file")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: {what} file not found") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what} file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not a {what} file (not text; is it an image?)") from None


def read_json(path: str | Path, what: str, error: type[GoatEdgeError] = GoatEdgeError):
    """The parsed file, or `error` with a one-line message naming the file and the problem."""
    text = read_text(path, what, error)
    try:
        # Reject NaN and Infinity, which Python's json would accept.
        return json.loads(text, parse_constant=_no_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        detail = f"line {exc.lineno}: {exc.msg}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise error(f"{path}: not valid JSON ({detail})") from None


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def check_writable(path: str | Path, what: str, error: type[GoatEdgeError] = GoatEdgeError) -> Path:
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: is a folder; give a file name for the {what}")
    if not path.parent.is_dir():
        raise error(f"{path.parent}: folder not found for the {what}")
    return path


def write_json_atomic(path: str | Path, data, what: str, error: type[GoatEdgeError] = GoatEdgeError) -> None:
    """Write through a temporary file and a rename, so a reader never sees half a file."""
    path = check_writable(path, what, error)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, indent=2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise error(f"{path}: cannot write the {what} ({exc.strerror})") from None


def validated(model: type[BaseModel], data, source: str, error: type[GoatEdgeError]):
    """The pydantic model of data, or `error` naming the source and the first bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise error(f"{source}: field {where}: {err['msg']}") from None
