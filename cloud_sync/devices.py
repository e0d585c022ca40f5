"""Which PostgreSQL login writes as which device (migration 006's row-level security).

Each Pi has its own login, a member of goat_device; `goat-sync add-device` records the
device id it may write as. A login can be re-pointed (a Pi replaced), and a device can
have two logins while its password is rotated.
"""

from __future__ import annotations

import re

import psycopg
from psycopg import sql

from edge.config import DEVICE_ID_PATTERN
from edge.errors import GoatEdgeError

DEVICE_ROLE = "goat_device"


class DeviceLoginError(GoatEdgeError):
    pass


def add_device_login(admin_url: str, login: str, device_id: str) -> str:
    """Map `login` to `device_id`, making it a member of goat_device; returns what changed."""
    if not re.match(DEVICE_ID_PATTERN, device_id):
        raise DeviceLoginError(f"device id {device_id!r}: use letters, digits, '.' and '-'")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [login]).fetchone() is None:
            raise DeviceLoginError(
                f"no login role {login!r}: create it first, "
                f"CREATE ROLE {login} LOGIN PASSWORD '...' IN ROLE {DEVICE_ROLE}"
            )
        with conn.transaction():
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(DEVICE_ROLE), sql.Identifier(login)))
            before = conn.execute("SELECT device_id FROM device_logins WHERE role_name = %s", [login]).fetchone()
            conn.execute(
                "INSERT INTO device_logins (role_name, device_id) VALUES (%s, %s) "
                "ON CONFLICT (role_name) DO UPDATE SET device_id = excluded.device_id, added_at = now()",
                [login, device_id],
            )
    if before is None:
        return f"login {login} now writes as device {device_id}"
    if before[0] == device_id:
        return f"login {login} already writes as device {device_id}"
    return f"login {login} now writes as device {device_id} (was {before[0]})"
