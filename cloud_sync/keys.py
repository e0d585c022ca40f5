"""Where each capture's files go in the buckets (docs/sync.md). Deterministic, so an
upload repeated after a crash lands on the same object."""

from __future__ import annotations

from datetime import datetime


def capture_key(device_id: str, captured_at: str) -> str:
    """`barn-east_20261126T121002375Z`: the device, then the capture time in UTC to the ms."""
    moment = datetime.fromisoformat(captured_at)
    offset = moment.utcoffset()
    if offset is None or offset.total_seconds() != 0:
        raise ValueError(f"capture time {captured_at!r} is not in UTC")
    return f"{device_id}_{moment:%Y%m%dT%H%M%S}{moment.microsecond // 1000:03d}Z"


def image_key(key: str, view: str, kind: str) -> str:
    if kind == "raw":
        return f"captures/{key}/{key}_{view}.jpg"
    if kind == "annotated":
        return f"results/{key}/{key}_{view}_annotated.jpg"
    raise ValueError(f"unknown image kind {kind!r}")


def measurements_key(key: str, measurement_id: str | None = None) -> str:
    """The capture's first measuring's document, or a later measuring's (goat-edge reprocess)
    beside it, so that the cloud keeps every one."""
    if measurement_id is None:
        return f"results/{key}/measurements.json"
    return f"results/{key}/measurements-{measurement_id}.json"
