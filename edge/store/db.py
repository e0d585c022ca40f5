"""The local durable store: one SQLite database and a folder of JPEGs under data_dir.

Threads share one connection (check_same_thread=False) behind one lock. That is the
simplest thing that is correct: sqlite-utils and the sqlite3 module keep transaction
state per connection, so two threads on one connection without a lock would interleave
their transactions. The lock is held only for SQL, which takes milliseconds; the slow part
of a capture (writing and fsyncing six JPEGs) runs outside it, so the API's reads never
wait on a camera. Another process (the sync worker) opens its own Store; WAL lets it read
while the daemon writes, and busy_timeout makes writers queue instead of failing.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlite_utils import Database

from edge.store import captures, goats, outbox, retention, tape
from edge.store import labels as store_labels
from edge.store.errors import (
    DatabaseBusyError,
    DiskFullError,
    DuplicateCaptureError,
    PhotoUnavailableError,
    StoreError,
)
from edge.store.files import TEMP_SUFFIX, ensure_dir, remove_tree, sha256_hex
from edge.store.labels import ViewLabels
from edge.store.migrations import migrate, schema_version
from edge.store.records import (
    CaptureRecord,
    Measuring,
    OutboxEntry,
    StoredCapture,
    check_capture,
    check_measuring,
    iso_utc,
)

DB_NAME = "goat.sqlite"
# Opening (and migrating) may wait for the sync worker's transaction to end; after that a
# single try waits WRITE_TRY_S and a write gives up after WRITE_WAIT_S (Store._write).
OPEN_BUSY_TIMEOUT_S = 10.0
WRITE_TRY_S = 0.05
WRITE_WAIT_S = 5.0


SYNCED_TABLES = ("goats", "captures", "images", "measurements", "scale_weights", "tape_measurements")


SQLITE_HEADER = b"SQLite format 3\x00"


def _is_busy(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED") or "locked" in str(exc)


def _write_problem(db_path: Path, what: str, exc: sqlite3.Error) -> StoreError:
    """A failed write named for what the associate or technician can do about it."""
    if getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL":
        return DiskFullError(f"{db_path}: {what} not saved: the data disk is full")
    if _is_busy(exc):
        return DatabaseBusyError(f"{db_path}: {what} not saved: the database is busy; try again")
    return StoreError(f"{db_path}: {what} not saved: {exc}")


def _open_problem(db_path: Path, data_dir: Path, exc: sqlite3.DatabaseError) -> StoreError:
    """Why the database could not be opened, said so that nobody moves a healthy one aside:
    a full disk (or one that refuses writes) fails the same calls as a damaged file."""
    with open(db_path, "rb") as fh:
        intact = fh.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    damaged = any(words in str(exc) for words in ("malformed", "not a database"))
    if intact and not damaged:
        free_mb = shutil.disk_usage(data_dir).free / 1e6
        return StoreError(
            f"{db_path}: cannot write beside the database ({exc}); {free_mb:.0f} MB free on its disk. "
            "The database file looks intact: free space on the disk (or fix the disk), then start again; "
            "do not move it aside"
        )
    return StoreError(
        f"{db_path}: not a usable SQLite database ({exc}); move it aside, "
        f"or copy back the newest file from {data_dir / 'backups'}"
    )


class Store:
    """Open with Store.open(data_dir); use as a context manager or call close()."""

    def __init__(self, data_dir: Path, db: Database, backup: Path | None):
        self.data_dir = data_dir
        self.db_path = data_dir / DB_NAME
        self.images_dir = data_dir / captures.IMAGES_DIR
        self.backups_dir = data_dir / "backups"
        self.backup = backup  # the copy taken before migrating at this open, if any
        self._db = db
        self._lock = threading.RLock()
        self._in_flight: dict[str, Path] = {}  # capture id -> folder being written

    @classmethod
    def open(cls, data_dir: str | Path) -> Store:
        """Create the folders, open the database and migrate it (after a backup) to the newest schema."""
        data_dir = Path(data_dir)
        for folder in (data_dir, data_dir / captures.IMAGES_DIR, data_dir / "backups"):
            ensure_dir(folder)
        db_path = data_dir / DB_NAME
        try:
            conn = sqlite3.connect(
                db_path, timeout=OPEN_BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
            )  # no implicit transactions: only ours
        except sqlite3.Error as exc:
            raise StoreError(f"{db_path}: cannot open the database: {exc}") from None
        try:
            db = Database(conn)
            # FULL: a commit is on the card before record_capture returns, even through a power cut.
            db.execute("PRAGMA synchronous=FULL")
            # Migrate first: it refuses a newer schema before anything is written, the backup
            # is of the file exactly as found, and migrations run with foreign keys off, as
            # SQLite's table-rebuild recipe needs.
            backup = migrate(db, db_path, data_dir / "backups")
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(
                    f"{db_path}: cannot switch the database to WAL (got {mode}); "
                    f"is the data folder on a network or read-only disk?"
                )
            db.execute("PRAGMA foreign_keys=ON")
            db.execute(f"PRAGMA busy_timeout={int(WRITE_TRY_S * 1000)}")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise _open_problem(db_path, data_dir, exc) from None
        except BaseException:
            conn.close()
            raise
        return cls(data_dir, db, backup)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _read(self):
        """One snapshot: several SELECTs see the same state even while the sync worker writes."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            finally:
                self._db.rollback()

    @contextmanager
    def _write(self, what: str):
        """One transaction, all or nothing.

        BEGIN IMMEDIATE rather than sqlite-utils' atomic() (a plain BEGIN): a transaction
        that reads and then writes would get SQLITE_BUSY at once if the sync worker
        committed in between; taking the write lock first avoids that. While another
        program holds the write lock, each try waits WRITE_TRY_S and then lets go of this
        store's thread lock, so the API's reads (health, the tablet's pages) go on between
        tries instead of queueing behind the write; after WRITE_WAIT_S the write gives up
        with DatabaseBusyError (503 to the tablet) and nothing is changed.
        """
        deadline_s = time.monotonic() + WRITE_WAIT_S
        while True:
            with self._lock:
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc):
                        raise _write_problem(self.db_path, what, exc) from exc
                    if time.monotonic() >= deadline_s:
                        raise DatabaseBusyError(
                            f"{self.db_path}: {what} not saved: another program has held the database "
                            f"for {WRITE_WAIT_S:.0f} s; try again (is a backup or sqlite3 shell open on it?)"
                        ) from exc
                else:
                    try:
                        yield self._db
                        self._db.execute("COMMIT")
                    except sqlite3.Error as exc:
                        self._db.rollback()
                        raise _write_problem(self.db_path, what, exc) from exc
                    except BaseException:
                        self._db.rollback()
                        raise
                    return
            time.sleep(WRITE_TRY_S)

    @property
    def schema_version(self) -> int:
        with self._lock:
            return schema_version(self._db)

    # -- captures ---------------------------------------------------------------------------

    def record_capture(self, rec: CaptureRecord) -> StoredCapture:
        """Store a capture whole or not at all: files first (atomically), then every row in one transaction."""
        check_capture(rec)
        folder = captures.capture_folder(self.data_dir, rec)
        with self._read() as db:
            if rec.capture_id in self._in_flight or captures.capture_exists(db, rec.capture_id):
                # Refused before writing: the files would overwrite the stored capture's.
                raise DuplicateCaptureError(f"capture {rec.capture_id} is already stored")
            goats.goat_id(db, rec.goat_tag)  # an unknown tag is refused before any file is written
            self._in_flight[rec.capture_id] = folder
        try:
            images = captures.write_images(folder, rec)
            with self._write(f"capture {rec.capture_id}") as db:
                goat_id, outbox_ids = captures.insert_capture(db, self.data_dir, rec, images)
        except BaseException:
            # Ask the database rather than trust a flag: an interrupt just after COMMIT
            # must not delete the files of a capture that is stored.
            try:
                with self._read() as db:
                    stored = captures.capture_exists(db, rec.capture_id)
            except Exception:  # cannot tell: leave the files for the next start's sweep
                stored = True
            if not stored:
                remove_tree(folder, self.images_dir)
            raise
        finally:
            with self._lock:
                self._in_flight.pop(rec.capture_id, None)
        return StoredCapture(
            capture_id=rec.capture_id, goat_id=goat_id, images=tuple(images), outbox_ids=tuple(outbox_ids)
        )

    def get_capture(self, capture_id: str) -> dict:
        """The capture with goat_tag, measurements (all names, None when not measured) and images."""
        with self._read() as db:
            return captures.get_capture(db, capture_id)

    def list_captures(self, limit: int = 50, goat_tag: str | None = None, before: str | None = None) -> list[dict]:
        """Newest first, shaped like get_capture; `before`: the last id of the previous page."""
        with self._read() as db:
            return captures.list_captures(db, limit, goat_tag, before)

    def newest_capture_id(self) -> str | None:
        """The newest capture's id, cheaply (the tablets' event streams ask twice a second)."""
        with self._read() as db:
            return captures.newest_capture_id(db)

    def select_captures(
        self,
        since: str | None = None,
        until: str | None = None,
        goat_tag: str | None = None,
        status: str | None = None,
    ) -> list[dict]:
        """Every capture in [since, until) (ISO, UTC), of one goat or status where given; oldest first."""
        with self._read() as db:
            return captures.select_captures(db, since, until, goat_tag, status)

    def scale_weights(self, goat_id: str) -> list[dict]:
        """A goat's scale weights (weight_kg, weighed_at, notes), oldest first."""
        with self._read() as db:
            return goats.scale_weights(db, goat_id)

    def add_measuring(self, capture_id: str, measuring: Measuring, measured_at: datetime | None = None) -> str:
        """Measure a stored capture again: a new current row, the old ones kept; both synced.
        One transaction, so a stopped reprocess never leaves half a capture's measuring."""
        check_measuring(measuring)
        measured_at = measured_at or datetime.now(UTC)
        with self._write(f"measuring of {capture_id}") as db:
            measurement_id, _ = captures.add_measuring(db, capture_id, measuring, measured_at)
        return measurement_id

    def get_measurement(self, measurement_id: str) -> dict:
        """One measuring, shaped like get_capture's capture with that measuring's fields."""
        with self._read() as db:
            return captures.get_measurement(db, measurement_id)

    def list_measurings(self, capture_id: str) -> list[dict]:
        """Every measuring of a capture, oldest first, the current one marked."""
        with self._read() as db:
            return captures.list_measurings(db, capture_id)

    def put_labels(self, labels: list[ViewLabels]) -> None:
        """Store a whole import of labels in one transaction: all of them or none."""
        with self._write("labels"):
            store_labels.put_labels(self._db, labels)

    def get_labels(self, capture_id: str | None = None) -> list[dict]:
        with self._read() as db:
            return store_labels.get_labels(db, capture_id)

    def raw_photo(self, capture: dict, view: str) -> bytes:
        """A capture's raw photo (get_capture's dict), byte for byte as stored; PhotoUnavailableError
        naming why when it was pruned after reaching the cloud, is missing, or changed since."""
        image = next((im for im in capture["images"] if im["view"] == view and im["kind"] == "raw"), None)
        if image is None or image["pruned_at"] is not None:
            raise PhotoUnavailableError(f"the raw {view} photo was pruned after it reached the cloud")
        path = self.image_path(image)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise PhotoUnavailableError(f"the raw {view} photo {path} is missing") from None
        if sha256_hex(data) != image["sha256"]:
            raise PhotoUnavailableError(f"the raw {view} photo {path} changed after it was stored (sha256 differs)")
        return data

    def image_path(self, image: dict) -> Path:
        """The file of an image row as get_capture returns it."""
        return self.data_dir / image["path"]

    def sweep_orphans(self) -> list[Path]:
        """Remove files and folders under images/ that no stored image names, and temp files.

        Run by the daemon at start-up: what it removes is what a crash or kill left
        between writing the files and committing their rows.
        """
        with self._read() as db:
            removed = captures.sweep_orphans(db, self.data_dir, set(self._in_flight.values()))
            for tmp in self.backups_dir.glob(f"*{TEMP_SUFFIX}"):
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
        return removed

    def prune_synced_raw_images(self, keep_captures: int) -> int:
        """Delete raw JPEGs of captures older than the newest `keep_captures`, only once uploaded.

        Rows stay (pruned_at set) and annotated images stay, so the tablet still shows old
        captures. Returns how many files were pruned.
        """
        with self._write("pruning of synced images") as db:
            pruned = retention.prune_synced_raw_images(db, max(0, keep_captures))
        for _, path in pruned:
            (self.data_dir / path).unlink(missing_ok=True)
        return len(pruned)

    def prune_synced_annotated_images(self, older_than_days: float, now: datetime | None = None) -> int:
        """Delete annotated JPEGs of captures older than `older_than_days`, once uploaded; the
        rows stay (pruned_at set), so the tablet lists the capture and says the photo is in
        the cloud. Returns how many files were pruned."""
        before = iso_utc((now or datetime.now(UTC)) - timedelta(days=older_than_days))
        with self._write("pruning of synced annotated images") as db:
            pruned = retention.prune_synced_annotated_images(db, before)
        for _, path in pruned:
            (self.data_dir / path).unlink(missing_ok=True)
        return len(pruned)

    def forget_synced_captures(self, older_than_days: float, now: datetime | None = None) -> int:
        """Delete, rows and files, the captures older than `older_than_days` that the cloud
        has whole (never one with anything still to send, nor one the farm labelled).
        Returns how many captures were forgotten."""
        before = iso_utc((now or datetime.now(UTC)) - timedelta(days=older_than_days))
        with self._write("forgetting synced captures") as db:
            ids, paths = retention.forget_synced_captures(db, before)
        for path in paths:
            (self.data_dir / path).unlink(missing_ok=True)
        for folder in {(self.data_dir / p).parent for p in paths}:
            remove_tree(folder, self.images_dir)
        return len(ids)

    # -- goats ------------------------------------------------------------------------------

    def add_goat(
        self,
        tag: str,
        name: str | None = None,
        breed: str | None = None,
        sex: str | None = None,
        birth_date: str | None = None,
        notes: str | None = None,
    ) -> dict:
        with self._write(f"goat '{tag}'") as db:
            return goats.add_goat(db, tag, name, breed, sex, birth_date, notes)

    def update_goat(self, tag: str, /, **fields) -> dict:
        """Change any of tag, name, breed, sex, birth_date, notes; returns the goat as now stored."""
        with self._write(f"goat '{tag}'") as db:
            return goats.update_goat(db, tag, **fields)

    def get_goat(self, tag: str) -> dict:
        with self._read() as db:
            return goats.get_goat(db, tag)

    def list_goats(self) -> list[dict]:
        with self._read() as db:
            return goats.list_goats(db)

    def assign_goat(self, capture_id: str, tag: str | None) -> None:
        with self._write(f"goat of capture {capture_id}") as db:
            goats.assign_goat(db, capture_id, tag)

    def add_scale_weight(
        self, tag: str, weight_kg: float, weighed_at: datetime | None = None, notes: str | None = None
    ) -> dict:
        with self._write(f"scale weight of goat '{tag}'") as db:
            return goats.add_scale_weight(db, tag, weight_kg, weighed_at, notes)

    def add_taped(
        self, tag: str, values: dict[str, float], measured_at: datetime | None = None, notes: str | None = None
    ) -> list[dict]:
        """Measurements taken by hand on a goat (edge/store/tape.py), one row each."""
        with self._write(f"taped measurements of goat '{tag}'") as db:
            return tape.add_taped(db, tag, values, measured_at, notes)

    def taped(self, goat_id: str) -> list[dict]:
        with self._read() as db:
            return tape.taped_of(db, goat_id)

    def taped_near(self, goat_id: str, at: str, within_days: float = 3.0) -> dict[str, float]:
        """Each measurement taped on the goat nearest to `at`, within_days either side."""
        with self._read() as db:
            return tape.taped_near(db, goat_id, at, within_days)

    # -- outbox, for the sync worker ----------------------------------------------------------

    def pending_outbox(self, limit: int = 100, kind: str | None = None) -> list[OutboxEntry]:
        """In the order written: a goat before its captures, a capture before its images and
        measurements; only files ('object') or only rows ('row') when kind says so."""
        with self._read() as db:
            return outbox.pending(db, limit, kind)

    def parked_outbox(self) -> list[OutboxEntry]:
        """Entries the sync worker gave up on, with the reason in last_error, for a person to look at."""
        with self._read() as db:
            return outbox.parked(db)

    def oldest_pending_at(self) -> str | None:
        """When the oldest entry still waiting was written (ISO UTC), or None."""
        with self._read() as db:
            return outbox.oldest_pending_at(db)

    def upload_states(self, image_ids: list[str]) -> dict[str, str]:
        """image id -> pending, done or parked: whether its file has reached the cloud."""
        if not image_ids:
            return {}
        with self._read() as db:
            return outbox.states_of_images(db, image_ids)

    def rows_by_id(self, table: str, ids: list[str]) -> dict[str, dict]:
        """Rows of a synced table, as stored now, by id (missing ids are left out)."""
        if table not in SYNCED_TABLES:
            raise ValueError(f"{table} is not a synced table")
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        with self._read() as db:
            return {row["id"]: row for row in db.query(f"SELECT * FROM {table} WHERE id IN ({marks})", ids)}

    def mark_done(self, entry_ids: list[int]) -> None:
        with self._write("outbox progress") as db:
            outbox.mark_done(db, list(entry_ids))

    def mark_failed(self, entry_id: int, error: str) -> None:
        with self._write("outbox progress") as db:
            outbox.mark_failed(db, entry_id, error)

    def park(self, entry_id: int, reason: str) -> None:
        with self._write("outbox progress") as db:
            outbox.park(db, entry_id, reason)

    def outbox_counts(self) -> dict[str, int]:
        with self._read() as db:
            return outbox.counts(db)

    def outbox_errors(self) -> dict[tuple[str, str], int]:
        """(state, kind of error) -> entries still to send whose last try failed."""
        with self._read() as db:
            return outbox.error_counts(db)

    def set_sync_state(self, key: str, value: str | None) -> None:
        with self._write(f"sync state {key}") as db:
            outbox.set_sync_state(db, key, value)

    def get_sync_state(self, key: str) -> str | None:
        with self._read() as db:
            return outbox.get_sync_state(db, key)

    def integrity_ok(self) -> bool:
        """SQLite finds no damage (integrity_check) and no row points at a missing parent."""
        with self._lock:
            return (
                self._db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
                and self._db.execute("PRAGMA foreign_key_check").fetchall() == []
            )
