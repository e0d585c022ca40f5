"""Rows into PostgreSQL: INSERT ... ON CONFLICT on the edge's ids, many rows per transaction.

Tables go in the order their foreign keys need (goats, captures, measurements, weights),
so one transaction can hold a goat and its first capture.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb

from cloud_sync.errors import DeviceRefused, retry_transient
from edge.measurements import MEASUREMENTS

UPSERT = {
    "goats": """
        INSERT INTO goats (id, device_id, tag, name, breed, sex, birth_date, notes, created_at, updated_at)
        VALUES (%(id)s, %(device_id)s, %(tag)s, %(name)s, %(breed)s, %(sex)s, %(birth_date)s, %(notes)s,
                %(created_at)s, %(updated_at)s)
        ON CONFLICT (id) DO UPDATE SET tag = excluded.tag, name = excluded.name, breed = excluded.breed,
            sex = excluded.sex, birth_date = excluded.birth_date, notes = excluded.notes,
            updated_at = excluded.updated_at
        WHERE goats.updated_at <= excluded.updated_at""",
    "captures": """
        INSERT INTO captures (id, device_id, capture_key, captured_at, status, reason, goat_id, trigger,
                              images, created_at)
        VALUES (%(id)s, %(device_id)s, %(capture_key)s, %(captured_at)s, %(status)s, %(reason)s, %(goat_id)s,
                %(trigger)s, %(images)s, %(created_at)s)
        ON CONFLICT (id) DO UPDATE SET goat_id = excluded.goat_id, images = excluded.images""",
    "measurements": f"""
        INSERT INTO measurements (id, capture_id, measured_at, is_current, {", ".join(MEASUREMENTS)}, reasons,
                                  uncertainty, keypoints, model_versions, calibration_hash, weight_formula)
        VALUES (%(id)s, %(capture_id)s, %(measured_at)s, %(is_current)s,
                {", ".join(f"%({m})s" for m in MEASUREMENTS)}, %(reasons)s, %(uncertainty)s, %(keypoints)s,
                %(model_versions)s, %(calibration_hash)s, %(weight_formula)s)
        ON CONFLICT (id) DO UPDATE SET is_current = excluded.is_current,
            {", ".join(f"{m} = excluded.{m}" for m in MEASUREMENTS)},
            reasons = excluded.reasons, uncertainty = excluded.uncertainty, keypoints = excluded.keypoints,
            model_versions = excluded.model_versions,
            calibration_hash = excluded.calibration_hash, weight_formula = excluded.weight_formula""",
    "scale_weights": """
        INSERT INTO scale_weights (id, goat_id, weight_kg, weighed_at, notes, created_at)
        VALUES (%(id)s, %(goat_id)s, %(weight_kg)s, %(weighed_at)s, %(notes)s, %(created_at)s)
        ON CONFLICT (id) DO UPDATE SET weight_kg = excluded.weight_kg, weighed_at = excluded.weighed_at,
            notes = excluded.notes""",
    "tape_measurements": """
        INSERT INTO tape_measurements (id, goat_id, measured_at, name, value_cm, notes, created_at)
        VALUES (%(id)s, %(goat_id)s, %(measured_at)s, %(name)s, %(value_cm)s, %(notes)s, %(created_at)s)
        ON CONFLICT (id) DO UPDATE SET value_cm = excluded.value_cm, measured_at = excluded.measured_at,
            notes = excluded.notes""",
}
TABLE_ORDER = tuple(UPSERT)
ENSURE_DEVICE = "INSERT INTO devices (id) VALUES (%s) ON CONFLICT (id) DO NOTHING"

HEARTBEAT = """
    INSERT INTO devices (id, last_seen, pending_count, oldest_pending_age_s)
    VALUES (%s, now(), %s, %s)
    ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, pending_count = excluded.pending_count,
        oldest_pending_age_s = excluded.oldest_pending_age_s"""


@dataclass(frozen=True)
class Row:
    entry_id: int
    table: str
    values: dict


def jsonb(value) -> Jsonb | None:
    return None if value is None else Jsonb(value)


class RowWriter:
    """One connection, reopened after it breaks; batches commit whole or not at all."""

    def __init__(self, database_url: str, timeout_s: float):
        self.database_url, self.timeout_s = database_url, timeout_s
        self._conn: psycopg.Connection | None = None

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(
                self.database_url,
                connect_timeout=max(1, int(self.timeout_s)),
                options=f"-c statement_timeout={int(self.timeout_s * 1000)}",
            )
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _run(self, work) -> None:
        conn = self._connection()
        try:
            with conn.transaction():
                with conn.cursor() as cur:
                    work(cur)
        except psycopg.OperationalError:
            self.close()  # a broken connection is not reused
            raise

    @retry_transient
    def heartbeat(self, device_id: str, pending_count: int, oldest_pending_age_s: float | None) -> None:
        self._run(lambda cur: cur.execute(HEARTBEAT, [device_id, pending_count, oldest_pending_age_s]))

    @retry_transient
    def write(self, device_id: str, rows: list[Row]) -> None:
        """All rows in one transaction, with the device row first (the others point to it)."""

        def work(cur):
            try:
                cur.execute(ENSURE_DEVICE, [device_id])
            except psycopg.errors.InsufficientPrivilege as exc:
                raise DeviceRefused(device_id, exc) from exc
            for table in TABLE_ORDER:
                values = [r.values for r in rows if r.table == table]
                if values:
                    cur.executemany(UPSERT[table], values)

        self._run(work)
