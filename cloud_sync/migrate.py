"""`goat-sync migrate`: the cloud schema, as numbered SQL files applied in order.

Each file runs in one transaction together with its row in goat_schema_migrations, so a
migration is applied whole or not at all; an advisory lock keeps two runs from racing.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_ID = 0x60A7  # any constant: one advisory lock for "migrating the goat schema"


def migration_files() -> list[tuple[int, Path]]:
    found = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        match = re.match(r"(\d+)_", path.name)
        if match:
            found.append((int(match.group(1)), path))
    return found


def migrate(database_url: str) -> list[str]:
    """Apply what is missing; returns the names of the files applied."""
    applied_now = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [_LOCK_ID])
        conn.execute(
            "CREATE TABLE IF NOT EXISTS goat_schema_migrations "
            "(version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM goat_schema_migrations")}
        for version, path in migration_files():
            if version in done:
                continue
            with conn.transaction():
                conn.execute(path.read_text())
                conn.execute("INSERT INTO goat_schema_migrations (version, name) VALUES (%s, %s)", [version, path.name])
            applied_now.append(path.name)
        conn.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_ID])
    return applied_now
