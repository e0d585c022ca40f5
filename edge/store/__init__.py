"""The local durable store: captures, goats and the sync outbox in SQLite, JPEGs on disk."""

from edge.store.db import Store
from edge.store.errors import (
    CaptureNotFoundError,
    DiskFullError,
    DuplicateCaptureError,
    DuplicateTagError,
    FileWriteError,
    InvalidIdError,
    InvalidRecordError,
    MigrationError,
    NotFoundError,
    OutboxEntryNotFoundError,
    SchemaTooNewError,
    StoreError,
    UnknownGoatError,
)
from edge.store.files import check_free_disk, free_disk_mb, write_file_atomic
from edge.store.ids import id_timestamp, new_id
from edge.store.records import CaptureRecord, ImageFile, Measuring, OutboxEntry, StoredCapture, StoredImage

__all__ = [
    "Store",
    "CaptureRecord",
    "ImageFile",
    "Measuring",
    "OutboxEntry",
    "StoredCapture",
    "StoredImage",
    "new_id",
    "id_timestamp",
    "write_file_atomic",
    "free_disk_mb",
    "check_free_disk",
    "StoreError",
    "SchemaTooNewError",
    "MigrationError",
    "DiskFullError",
    "FileWriteError",
    "InvalidRecordError",
    "InvalidIdError",
    "DuplicateTagError",
    "UnknownGoatError",
    "DuplicateCaptureError",
    "NotFoundError",
    "CaptureNotFoundError",
    "OutboxEntryNotFoundError",
]
