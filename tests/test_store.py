"""The daemon keeps every capture, goat and scale weight on the Pi's card, and the sync worker drains the outbox.

Real files and a real SQLite database under tmp_path throughout; nothing is mocked.
"""

from __future__ import annotations

import hashlib
import random
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.measurements import MEASUREMENTS
from edge.store import (
    CaptureNotFoundError,
    CaptureRecord,
    DiskFullError,
    DuplicateCaptureError,
    DuplicateTagError,
    FileWriteError,
    ImageFile,
    InvalidIdError,
    InvalidRecordError,
    Measuring,
    MigrationError,
    OutboxEntryNotFoundError,
    SchemaTooNewError,
    Store,
    StoreError,
    UnknownGoatError,
    check_free_disk,
    free_disk_mb,
    id_timestamp,
    new_id,
    write_file_atomic,
)
from edge.store.labels import ViewLabels
from edge.store.migrations import MIGRATIONS, migrate

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2024, 6, 1, 8, 30, tzinfo=UTC)


def jpegs(seed: int) -> tuple[ImageFile, ...]:
    """Six distinct fake JPEGs (the store never decodes them): raw and annotated for each view."""
    rng = random.Random(seed)
    return tuple(
        ImageFile(view, kind, b"\xff\xd8" + rng.randbytes(3000) + b"\xff\xd9")
        for kind in ("raw", "annotated")
        for view in ("side", "top", "front")
    )


def capture(
    when: datetime = T0,
    seed: int = 0,
    goat_tag: str | None = None,
    status: str = "ok",
    capture_id: str | None = None,
    measurements: dict | None = None,
) -> CaptureRecord:
    return CaptureRecord(
        capture_id=capture_id or new_id(when),
        captured_at=when,
        device_id="chute-1",
        status=status,
        reason=None if status == "ok" else "goat moved",
        trigger="button",
        images=jpegs(seed),
        measurements={"withers_height_cm": 61.5, "heart_girth_cm": 78.0, "weight_kg": 38.2}
        if measurements is None
        else measurements,
        measurement_reasons={"hip_width_cm": "hooks not visible from the top"},
        model_versions={"side": "side-v3", "top": "top-v2", "front": "front-v2"},
        calibration_hash="c0ffee1234567890",
        weight_formula={"kind": "girth_length", "a": 0.0003},
        goat_tag=goat_tag,
    )


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "goat-data"


@pytest.fixture
def store(data_dir):
    with Store.open(data_dir) as s:
        yield s


def rows(data_dir: Path, sql: str, params=()) -> list[tuple]:
    """Look at the database the way an engineer would, with the sqlite3 shell's eyes."""
    conn = sqlite3.connect(data_dir / "goat.sqlite")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def count(data_dir: Path, table: str) -> int:
    return rows(data_dir, f"SELECT count(*) FROM {table}")[0][0]


def image_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in (data_dir / "images").rglob("*") if p.is_file())


def assert_capture_complete(store: Store, capture_id: str) -> None:
    stored = store.get_capture(capture_id)
    assert {(im["view"], im["kind"]) for im in stored["images"]} == {
        (v, k) for v in ("side", "top", "front") for k in ("raw", "annotated")
    }
    for image in stored["images"]:
        data = store.image_path(image).read_bytes()
        assert hashlib.sha256(data).hexdigest() == image["sha256"] and len(data) == image["bytes"]
    assert rows(store.data_dir, "SELECT count(*) FROM measurements WHERE capture_id = ?", [capture_id]) == [(1,)]
    entries = rows(
        store.data_dir,
        "SELECT kind, table_name FROM outbox WHERE row_id = ? OR image_id IN "
        "(SELECT id FROM images WHERE capture_id = ?)",
        [capture_id, capture_id],
    )
    assert sorted(entries) == sorted([("row", "captures"), ("row", "measurements")] + [("object", "images")] * 6)


# -- recording a capture ---------------------------------------------------------------------


def test_a_recorded_capture_has_six_verified_images_its_measurements_and_outbox_entries(store, data_dir):
    store.add_goat("A12", name="Clover")
    rec = capture(goat_tag="A12")
    stored = store.record_capture(rec)

    folder = data_dir / "images" / "2024" / "06" / "01" / rec.capture_id
    assert image_files(data_dir) == sorted(
        folder / n
        for n in ("side.jpg", "top.jpg", "front.jpg", "side.annotated.jpg", "top.annotated.jpg", "front.annotated.jpg")
    )
    for image, sent in zip(stored.images, rec.images):
        assert image.path.read_bytes() == sent.jpeg
        assert image.sha256 == hashlib.sha256(sent.jpeg).hexdigest() and image.bytes == len(sent.jpeg)

    got = store.get_capture(rec.capture_id)
    assert got["goat_tag"] == "A12" and got["status"] == "ok" and got["trigger"] == "button"
    assert got["captured_at"] == "2024-06-01T08:30:00.000+00:00"
    assert got["measurements"]["withers_height_cm"] == 61.5 and got["measurements"]["weight_kg"] == 38.2
    assert got["measurements"]["body_length_cm"] is None
    assert got["measurement_reasons"] == {"hip_width_cm": "hooks not visible from the top"}
    assert got["model_versions"]["side"] == "side-v3" and got["calibration_hash"] == "c0ffee1234567890"
    assert got["weight_formula"] == {"kind": "girth_length", "a": 0.0003}
    assert [im["path"] for im in got["images"]] == [
        f"images/2024/06/01/{rec.capture_id}/{n}"
        for n in ("side.jpg", "top.jpg", "front.jpg", "side.annotated.jpg", "top.annotated.jpg", "front.annotated.jpg")
    ]
    assert_capture_complete(store, rec.capture_id)

    # The worker sees the capture row first, then each file, then the measurements.
    pending = [e for e in store.pending_outbox(100) if e.table_name != "goats"]
    assert [e.table_name for e in pending] == ["captures"] + ["images"] * 6 + ["measurements"]
    assert {e.image_id for e in pending if e.kind == "object"} == {im.id for im in stored.images}
    assert list(stored.outbox_ids) == [e.id for e in pending]


def test_measurements_from_numpy_are_stored_as_plain_numbers(store):
    import numpy as np

    rec = capture(measurements={"withers_height_cm": np.float32(61.5), "weight_kg": np.float64(38.25)})
    store.record_capture(rec)
    got = store.get_capture(rec.capture_id)["measurements"]
    assert got["withers_height_cm"] == 61.5 and type(got["withers_height_cm"]) is float
    assert got["weight_kg"] == 38.25
    with pytest.raises(InvalidRecordError, match="not a finite number"):
        store.record_capture(capture(measurements={"weight_kg": float("inf")}))


def test_a_retake_without_measurements_still_gets_a_measurements_row_of_nulls(store, data_dir):
    rec = capture(status="retake", measurements={})
    store.record_capture(rec)
    got = store.get_capture(rec.capture_id)
    assert got["status"] == "retake" and got["reason"] == "goat moved"
    assert got["measurements"] == {name: None for name in MEASUREMENTS}
    assert_capture_complete(store, rec.capture_id)


def test_an_unknown_goat_tag_is_refused_and_nothing_is_written(store, data_dir):
    with pytest.raises(UnknownGoatError, match="no goat with tag 'Z99'"):
        store.record_capture(capture(goat_tag="Z99"))
    for table in ("captures", "images", "measurements", "outbox"):
        assert count(data_dir, table) == 0, table
    assert image_files(data_dir) == []


def test_a_bad_record_is_refused_before_any_file_is_written(store, data_dir):
    rec = capture()
    bad_view = CaptureRecord(**{**rec.__dict__, "images": rec.images + (ImageFile("rear", "raw", b"x"),)})
    with pytest.raises(InvalidRecordError, match="image view 'rear'"):
        store.record_capture(bad_view)
    with pytest.raises(InvalidRecordError, match="measurement 'weight_lb'"):
        store.record_capture(capture(measurements={"weight_lb": 80.0}))
    with pytest.raises(InvalidIdError, match="capture id"):
        store.record_capture(capture(capture_id=str(uuid.uuid4())))
    assert image_files(data_dir) == [] and count(data_dir, "captures") == 0


def test_a_duplicate_capture_id_is_refused_and_the_stored_capture_is_untouched(store, data_dir):
    first = capture(seed=1)
    store.record_capture(first)
    before = {p: p.read_bytes() for p in image_files(data_dir)}
    with pytest.raises(DuplicateCaptureError, match=first.capture_id):
        store.record_capture(capture(seed=2, capture_id=first.capture_id))
    assert {p: p.read_bytes() for p in image_files(data_dir)} == before
    assert (count(data_dir, "captures"), count(data_dir, "images"), count(data_dir, "outbox")) == (1, 6, 8)
    assert_capture_complete(store, first.capture_id)


def test_a_failure_inside_the_transaction_rolls_back_every_row_and_removes_the_files(store, data_dir):
    # The very last insert of the transaction fails, after the files and most rows are in.
    conn = sqlite3.connect(data_dir / "goat.sqlite")
    conn.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.table_name = 'measurements' "
        "BEGIN SELECT RAISE(ABORT, 'card went read-only'); END"
    )
    conn.commit()
    with pytest.raises(StoreError, match="card went read-only"):
        store.record_capture(capture())
    for table in ("captures", "images", "measurements", "outbox"):
        assert count(data_dir, table) == 0, table
    assert image_files(data_dir) == []
    assert list((data_dir / "images").iterdir()) == []  # no empty day folders either

    conn.execute("DROP TRIGGER refuse")
    conn.commit()
    conn.close()
    rec = capture()
    store.record_capture(rec)
    assert_capture_complete(store, rec.capture_id)


def test_threads_can_read_while_captures_are_written(store):
    errors = []

    def reader():
        try:
            for _ in range(200):
                store.list_captures(limit=5)
                store.outbox_counts()
        except Exception as exc:  # noqa: BLE001 - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    ids = [store.record_capture(capture(T0 + timedelta(seconds=i), seed=i)).capture_id for i in range(15)]
    for t in threads:
        t.join()
    assert errors == []
    assert [c["id"] for c in store.list_captures(limit=100)] == ids[::-1]


def test_captures_list_newest_first_page_by_page_and_by_goat(store):
    store.add_goat("A12")
    ids = [
        store.record_capture(capture(T0 + timedelta(minutes=i), seed=i, goat_tag="A12" if i % 2 else None)).capture_id
        for i in range(5)
    ]
    first_page = store.list_captures(limit=2)
    assert [c["id"] for c in first_page] == [ids[4], ids[3]]
    assert [c["id"] for c in store.list_captures(limit=2, before=first_page[-1]["id"])] == [ids[2], ids[1]]
    assert [c["id"] for c in store.list_captures(goat_tag="A12")] == [ids[3], ids[1]]
    assert all(len(c["images"]) == 6 for c in first_page)
    with pytest.raises(CaptureNotFoundError):
        store.get_capture(new_id())


# -- start-up: sweep, reopen, migrations -----------------------------------------------------


def test_the_sweep_removes_what_a_killed_capture_left_but_keeps_stored_images(store, data_dir):
    rec = capture()
    store.record_capture(rec)
    kept = image_files(data_dir)
    orphan = data_dir / "images" / "2024" / "05" / "31" / new_id(T0 - timedelta(days=1))
    orphan.mkdir(parents=True)
    (orphan / "side.jpg").write_bytes(b"half a capture")
    temp = kept[0].parent / ".top.jpg.1a2b3c4d.tmp"
    temp.write_bytes(b"half a file")

    removed = store.sweep_orphans()

    assert orphan in removed and orphan / "side.jpg" in removed and temp in removed
    assert not (data_dir / "images" / "2024" / "05").exists()
    assert image_files(data_dir) == kept
    assert_capture_complete(store, rec.capture_id)
    assert store.sweep_orphans() == []


def test_reopening_the_database_keeps_everything(data_dir):
    with Store.open(data_dir) as store:
        store.add_goat("A12", breed="Boer", sex="female", birth_date="2022-03-14")
        rec = capture(goat_tag="A12")
        store.record_capture(rec)
        store.add_scale_weight("A12", 41.0)
        first = store.pending_outbox(1)[0]
        store.mark_done([first.id])
        store.set_sync_state("last_sync_at", "2024-06-01T09:00:00Z")

    with Store.open(data_dir) as store:
        assert store.backup is None and store.schema_version == len(MIGRATIONS)
        assert store.get_goat("A12")["breed"] == "Boer"
        assert store.list_captures()[0]["goat_tag"] == "A12"
        assert_capture_complete(store, rec.capture_id)
        assert store.outbox_counts() == {"pending": 9, "done": 1, "parked": 0}
        assert store.get_sync_state("last_sync_at") == "2024-06-01T09:00:00Z"
        assert store.integrity_ok()
    assert list((data_dir / "backups").iterdir()) == []


def test_a_new_database_is_in_wal_mode_with_the_full_schema_and_no_backup(store, data_dir):
    assert rows(data_dir, "PRAGMA journal_mode") == [("wal",)]
    assert rows(data_dir, "PRAGMA user_version") == [(len(MIGRATIONS),)]
    columns = {r[1] for r in rows(data_dir, "PRAGMA table_info(measurements)")}
    assert set(MEASUREMENTS) <= columns, "a new measurement needs a migration adding its column"
    assert store.backup is None and list((data_dir / "backups").iterdir()) == []
    assert store.integrity_ok()


def test_an_existing_v0_database_is_backed_up_before_it_is_migrated(data_dir):
    data_dir.mkdir()
    conn = sqlite3.connect(data_dir / "goat.sqlite")
    conn.execute("CREATE TABLE notes (text TEXT)")
    conn.execute("INSERT INTO notes VALUES ('from the prototype')")
    conn.commit()
    conn.close()

    with Store.open(data_dir) as store:
        assert re.fullmatch(r"goat-\d{8}T\d{6}Z-v0\.sqlite", store.backup.name)
        assert store.backup.parent == data_dir / "backups"
        store.add_goat("A12")
    backup = sqlite3.connect(store.backup)
    assert backup.execute("SELECT text FROM notes").fetchall() == [("from the prototype",)]
    assert backup.execute("SELECT count(*) FROM sqlite_master WHERE name = 'goats'").fetchone() == (0,)
    assert backup.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # the file as it was found
    backup.close()


def test_upgrading_a_database_backs_it_up_first_and_a_failed_migration_keeps_its_version(data_dir):
    with Store.open(data_dir) as store:
        store.add_goat("A12")
    from sqlite_utils import Database

    now, next_ = len(MIGRATIONS), len(MIGRATIONS) + 1

    def _next_breaks(db):
        db.execute("ALTER TABLE goats ADD COLUMN colour TEXT")
        db.execute("SELECT * FROM no_such_table")

    def _next_adds_colour(db):
        db.execute("ALTER TABLE goats ADD COLUMN colour TEXT")

    db = Database(sqlite3.connect(data_dir / "goat.sqlite", isolation_level=None))
    with pytest.raises(
        MigrationError, match=rf"migration {next_} \(_next_breaks\) failed.*stays at version {now}.*v{now}\.sqlite"
    ):
        migrate(db, data_dir / "goat.sqlite", data_dir / "backups", MIGRATIONS + [_next_breaks])
    assert rows(data_dir, "PRAGMA user_version") == [(now,)]
    assert "colour" not in {r[1] for r in rows(data_dir, "PRAGMA table_info(goats)")}

    backup = migrate(db, data_dir / "goat.sqlite", data_dir / "backups", MIGRATIONS + [_next_adds_colour])
    db.close()
    assert re.fullmatch(rf"goat-\d{{8}}T\d{{6}}Z-v{now}(-2)?\.sqlite", backup.name)
    assert len(list((data_dir / "backups").glob(f"goat-*-v{now}*.sqlite"))) == 2  # one per attempt
    assert rows(data_dir, "PRAGMA user_version") == [(next_,)]
    copy = sqlite3.connect(backup)
    assert copy.execute("SELECT tag FROM goats").fetchall() == [("A12",)]
    assert copy.execute("PRAGMA user_version").fetchone() == (now,)
    copy.close()

    # This goat-edge knows only the versions before: it refuses rather than downgrade.
    with pytest.raises(SchemaTooNewError, match=f"schema version {next_} is newer.*never downgraded"):
        Store.open(data_dir)


def test_a_version_1_database_gains_the_uncertainty_column_and_keeps_its_measurements(data_dir):
    from sqlite_utils import Database

    data_dir.mkdir()
    db = Database(sqlite3.connect(data_dir / "goat.sqlite", isolation_level=None))
    migrate(db, data_dir / "goat.sqlite", data_dir / "backups", MIGRATIONS[:1])
    db.execute(
        "INSERT INTO captures (id, captured_at, device_id, status, trigger, created_at) "
        "VALUES ('0190b4c6-3c4f-7d2a-9c55-2b1f3a4d5e6f', '2024-06-01T09:00:00.000+00:00', 'pi', 'ok', 'api', "
        "'2024-06-01T09:00:00.000+00:00')"
    )
    db.execute(
        "INSERT INTO measurements (capture_id, withers_height_cm) VALUES ('0190b4c6-3c4f-7d2a-9c55-2b1f3a4d5e6f', 71.5)"
    )
    db.close()

    with Store.open(data_dir) as store:
        capture = store.get_capture("0190b4c6-3c4f-7d2a-9c55-2b1f3a4d5e6f")
    assert capture["measurements"]["withers_height_cm"] == 71.5
    assert capture["measurement_uncertainty"] == {}


def test_a_database_from_a_newer_goat_edge_is_refused_untouched(data_dir):
    data_dir.mkdir()
    conn = sqlite3.connect(data_dir / "goat.sqlite")
    conn.execute("CREATE TABLE future (x)")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNewError, match="99.*update goat-edge"):
        Store.open(data_dir)
    assert rows(data_dir, "PRAGMA user_version") == [(99,)]
    assert rows(data_dir, "PRAGMA journal_mode") == [("delete",)]
    assert list((data_dir / "backups").iterdir()) == []


def test_a_file_that_is_not_a_database_is_refused_with_a_way_out(data_dir):
    data_dir.mkdir()
    (data_dir / "goat.sqlite").write_bytes(b"this is a photo, not a database" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite database.*backups"):
        Store.open(data_dir)


# -- goats and scale weights -------------------------------------------------------------------


def test_goats_are_added_checked_and_updated_with_every_change_queued(store):
    goat = store.add_goat("A12", name="Clover", sex="female", birth_date="2022-03-14")
    assert store.get_goat("A12") == goat
    with pytest.raises(DuplicateTagError, match="^goat tag 'A12' already exists$"):
        store.add_goat("A12")
    with pytest.raises(InvalidRecordError, match="sex 'doe'"):
        store.add_goat("B7", sex="doe")
    with pytest.raises(InvalidRecordError, match="14/03/2022"):
        store.add_goat("B7", birth_date="14/03/2022")
    with pytest.raises(InvalidRecordError, match="in the future"):
        store.add_goat("B7", birth_date=(datetime.now(UTC) + timedelta(days=3)).date().isoformat())

    store.add_goat("B7")
    with pytest.raises(DuplicateTagError, match="goat tag 'A12' already exists"):
        store.update_goat("B7", tag="A12")
    with pytest.raises(InvalidRecordError, match="no field colour"):
        store.update_goat("B7", colour="brown")
    updated = store.update_goat("B7", tag="B8", sex="wether", notes="lame left hind")
    assert store.get_goat("B8") == updated and updated["notes"] == "lame left hind"
    with pytest.raises(UnknownGoatError, match="'B7'"):
        store.get_goat("B7")
    assert [g["tag"] for g in store.list_goats()] == ["A12", "B8"]
    # Two adds and one update reached the outbox; the refused ones did not.
    assert [(e.table_name, e.row_id) for e in store.pending_outbox(10)] == [
        ("goats", goat["id"]),
        ("goats", updated["id"]),
        ("goats", updated["id"]),
    ]


def test_tags_match_whatever_their_case_and_surrounding_spaces(store):
    """An associate types "a12 " for the ear tag A12; a tag reader may add spaces."""
    goat = store.add_goat("A12")
    assert store.get_goat(" a12 ") == goat and goat["tag"] == "A12"
    with pytest.raises(DuplicateTagError, match="^goat tag 'a12' already exists as 'A12'$"):
        store.add_goat("a12")
    assert store.update_goat("a12", tag="a12")["tag"] == "a12"  # correcting its own spelling is no clash
    assert [g["tag"] for g in store.list_goats()] == ["a12"]


def test_a_capture_can_be_assigned_to_a_goat_afterwards(store):
    rec = capture()
    store.record_capture(rec)
    store.add_goat("A12")
    store.assign_goat(rec.capture_id, "A12")
    assert store.get_capture(rec.capture_id)["goat_tag"] == "A12"
    assert [e.table_name for e in store.pending_outbox(20)][-1] == "captures"
    with pytest.raises(UnknownGoatError):
        store.assign_goat(rec.capture_id, "Z99")
    with pytest.raises(CaptureNotFoundError):
        store.assign_goat(new_id(), "A12")
    assert store.get_capture(rec.capture_id)["goat_tag"] == "A12"


def test_scale_weights_must_be_plausible(store):
    store.add_goat("A12")
    for impossible in (0, -3, 300, 1200.0, float("nan")):
        with pytest.raises(InvalidRecordError, match="above 0 and below 300 kg"):
            store.add_scale_weight("A12", impossible)
    with pytest.raises(UnknownGoatError):
        store.add_scale_weight("Z99", 40.0)
    weight = store.add_scale_weight("A12", 42.5, weighed_at=T0, notes="after shearing")
    assert weight["weighed_at"] == "2024-06-01T08:30:00.000+00:00"
    assert [(e.table_name, e.row_id) for e in store.pending_outbox(10)][-1] == ("scale_weights", weight["id"])


# -- the outbox and pruning --------------------------------------------------------------------


def test_the_sync_worker_drains_the_outbox(store):
    store.add_goat("A12")
    store.record_capture(capture())
    entries = store.pending_outbox(100)
    assert len(entries) == 9 and [e.id for e in entries] == sorted(e.id for e in entries)
    assert [e.id for e in store.pending_outbox(3)] == [e.id for e in entries[:3]]

    store.mark_done([e.id for e in entries[:5]])
    store.mark_failed(entries[5].id, "connection reset")
    store.mark_failed(entries[5].id, "connection reset")
    store.park(entries[6].id, "cloud refused: checksum mismatch")
    assert store.outbox_counts() == {"pending": 3, "done": 5, "parked": 1}
    retried = store.pending_outbox(100)[0]
    assert retried.id == entries[5].id and retried.attempts == 2 and retried.last_error == "connection reset"
    with pytest.raises(OutboxEntryNotFoundError, match="9999"):
        store.mark_done([entries[7].id, 9999])
    assert store.outbox_counts()["done"] == 5  # all or nothing

    assert store.get_sync_state("cursor") is None
    store.set_sync_state("cursor", "1")
    store.set_sync_state("cursor", "2")
    assert store.get_sync_state("cursor") == "2"


def test_pruning_deletes_only_synced_raw_images_of_older_captures(store, data_dir):
    ids = [store.record_capture(capture(T0 + timedelta(hours=i), seed=i)).capture_id for i in range(5)]
    by_capture = {c["id"]: c for c in store.list_captures()}
    synced = {ids[0], ids[1], ids[3]}  # capture 2's files have not reached the cloud yet
    image_ids = {im["id"] for cid in synced for im in by_capture[cid]["images"]}
    store.mark_done([e.id for e in store.pending_outbox(1000) if e.image_id in image_ids])

    assert store.prune_synced_raw_images(keep_captures=2) == 6

    for i, cid in enumerate(ids):
        for image in store.get_capture(cid)["images"]:
            pruned = i in (0, 1) and image["kind"] == "raw"
            assert store.image_path(image).exists() != pruned, (i, image["path"])
            assert (image["pruned_at"] is not None) == pruned
    assert count(data_dir, "images") == 30
    assert store.prune_synced_raw_images(keep_captures=2) == 0
    assert store.prune_synced_raw_images(keep_captures=0) == 3  # capture 3 is synced; 2 and 4 are not
    assert store.sweep_orphans() == []


def synced(store: Store, capture_ids: set[str]) -> None:
    """Mark done every outbox entry of these captures, as the sync worker does once the cloud has them."""
    entries = store.pending_outbox(10_000)
    image_ids = {im["id"] for cid in capture_ids for im in store.get_capture(cid)["images"]}
    measurement_ids = {m["measurement_id"] for cid in capture_ids for m in store.list_measurings(cid)}
    store.mark_done(
        [
            e.id
            for e in entries
            if e.image_id in image_ids
            or (e.table_name == "captures" and e.row_id in capture_ids)
            or (e.table_name == "measurements" and e.row_id in measurement_ids)
        ]
    )


def test_annotated_photos_of_old_captures_go_once_in_the_cloud_and_the_captures_stay(store, data_dir):
    now = T0 + timedelta(days=400)
    old, old_unsent, recent = (
        store.record_capture(capture(when, seed=i)).capture_id
        for i, when in enumerate((T0, T0 + timedelta(hours=1), now - timedelta(days=10)))
    )
    synced(store, {old, recent})

    assert store.prune_synced_annotated_images(older_than_days=365, now=now) == 3

    for capture_id in (old, old_unsent, recent):
        for image in store.get_capture(capture_id)["images"]:
            gone = capture_id == old and image["kind"] == "annotated"
            assert store.image_path(image).exists() != gone
            assert (image["pruned_at"] is not None) == gone
    assert len(store.list_captures()) == 3
    assert store.prune_synced_annotated_images(older_than_days=365, now=now) == 0
    assert store.sweep_orphans() == []


def test_old_captures_the_cloud_has_whole_are_forgotten_but_never_unsent_or_labelled_ones(store, data_dir):
    now = T0 + timedelta(days=800)
    store.add_goat("A12")
    ids = [store.record_capture(capture(T0 + timedelta(hours=i), seed=i, goat_tag="A12")).capture_id for i in range(4)]
    recent = store.record_capture(capture(now - timedelta(days=5), seed=9, goat_tag="A12")).capture_id
    store.add_measuring(ids[3], Measuring({"weight_kg": 31.0}, {}, {"side": "v4"}, "c0ffee", None))
    synced(store, {ids[0], ids[1], ids[2], recent})  # ids[3]'s new measuring is still to send
    store.put_labels([ViewLabels(ids[1], "side", {"withers": [10.0, 12.0]}, "labels.json")])  # the farm's own work
    files_of_first = {store.image_path(im) for im in store.get_capture(ids[0])["images"]}

    assert store.forget_synced_captures(older_than_days=730, now=now) == 2  # ids[0] and ids[2]

    kept = {c["id"] for c in store.list_captures(limit=100)}
    assert kept == {ids[1], ids[3], recent}
    assert not any(path.exists() for path in files_of_first)
    for capture_id in kept - {ids[3]}:  # (ids[3] has two measurings, which the helper does not expect)
        assert_capture_complete(store, capture_id)
    assert all(store.image_path(im).exists() for im in store.get_capture(ids[3])["images"])
    # The kept captures' entries, ids[3]'s new measuring and its first one (no longer current), the goat.
    assert count(data_dir, "outbox") == 8 * 3 + 2 + 1 and count(data_dir, "measurements") == 4
    assert store.get_goat("A12")["tag"] == "A12"  # the goat stays with its remaining captures
    assert store.integrity_ok() and store.sweep_orphans() == []
    assert store.forget_synced_captures(older_than_days=730, now=now) == 0


# -- files, disk and ids -----------------------------------------------------------------------


def test_the_disk_guard_stops_captures_on_a_full_card_with_a_message_for_the_tablet(tmp_path):
    free = free_disk_mb(tmp_path)
    assert free == pytest.approx(shutil.disk_usage(tmp_path).free / 2**20, rel=0.01)
    assert check_free_disk(tmp_path, min_free_disk_mb=0) == pytest.approx(free, rel=0.01)
    with pytest.raises(DiskFullError) as caught:
        check_free_disk(tmp_path, min_free_disk_mb=free + 10_000_000)
    message = str(caught.value)
    assert re.match(r"only \d+ MB free on the data disk; captures need at least \d+ MB", message)
    assert "storage.min_free_disk_mb" in message


def test_an_atomic_write_replaces_the_whole_file_or_leaves_the_old_one(tmp_path):
    path = tmp_path / "side.jpg"
    write_file_atomic(path, b"first")
    write_file_atomic(path, b"second")
    assert path.read_bytes() == b"second" and list(tmp_path.iterdir()) == [path]

    # The OS refuses the write part way (a file-size limit stands in for a full card).
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        with pytest.raises(FileWriteError, match=rf"^{re.escape(str(path))}: cannot write: file too large$"):
            write_file_atomic(path, b"x" * 100_000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert path.read_bytes() == b"second" and list(tmp_path.iterdir()) == [path]

    with pytest.raises(FileWriteError, match="no_folder/side.jpg: cannot write: no such file"):
        write_file_atomic(tmp_path / "no_folder" / "side.jpg", b"x")


def test_ids_are_uuid7_sorted_by_time_and_give_back_their_timestamp():
    ids = [new_id() for _ in range(2000)]
    assert sorted(ids) == ids and len(set(ids)) == len(ids)
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122

    moment = datetime(2024, 6, 1, 8, 30, 0, 123456, tzinfo=UTC)
    same_ms = [new_id(moment) for _ in range(50)]
    assert sorted(same_ms) == same_ms and len(set(same_ms)) == 50
    assert id_timestamp(same_ms[0]) == moment.replace(microsecond=123000)
    assert new_id(moment - timedelta(days=1)) < same_ms[0] < new_id(moment + timedelta(milliseconds=1))
    assert abs(id_timestamp(new_id()) - datetime.now(UTC)) < timedelta(seconds=1)
    with pytest.raises(InvalidIdError, match="not a UUIDv7"):
        id_timestamp(str(uuid.uuid4()))
    with pytest.raises(InvalidIdError, match="no timezone"):
        new_id(datetime(2024, 6, 1))


# -- kill -9 -----------------------------------------------------------------------------------

CAPTURE_LOOP = textwrap.dedent("""
    import os, sys
    from datetime import datetime, timezone
    from edge.store import CaptureRecord, ImageFile, Store, new_id
    store = Store.open(sys.argv[1])
    print("ready", flush=True)
    i = 0
    while True:
        now = datetime.now(timezone.utc)
        images = tuple(ImageFile(v, k, os.urandom(40_000)) for k in ("raw", "annotated")
                       for v in ("side", "top", "front"))
        store.record_capture(CaptureRecord(new_id(now), now, "chute-1", "ok", None, "button", images,
                                           {"weight_kg": 30.0 + i % 20}, {}, {"side": "v3"}, "c0ffee", None))
        i += 1
""")


def test_a_capture_killed_at_any_moment_is_stored_whole_or_not_at_all(data_dir):
    total = 0
    for trial in range(5):
        child = subprocess.Popen(
            [sys.executable, "-c", CAPTURE_LOOP, str(data_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        try:
            assert child.stdout.readline().strip() == "ready"
            threading.Event().wait(random.Random(trial).uniform(0.02, 0.4))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            child.stdout.close()
        assert child.returncode == -signal.SIGKILL

        # What the daemon does at its next start: open, check, sweep.
        with Store.open(data_dir) as store:
            assert store.integrity_ok(), f"trial {trial}"
            before = set(image_files(data_dir))
            folders = {p for p in (data_dir / "images").rglob("*") if p.is_dir()}
            captures = store.list_captures(limit=100_000)
            referenced = {store.image_path(im) for c in captures for im in c["images"]}
            removed = set(store.sweep_orphans())
            # The sweep removes exactly the files no capture names (and folders left empty).
            assert removed - folders == before - referenced, f"trial {trial}"
            for c in captures:
                assert_capture_complete(store, c["id"])
            assert set(image_files(data_dir)) == referenced, f"trial {trial}: unreferenced files after sweep"
            assert count(data_dir, "outbox") == 8 * len(captures)
            total = len(captures)
    assert total > 0, "no capture finished before the kills; the test proved nothing"


def test_a_disk_that_refuses_writes_is_named_and_the_healthy_database_kept(data_dir):
    """A full disk fails the same SQLite calls as a damaged file; the daemon must not tell
    anyone to move a healthy database aside. The child process may not grow any file
    (RLIMIT_FSIZE), as on a full disk."""
    with Store.open(data_dir) as store:
        store.add_goat("A12")
    child = (
        "import resource, signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "from edge.store import Store\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1))\n"
        f"Store.open({str(data_dir)!r})\n"
    )
    for stale in data_dir.glob("goat.sqlite-*"):
        stale.unlink()  # nothing left over from the clean close: the child must create them
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "The database file looks intact: free space on the disk" in done.stderr
    assert "move it aside, or copy back" not in done.stderr
    with Store.open(data_dir) as store:  # space back: nothing was lost
        assert [g["tag"] for g in store.list_goats()] == ["A12"]
