"""What the Pi may forget once the cloud has it: old raw and annotated photos, and whole old
captures.

Nothing is removed before every outbox entry it has is done (uploaded or upserted), and a
capture with the farm's own labels stays whatever its age (they are for retraining, and
are not synced). The rows change in one transaction and the files go after the commit,
so a crash leaves a file too many (swept at the next start), never a row without its file.
"""

from __future__ import annotations

from sqlite_utils import Database

from edge.store.records import iso_utc

# Captures forgotten per call: retention runs after each capture, which must stay quick.
BATCH_CAPTURES = 200

_ALL_SENT = """
    NOT EXISTS (SELECT 1 FROM outbox o WHERE o.state != 'done' AND (
        (o.table_name = 'captures' AND o.row_id = c.id)
        OR (o.table_name = 'measurements' AND o.row_id IN (SELECT id FROM measurements WHERE capture_id = c.id))
        OR o.image_id IN (SELECT id FROM images WHERE capture_id = c.id)))
    AND EXISTS (SELECT 1 FROM outbox o WHERE o.table_name = 'captures' AND o.row_id = c.id AND o.state = 'done')"""


def _prune_uploaded(db: Database, which: str, params: list) -> list[tuple[str, str]]:
    """Mark pruned the images `which` selects (SQL over images i and captures c) whose upload
    is done; returns (image id, relative path) of each, for the caller to delete."""
    rows = db.execute(
        f"""SELECT i.id, i.path FROM images i JOIN captures c ON c.id = i.capture_id
            WHERE i.pruned_at IS NULL AND {which}
              AND EXISTS (SELECT 1 FROM outbox o WHERE o.image_id = i.id AND o.state = 'done')
              AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.image_id = i.id AND o.state != 'done')""",
        params,
    ).fetchall()
    now = iso_utc()
    for image_id, _ in rows:
        db.execute("UPDATE images SET pruned_at = ? WHERE id = ?", [now, image_id])
    return rows


def prune_synced_raw_images(db: Database, keep_captures: int) -> list[tuple[str, str]]:
    """The raw images of captures older than the newest `keep_captures`, once uploaded."""
    newest = "SELECT id FROM captures ORDER BY captured_at DESC, id DESC LIMIT ?"
    return _prune_uploaded(db, f"i.kind = 'raw' AND c.id NOT IN ({newest})", [keep_captures])


def prune_synced_annotated_images(db: Database, before: str) -> list[tuple[str, str]]:
    """The annotated images of captures taken before `before` (ISO, UTC), once uploaded."""
    return _prune_uploaded(db, "i.kind = 'annotated' AND c.captured_at < ?", [before])


def forget_synced_captures(db: Database, before: str) -> tuple[list[str], list[str]]:
    """Delete captures taken before `before` whose rows and files have all reached the cloud,
    with their images, measurements and outbox entries; returns (capture ids, relative
    paths of their files still on disk)."""
    ids = [
        r[0]
        for r in db.execute(
            f"""SELECT c.id FROM captures c
                WHERE c.captured_at < ? AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.capture_id = c.id)
                  AND {_ALL_SENT}
                ORDER BY c.captured_at LIMIT ?""",
            [before, BATCH_CAPTURES],
        )
    ]
    paths: list[str] = []
    for capture_id in ids:
        paths += [
            r[0] for r in db.execute("SELECT path FROM images WHERE capture_id = ? AND pruned_at IS NULL", [capture_id])
        ]
        db.execute(
            """DELETE FROM outbox WHERE (table_name = 'captures' AND row_id = ?)
                 OR (table_name = 'measurements' AND row_id IN (SELECT id FROM measurements WHERE capture_id = ?))
                 OR image_id IN (SELECT id FROM images WHERE capture_id = ?)""",
            [capture_id] * 3,
        )
        for table in ("measurements", "images"):
            db.execute(f"DELETE FROM {table} WHERE capture_id = ?", [capture_id])
        db.execute("DELETE FROM captures WHERE id = ?", [capture_id])
    return ids, paths
