"""Goats, their scale weights, and which goat a capture shows.

Every change also queues the changed row for the cloud, in the same transaction.
These functions run inside a write transaction the Store opened.
"""

from __future__ import annotations

import math
import unicodedata
from datetime import datetime

from sqlite_utils import Database

from edge.store import outbox
from edge.store.errors import CaptureNotFoundError, DuplicateTagError, InvalidRecordError, UnknownGoatError
from edge.store.ids import new_id
from edge.store.records import check_goat_fields, iso_utc

GOAT_FIELDS = ("tag", "name", "breed", "sex", "birth_date", "notes")
MAX_SCALE_WEIGHT_KG = 300.0


MAX_TAG_CHARS = 32
# Control characters, and the invisible ones that make two tags look alike on screen
# (zero-width spaces, right-to-left overrides): none is on an ear tag.
INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})


def _clean_tag(tag: str) -> str:
    """The tag as stored and matched: NFC, without surrounding spaces; refused when empty,
    too long, or holding a character no ear tag has."""
    tag = unicodedata.normalize("NFC", str(tag)).strip() if tag is not None else ""
    if not tag:
        raise InvalidRecordError("a goat needs a tag (the number on its ear tag)")
    if len(tag) > MAX_TAG_CHARS:
        raise InvalidRecordError(f"a goat tag has at most {MAX_TAG_CHARS} characters; this one has {len(tag)}")
    odd = next((c for c in tag if unicodedata.category(c) in INVISIBLE), None)
    if odd is not None:
        raise InvalidRecordError(
            f"goat tag {tag.encode('unicode_escape').decode()[:80]!r} holds an invisible or control character "
            f"(U+{ord(odd):04X}); type the tag as printed on the ear"
        )
    return tag


def get_goat(db: Database, tag: str) -> dict:
    # Tags are matched without regard to case (an associate types "a12", the ear says "A12")
    # and surrounding spaces (what a tag reader may add); the stored spelling is kept.
    row = db.execute("SELECT * FROM goats WHERE tag = ? COLLATE NOCASE", [_clean_tag(tag)])
    found = row.fetchone()
    if found is None:
        raise UnknownGoatError(f"no goat with tag '{tag}'")
    return dict(zip([d[0] for d in row.description], found))


def goat_id(db: Database, tag: str | None) -> str | None:
    return None if tag is None else get_goat(db, tag)["id"]


def list_goats(db: Database) -> list[dict]:
    return list(db.query("SELECT * FROM goats ORDER BY tag"))


def _refuse_taken(db: Database, tag: str, other_than: str | None = None) -> None:
    row = db.execute("SELECT tag FROM goats WHERE tag = ? COLLATE NOCASE AND id IS NOT ?", [tag, other_than]).fetchone()
    if row:
        same = "" if row[0] == tag else f" as '{row[0]}'"
        raise DuplicateTagError(f"goat tag '{tag}' already exists{same}")


def add_goat(db: Database, tag: str, name=None, breed=None, sex=None, birth_date=None, notes=None) -> dict:
    tag = _clean_tag(tag)
    birth_date = check_goat_fields(sex, birth_date)
    _refuse_taken(db, tag)
    now = iso_utc()
    row = {
        "id": new_id(),
        "tag": tag,
        "name": name,
        "breed": breed,
        "sex": sex,
        "birth_date": birth_date,
        "notes": notes,
        "created_at": now,
        "updated_at": now,
    }
    db.table("goats").insert(row)
    outbox.enqueue(db, "row", "goats", row["id"])
    return row


def update_goat(db: Database, tag: str, /, **fields) -> dict:
    unknown = sorted(set(fields) - set(GOAT_FIELDS))
    if unknown:
        raise InvalidRecordError(f"goats have no field {', '.join(unknown)}; the fields are {', '.join(GOAT_FIELDS)}")
    goat = get_goat(db, tag)
    if "tag" in fields:
        fields["tag"] = _clean_tag(fields["tag"])
        _refuse_taken(db, fields["tag"], other_than=goat["id"])  # correcting its own case is no clash
    merged = {**goat, **fields}
    fields["birth_date"] = check_goat_fields(merged["sex"], merged["birth_date"])
    fields["updated_at"] = iso_utc()
    db.table("goats").update(goat["id"], fields)
    outbox.enqueue(db, "row", "goats", goat["id"])
    return {**goat, **fields}


def scale_weights(db: Database, goat_id: str) -> list[dict]:
    """The goat's scale weights, oldest first."""
    return list(
        db.query(
            "SELECT weight_kg, weighed_at, notes FROM scale_weights WHERE goat_id = ? ORDER BY weighed_at", [goat_id]
        )
    )


def assign_goat(db: Database, capture_id: str, tag: str | None) -> None:
    """Say which goat a capture shows (None: nobody); the cloud gets the capture row again."""
    new_goat_id = goat_id(db, tag)
    if db.execute("UPDATE captures SET goat_id = ? WHERE id = ?", [new_goat_id, capture_id]).rowcount != 1:
        raise CaptureNotFoundError(f"no capture {capture_id}")
    outbox.enqueue(db, "row", "captures", capture_id)


def add_scale_weight(
    db: Database, tag: str, weight_kg: float, weighed_at: datetime | None = None, notes: str | None = None
) -> dict:
    """A weight from a real scale, kept next to the camera's estimate to fit the weight formula."""
    if (
        isinstance(weight_kg, bool)
        or not isinstance(weight_kg, (int, float))
        or not math.isfinite(weight_kg)
        or not 0 < weight_kg < MAX_SCALE_WEIGHT_KG
    ):
        raise InvalidRecordError(
            f"scale weight {weight_kg!r} kg is impossible for a goat; give a number above 0 and below "
            f"{MAX_SCALE_WEIGHT_KG:.0f} kg"
        )
    now = iso_utc()
    row = {
        "id": new_id(),
        "goat_id": get_goat(db, tag)["id"],
        "weight_kg": float(weight_kg),
        "weighed_at": iso_utc(weighed_at) if weighed_at else now,
        "notes": notes,
        "created_at": now,
    }
    db.table("scale_weights").insert(row)
    outbox.enqueue(db, "row", "scale_weights", row["id"])
    return row
