"""The outbox: what the sync worker still has to send, written in the same transaction as the data.

Because an entry commits with the row or file it names, nothing stored is ever missing
from the outbox, and nothing in the outbox names something that was rolled back.
These functions run inside a transaction the Store opened.
"""

from __future__ import annotations

from sqlite_utils import Database

from edge.store.errors import OutboxEntryNotFoundError
from edge.store.records import OutboxEntry, iso_utc

STATES = ("pending", "done", "parked")


def enqueue(db: Database, kind: str, table_name: str, row_id: str, image_id: str | None = None) -> int:
    cursor = db.execute(
        "INSERT INTO outbox (kind, table_name, row_id, image_id, created_at) VALUES (?, ?, ?, ?, ?)",
        [kind, table_name, row_id, image_id, iso_utc()],
    )
    assert cursor.lastrowid is not None  # always set after an INSERT
    return cursor.lastrowid


def _entries(db: Database, where: str, params: list, limit: int = -1) -> list[OutboxEntry]:
    rows = db.query(
        "SELECT id, kind, table_name, row_id, image_id, created_at, state, attempts, last_error "
        f"FROM outbox WHERE {where} ORDER BY id LIMIT ?",
        [*params, limit],
    )
    return [OutboxEntry(**row) for row in rows]


def pending(db: Database, limit: int, kind: str | None = None) -> list[OutboxEntry]:
    if kind is None:
        return _entries(db, "state = 'pending'", [], limit)
    return _entries(db, "state = 'pending' AND kind = ?", [kind], limit)


def parked(db: Database) -> list[OutboxEntry]:
    return _entries(db, "state = 'parked'", [])


def oldest_pending_at(db: Database) -> str | None:
    row = db.execute("SELECT min(created_at) FROM outbox WHERE state = 'pending'").fetchone()
    return row[0]


def states_of_images(db: Database, image_ids: list[str]) -> dict[str, str]:
    """image id -> the state of its upload entry."""
    marks = ", ".join("?" * len(image_ids))
    return dict(
        db.execute(
            f"SELECT image_id, state FROM outbox WHERE kind = 'object' AND image_id IN ({marks})", image_ids
        ).fetchall()
    )


def _require(db: Database, entry_ids: list[int]) -> None:
    marks = ", ".join("?" * len(entry_ids))
    found = {r[0] for r in db.execute(f"SELECT id FROM outbox WHERE id IN ({marks})", entry_ids)}
    missing = sorted(set(entry_ids) - found)
    if missing:
        raise OutboxEntryNotFoundError(f"no outbox entry {', '.join(map(str, missing))}")


def mark_done(db: Database, entry_ids: list[int]) -> None:
    if not entry_ids:
        return
    _require(db, entry_ids)
    marks = ", ".join("?" * len(entry_ids))
    db.execute(
        f"UPDATE outbox SET state = 'done', done_at = ?, last_error = NULL WHERE id IN ({marks})",
        [iso_utc(), *entry_ids],
    )


def mark_failed(db: Database, entry_id: int, error: str) -> None:
    """One failed try: counted, the error kept, and the entry stays pending for the next round."""
    _require(db, [entry_id])
    db.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?", [error, entry_id])


def park(db: Database, entry_id: int, reason: str) -> None:
    """Stop retrying an entry (e.g. the cloud refuses it) until a person looks at it."""
    _require(db, [entry_id])
    db.execute("UPDATE outbox SET state = 'parked', last_error = ? WHERE id = ?", [reason, entry_id])


def counts(db: Database) -> dict[str, int]:
    found = dict(db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
    return {state: found.get(state, 0) for state in STATES}


def error_counts(db: Database) -> dict[tuple[str, str], int]:
    """(state, kind of error) -> entries not yet done whose last try failed; the kind is the
    error's first words (the sync worker's describe(): "S3 NoSuchBucket", "OperationalError")."""
    found: dict[tuple[str, str], int] = {}
    for state, error, n in db.execute(
        "SELECT state, last_error, count(*) FROM outbox WHERE state != 'done' AND last_error IS NOT NULL "
        "GROUP BY state, last_error"
    ):
        key = (state, error_kind(error))
        found[key] = found.get(key, 0) + n
    return found


def error_kind(error: str) -> str:
    return error.split(":", 1)[0].strip()[:40] or "unknown"


# When the sync worker last reached the cloud (ISO UTC), for the tablet's status bar.
LAST_SYNC_STATE = "last_success_at"
# Whether goat-sync has a database to send to ("yes"/"no", written at its start): the
# daemon cannot tell by itself, as the URL is in goat-sync's own secrets file.
SYNC_CONFIGURED_STATE = "worker_configured"


def set_sync_state(db: Database, key: str, value: str | None) -> None:
    db.execute(
        "INSERT INTO sync_state (key, value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        [key, value, iso_utc()],
    )


def get_sync_state(db: Database, key: str) -> str | None:
    row = db.execute("SELECT value FROM sync_state WHERE key = ?", [key]).fetchone()
    return row[0] if row else None
