"""What can go wrong in the local store; each message names the thing to fix (a tag, a file, a setting)."""

from __future__ import annotations

from edge.errors import GoatEdgeError


class StoreError(GoatEdgeError):
    """The store refused or could not do what was asked; nothing half-done was left behind."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer goat-edge; it is never downgraded."""


class MigrationError(StoreError):
    """A schema migration failed; the database stays at its old version and a backup exists."""


class StorageUnavailableError(StoreError):
    """The store cannot take a write now, though nothing is wrong with the request: the tablet
    gets 503 and the associate may try again once the cause is fixed."""


class DiskFullError(StorageUnavailableError):
    """Too little free space on the data disk to take a capture."""


class FileWriteError(StorageUnavailableError):
    """An image or backup file could not be written (full disk, read-only card, ...)."""


class DatabaseBusyError(StorageUnavailableError):
    """Another program held the database's write lock for longer than a write may wait."""


class PhotoUnavailableError(StoreError):
    """A stored capture's photo that can no longer be read as it was taken."""


class InvalidRecordError(StoreError):
    """A value cannot be stored as given (unknown view, bad date, impossible weight, ...)."""


class InvalidIdError(InvalidRecordError):
    """A string that should be a UUIDv7 is not one."""


class NotFoundError(StoreError):
    """The goat, capture or outbox entry asked for does not exist (the API answers 404)."""


class DuplicateTagError(StoreError):
    """Another goat already has this tag."""


class UnknownGoatError(NotFoundError):
    """No goat has this tag."""


class DuplicateCaptureError(StoreError):
    """A capture with this id is already stored (or being stored)."""


class CaptureNotFoundError(NotFoundError):
    """No capture has this id."""


class OutboxEntryNotFoundError(NotFoundError):
    """The sync worker named an outbox entry that does not exist."""
