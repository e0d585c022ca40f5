"""What the pipeline hands the store, and what the store hands back: small dataclasses."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from edge.keypoints import LANDMARKS, VIEWS
from edge.measurements import MEASUREMENTS
from edge.store.errors import InvalidRecordError
from edge.store.ids import parse_id

KINDS = ("raw", "annotated")
STATUSES = ("ok", "retake")
TRIGGERS = ("button", "api", "cli")
SEXES = ("female", "male", "wether")
# One REAL column each in the measurements table; a new measurement needs a migration.
MEASUREMENT_COLUMNS = MEASUREMENTS


@dataclass(frozen=True)
class ImageFile:
    view: str  # side | top | front
    kind: str  # raw | annotated
    jpeg: bytes


@dataclass(frozen=True)
class CaptureRecord:
    """One press of the button: the pipeline's result, before anything is on disk.

    A retake may leave `measurements` empty; the store still writes a measurements row (all
    values null, reasons kept), so every capture has exactly one and readers never special-case it.
    """

    capture_id: str  # a UUIDv7 from edge.store.ids.new_id
    captured_at: datetime  # timezone-aware
    device_id: str
    status: str  # ok | retake
    reason: str | None
    trigger: str  # button | api | cli
    images: tuple[ImageFile, ...]
    measurements: dict[str, float | None]
    measurement_reasons: dict[str, str]
    model_versions: dict[str, str]
    calibration_hash: str | None
    weight_formula: dict | None
    goat_tag: str | None = None
    # Measurement -> the ± (its own unit) covering the true value in 90 % of captures.
    measurement_uncertainty: dict[str, float] = field(default_factory=dict)
    # View -> landmark -> [x_px, y_px, confidence]: what the models found, in the photo's pixels.
    keypoints: dict[str, dict[str, list[float]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Measuring:
    """One measuring of a capture's photos: at the capture, or again later with newer models
    (goat-edge reprocess). The store keeps every measuring; the newest is the current one."""

    measurements: dict[str, float | None]
    measurement_reasons: dict[str, str]
    model_versions: dict[str, str]
    calibration_hash: str | None
    weight_formula: dict | None
    measurement_uncertainty: dict[str, float] = field(default_factory=dict)
    keypoints: dict[str, dict[str, list[float]]] = field(default_factory=dict)


def measuring_of(rec: CaptureRecord) -> Measuring:
    return Measuring(
        rec.measurements,
        rec.measurement_reasons,
        rec.model_versions,
        rec.calibration_hash,
        rec.weight_formula,
        rec.measurement_uncertainty,
        rec.keypoints,
    )


@dataclass(frozen=True)
class StoredImage:
    id: str
    view: str
    kind: str
    path: Path  # absolute; the database keeps it relative to data_dir
    sha256: str
    bytes: int


@dataclass(frozen=True)
class StoredCapture:
    capture_id: str
    goat_id: str | None
    images: tuple[StoredImage, ...]
    outbox_ids: tuple[int, ...] = field(default=())


@dataclass(frozen=True)
class OutboxEntry:
    """One thing the sync worker must send: a file ('object') or a database row ('row')."""

    id: int
    kind: str  # object | row
    table_name: str
    row_id: str
    image_id: str | None
    created_at: str
    state: str
    attempts: int
    last_error: str | None


def iso_utc(moment: datetime | None = None) -> str:
    """ISO 8601 in UTC to the millisecond; one fixed format, so text order is time order."""
    moment = moment or datetime.now(UTC)
    if moment.tzinfo is None:
        raise InvalidRecordError(f"time {moment.isoformat()} has no timezone; give it in UTC")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def as_utc_bound(text: str | None, *, end: bool) -> str | None:
    """A date or time the farmer typed, as the store's ISO text; a date alone is a whole day."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1 if end else 0)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
    except ValueError:
        raise InvalidRecordError(f"{text!r} is not a date like 2026-12-01 or a time like 2026-12-01T08:00") from None
    return iso_utc(moment)


def _one_of(value, allowed: tuple, what: str) -> None:
    if value not in allowed:
        raise InvalidRecordError(f"{what} {value!r} is not one of {', '.join(map(str, allowed))}")


def check_capture(rec: CaptureRecord) -> None:
    """Refuse a record the schema would refuse, before any file is written."""
    parse_id(rec.capture_id, "capture id")
    iso_utc(rec.captured_at)
    if not rec.device_id:
        raise InvalidRecordError("a capture needs the device id")
    _one_of(rec.status, STATUSES, "capture status")
    _one_of(rec.trigger, TRIGGERS, "capture trigger")
    seen = set()
    for image in rec.images:
        _one_of(image.view, VIEWS, "image view")
        _one_of(image.kind, KINDS, "image kind")
        if (image.view, image.kind) in seen:
            raise InvalidRecordError(f"capture {rec.capture_id} has two {image.kind} {image.view} images")
        seen.add((image.view, image.kind))
        if not isinstance(image.jpeg, (bytes, bytearray)) or not image.jpeg:
            raise InvalidRecordError(f"the {image.kind} {image.view} image of capture {rec.capture_id} is empty")
    check_measuring(measuring_of(rec))


def check_measuring(m: Measuring) -> None:
    for name, value in m.measurements.items():
        _one_of(name, MEASUREMENT_COLUMNS, "measurement")
        # numbers.Real: numpy's float32 is not a float but is a fine measurement.
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
        ):
            raise InvalidRecordError(f"measurement {name} = {value!r} is not a finite number")
    for name, value in m.measurement_uncertainty.items():
        _one_of(name, MEASUREMENT_COLUMNS, "measurement")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value >= 0):
            raise InvalidRecordError(f"uncertainty of {name} = {value!r} is not a finite number ≥ 0")
    for view, found in m.keypoints.items():
        _one_of(view, VIEWS, "keypoint view")
        for name, point in found.items():
            _one_of(name, LANDMARKS, f"{view} keypoint")
            if len(point) != 3 or not all(_finite_number(v) for v in point):
                raise InvalidRecordError(f"{view} keypoint {name} = {point!r} is not [x_px, y_px, confidence]")


def _finite_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)


EARLIEST_BIRTH_DATE = date(1990, 1, 1)


def check_goat_fields(sex: str | None, birth_date: str | date | None) -> str | None:
    """The birth date as ISO text, after checking sex and date; InvalidRecordError otherwise."""
    if sex is not None:
        _one_of(sex, SEXES, "sex")
    if birth_date is None:
        return None
    if isinstance(birth_date, datetime):
        birth_date = birth_date.date()
    if not isinstance(birth_date, date):
        try:
            birth_date = date.fromisoformat(str(birth_date))
        except ValueError:
            raise InvalidRecordError(f"birth date {birth_date!r} is not a date like 2023-03-14") from None
    if birth_date > datetime.now(UTC).date():
        raise InvalidRecordError(f"birth date {birth_date.isoformat()} is in the future")
    if birth_date < EARLIEST_BIRTH_DATE:
        raise InvalidRecordError(
            f"birth date {birth_date.isoformat()} is before {EARLIEST_BIRTH_DATE.isoformat()}: no goat lives that long"
        )
    return birth_date.isoformat()
