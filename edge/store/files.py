"""Files on the data disk: atomic writes that survive power loss, and the free-space guard.

A capture's JPEGs are on disk (data and folder entries fsynced) before the database row
that names them commits, so a committed row never points at a file lost in a power cut.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import shutil
from pathlib import Path

from edge.store.errors import DiskFullError, FileWriteError, StoreError

TEMP_SUFFIX = ".tmp"
_MB = 1024 * 1024  # as `df -m` counts


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "no space left on device"
    return (exc.strerror or str(exc)).lower()


def fsync_dir(path: Path) -> None:
    """Make a folder's entries (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_dir(path: Path) -> None:
    """Create `path` and missing parents, fsyncing each new folder's parent."""
    path = Path(path)
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    try:
        for folder in reversed(missing):
            folder.mkdir(exist_ok=True)
            fsync_dir(folder.parent)
    except OSError as exc:
        raise FileWriteError(f"{folder}: cannot create folder: {_reason(exc)}") from None


def write_file_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same folder and a rename, then fsync the folder.

    A reader (or a restart after a crash) sees the old file or the whole new one, never
    part of it; a temporary file left by a crash ends in .tmp and the sweep removes it.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        error = DiskFullError if exc.errno in (errno.ENOSPC, errno.EDQUOT) else FileWriteError
        raise error(f"{path}: cannot write: {_reason(exc)}") from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def remove_tree(path: Path, stop_at: Path) -> None:
    """Remove a folder and then its parents that became empty, up to (not including) stop_at."""
    shutil.rmtree(path, ignore_errors=True)
    parent = path.parent
    while parent != stop_at and stop_at in parent.parents:
        try:
            parent.rmdir()
        except OSError:  # not empty: another capture of that day lives there
            break
        parent = parent.parent


def free_disk_mb(path: Path) -> float:
    """Free space, in MB, on the disk that holds `path`."""
    try:
        return shutil.disk_usage(path).free / _MB
    except OSError as exc:
        raise StoreError(f"{path}: cannot read free disk space: {_reason(exc)}") from None


def check_free_disk(data_dir: Path, min_free_disk_mb: float) -> float:
    """The free space in MB, or DiskFullError with a message the tablet can show as it is."""
    free_mb = free_disk_mb(data_dir)
    if free_mb < min_free_disk_mb:
        raise DiskFullError(
            f"only {free_mb:.0f} MB free on the data disk; captures need at least {min_free_disk_mb:.0f} MB "
            f"(delete old files from {data_dir} or lower storage.min_free_disk_mb)"
        )
    return free_mb
