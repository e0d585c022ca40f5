"""The schema, as numbered migrations counted in PRAGMA user_version.

Migration N takes the database from version N-1 to N. Each is a plain function that
only issues SQL; `migrate` runs it in one transaction together with the version bump, so
a failed migration leaves the old version intact. A migration, once shipped, is never
edited: a change to the schema is a new migration at the end of MIGRATIONS.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from edge.store.errors import FileWriteError, MigrationError, SchemaTooNewError
from edge.store.files import TEMP_SUFFIX, ensure_dir, fsync_dir


def _1_create_schema(db: Database) -> None:
    statements = [
        """CREATE TABLE goats (
            id TEXT PRIMARY KEY,
            tag TEXT NOT NULL UNIQUE,
            name TEXT,
            breed TEXT,
            sex TEXT CHECK (sex IN ('female', 'male', 'wether')),
            birth_date TEXT,
            notes TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL)""",
        """CREATE TABLE captures (
            id TEXT PRIMARY KEY,
            captured_at TEXT NOT NULL,
            device_id TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('ok', 'retake')),
            reason TEXT,
            goat_id TEXT REFERENCES goats(id),
            trigger TEXT NOT NULL CHECK (trigger IN ('button', 'api', 'cli')),
            created_at TEXT NOT NULL)""",
        "CREATE INDEX captures_by_time ON captures(captured_at, id)",
        "CREATE INDEX captures_by_goat ON captures(goat_id, captured_at)",
        """CREATE TABLE images (
            id TEXT PRIMARY KEY,
            capture_id TEXT NOT NULL REFERENCES captures(id),
            view TEXT NOT NULL CHECK (view IN ('side', 'top', 'front')),
            kind TEXT NOT NULL CHECK (kind IN ('raw', 'annotated')),
            path TEXT NOT NULL UNIQUE,
            sha256 TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            pruned_at TEXT,
            UNIQUE (capture_id, view, kind))""",
        """CREATE TABLE measurements (
            capture_id TEXT PRIMARY KEY REFERENCES captures(id),
            body_length_cm REAL,
            withers_height_cm REAL,
            rump_height_cm REAL,
            chest_depth_cm REAL,
            chest_width_cm REAL,
            hip_width_cm REAL,
            heart_girth_cm REAL,
            weight_kg REAL,
            reasons_json TEXT NOT NULL DEFAULT '{}',
            model_versions_json TEXT NOT NULL DEFAULT '{}',
            calibration_hash TEXT,
            weight_formula_json TEXT)""",
        """CREATE TABLE scale_weights (
            id TEXT PRIMARY KEY,
            goat_id TEXT NOT NULL REFERENCES goats(id),
            weight_kg REAL NOT NULL CHECK (weight_kg > 0 AND weight_kg < 300),
            weighed_at TEXT NOT NULL,
            notes TEXT,
            created_at TEXT NOT NULL)""",
        "CREATE INDEX scale_weights_by_goat ON scale_weights(goat_id, weighed_at)",
        # AUTOINCREMENT: an id is never reused, so the worker's 'done' can't hit a newer entry.
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL CHECK (kind IN ('object', 'row')),
            table_name TEXT NOT NULL,
            row_id TEXT NOT NULL,
            image_id TEXT REFERENCES images(id),
            created_at TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'parked')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            done_at TEXT,
            CHECK ((kind = 'object') = (image_id IS NOT NULL)))""",
        "CREATE INDEX outbox_by_state ON outbox(state, id)",
        "CREATE INDEX outbox_by_image ON outbox(image_id)",
        """CREATE TABLE sync_state (
            key TEXT PRIMARY KEY,
            value TEXT,
            updated_at TEXT NOT NULL)""",
    ]
    for sql in statements:
        db.execute(sql)


def _2_measurement_uncertainty(db: Database) -> None:
    """Each measurement's 90 % ± (edge/measure/uncertainty.py), by name; {} for older rows."""
    db.execute("ALTER TABLE measurements ADD COLUMN uncertainty_json TEXT NOT NULL DEFAULT '{}'")


def _3_keypoints(db: Database) -> None:
    """The keypoints the models found, per view: {view: {landmark: [x_px, y_px, confidence]}}
    in the photo's own pixels; {} for older rows. Pre-labels for correcting (goat-edge labels)."""
    db.execute("ALTER TABLE measurements ADD COLUMN keypoints_json TEXT NOT NULL DEFAULT '{}'")


def _4_labels(db: Database) -> None:
    """Keypoints a person placed on a capture's photo (goat-edge labels import), per view:
    the truth a retrained model learns from and is judged on."""
    db.execute(
        """CREATE TABLE labels (
            capture_id TEXT NOT NULL REFERENCES captures(id),
            view TEXT NOT NULL CHECK (view IN ('side', 'top', 'front')),
            keypoints_json TEXT NOT NULL,
            source TEXT NOT NULL,
            imported_at TEXT NOT NULL,
            PRIMARY KEY (capture_id, view))"""
    )


_MEASURED_COLUMNS = (
    "body_length_cm, withers_height_cm, rump_height_cm, chest_depth_cm, chest_width_cm, hip_width_cm, "
    "heart_girth_cm, weight_kg, reasons_json, model_versions_json, calibration_hash, weight_formula_json, "
    "uncertainty_json, keypoints_json"
)


def _5_measurement_versions(db: Database) -> None:
    """A capture may be measured again (goat-edge reprocess, with newer models): each
    measuring is a row of its own, the newest marked current, the older ones kept. A
    capture's first measuring keeps the capture's id as its own, so the rows the cloud
    already holds keep theirs."""
    db.execute(
        """CREATE TABLE measurements_v5 (
            id TEXT PRIMARY KEY,
            capture_id TEXT NOT NULL REFERENCES captures(id),
            measured_at TEXT NOT NULL,
            is_current INTEGER NOT NULL DEFAULT 1 CHECK (is_current IN (0, 1)),
            body_length_cm REAL,
            withers_height_cm REAL,
            rump_height_cm REAL,
            chest_depth_cm REAL,
            chest_width_cm REAL,
            hip_width_cm REAL,
            heart_girth_cm REAL,
            weight_kg REAL,
            reasons_json TEXT NOT NULL DEFAULT '{}',
            model_versions_json TEXT NOT NULL DEFAULT '{}',
            calibration_hash TEXT,
            weight_formula_json TEXT,
            uncertainty_json TEXT NOT NULL DEFAULT '{}',
            keypoints_json TEXT NOT NULL DEFAULT '{}')"""
    )
    db.execute(
        f"INSERT INTO measurements_v5 (id, capture_id, measured_at, is_current, {_MEASURED_COLUMNS}) "
        f"SELECT m.capture_id, m.capture_id, c.captured_at, 1, {_MEASURED_COLUMNS} "
        "FROM measurements m JOIN captures c ON c.id = m.capture_id"
    )
    db.execute("DROP TABLE measurements")
    db.execute("ALTER TABLE measurements_v5 RENAME TO measurements")
    db.execute("CREATE UNIQUE INDEX measurements_current ON measurements(capture_id) WHERE is_current = 1")
    db.execute("CREATE INDEX measurements_by_capture ON measurements(capture_id, measured_at)")


def _6_tape_measurements(db: Database) -> None:
    """Measurements taken by hand on a goat (edge/store/tape.py): the farm's truth for the
    camera's centimetres."""
    db.execute(
        """CREATE TABLE tape_measurements (
            id TEXT PRIMARY KEY,
            goat_id TEXT NOT NULL REFERENCES goats(id),
            measured_at TEXT NOT NULL,
            name TEXT NOT NULL CHECK (name IN ('body_length_cm', 'withers_height_cm', 'rump_height_cm',
                'chest_depth_cm', 'chest_width_cm', 'hip_width_cm', 'heart_girth_cm')),
            value_cm REAL NOT NULL CHECK (value_cm > 0 AND value_cm < 400),
            notes TEXT,
            created_at TEXT NOT NULL)"""
    )
    db.execute("CREATE INDEX tape_by_goat ON tape_measurements(goat_id, measured_at)")


MIGRATIONS: list[Callable[[Database], None]] = [
    _1_create_schema,
    _2_measurement_uncertainty,
    _3_keypoints,
    _4_labels,
    _5_measurement_versions,
    _6_tape_measurements,
]


def schema_version(db: Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def is_empty(db: Database) -> bool:
    return schema_version(db) == 0 and db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def refuse_newer(db: Database, db_path: Path, migrations=MIGRATIONS) -> int:
    version = schema_version(db)
    if version > len(migrations):
        raise SchemaTooNewError(
            f"{db_path}: schema version {version} is newer than this goat-edge knows ({len(migrations)}); "
            f"update goat-edge (the database is never downgraded)"
        )
    return version


def backup_database(db: Database, backups_dir: Path, version: int) -> Path:
    """A consistent copy via SQLite's backup API, named for the UTC time and the old version."""
    ensure_dir(backups_dir)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = backups_dir / f"goat-{stamp}-v{version}.sqlite"
    n = 2
    while target.exists():  # two upgrades within a second (tests, a retried start)
        target = backups_dir / f"goat-{stamp}-v{version}-{n}.sqlite"
        n += 1
    tmp = target.with_name(target.name + TEMP_SUFFIX)
    try:
        copy = sqlite3.connect(tmp)
        try:
            db.conn.backup(copy)
        finally:
            copy.close()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        fsync_dir(backups_dir)
    except (OSError, sqlite3.Error) as exc:
        tmp.unlink(missing_ok=True)
        raise FileWriteError(f"{target}: cannot back up the database before upgrading it: {exc}") from None
    return target


def migrate(db: Database, db_path: Path, backups_dir: Path, migrations=MIGRATIONS) -> Path | None:
    """Bring the database to the newest version; returns the backup taken, if one was needed.

    A database that holds anything is backed up first, so a migration gone wrong on a
    farm can be undone by copying the backup back.
    """
    version = refuse_newer(db, db_path, migrations)
    if version == len(migrations):
        return None
    backup = None if is_empty(db) else backup_database(db, backups_dir, version)
    for number in range(version + 1, len(migrations) + 1):
        # IMMEDIATE: a second process starting at the same moment waits here, then sees
        # the new version and skips the migration instead of running it twice.
        db.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(db) < number:
                migrations[number - 1](db)
                # Foreign keys are off while migrating; check by hand what they would have refused.
                dangling = db.execute("PRAGMA foreign_key_check").fetchall()
                if dangling:
                    raise MigrationError(
                        f"it leaves {len(dangling)} rows pointing at missing rows "
                        f"(first: table {dangling[0][0]}, row {dangling[0][1]})"
                    )
                db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
        except BaseException as exc:
            db.rollback()
            if isinstance(exc, Exception):
                where = f"; the backup is {backup}" if backup else ""
                raise MigrationError(
                    f"{db_path}: migration {number} ({migrations[number - 1].__name__}) failed: {exc}; "
                    f"the database stays at version {number - 1}{where}"
                ) from exc
            raise
    return backup
