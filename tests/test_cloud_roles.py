"""Many farms share one cloud database: a Pi's login reaches its own device's rows and no one else's.

Two Pis, barn-east and barn-west, sync through their own PostgreSQL logins; then barn-east's
password is used as a thief would, to read, change, forge and delete barn-west's records.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from cloud_sync.cli import main as goat_sync
from edge.store import Store
from tests.support.sync_helpers import Cloud, farm, once, row_counts, write_config_file

EAST, WEST = "barn-east", "barn-west"
TABLES = ("devices", "goats", "captures", "measurements", "scale_weights", "tape_measurements")


def add_device(cloud: Cloud, login: str, device_id: str) -> int:
    return goat_sync(["add-device", "--database-url", cloud.database_url, "--login", login, "--device-id", device_id])


def device_login(cloud: Cloud, postgres, device_id: str | None, capsys) -> tuple[str, str]:
    """A fresh login role in goat_device (roles are shared by the whole cluster, hence the
    random name), mapped to `device_id` by `goat-sync add-device`; its name and URL."""
    role = f"pi_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(cloud.database_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pi-secret' IN ROLE goat_device")
    if device_id is not None:
        assert add_device(cloud, role, device_id) == 0
        assert f"login {role} now writes as device {device_id}" in capsys.readouterr().out
    return role, postgres.url(cloud.database_url.rsplit("/", 1)[1], user=role, password="pi-secret")


def as_login(cloud: Cloud, url: str) -> Cloud:
    return Cloud(url, cloud.endpoint_url, cloud.captures_bucket, cloud.processed_bucket, cloud.client)


def sync_farm(tmp_path, cloud: Cloud, url: str, device_id: str, capsys, captures: int = 2) -> dict:
    data = tmp_path / device_id
    farm(data, captures, device_id)
    return once(write_config_file(tmp_path / f"{device_id}.toml", data, as_login(cloud, url), device_id), capsys)


def everything(database_url: str) -> dict[str, list[tuple]]:
    """Every row of every synced table, as the admin sees them."""
    with psycopg.connect(database_url) as conn:
        return {t: sorted(map(repr, conn.execute(f"SELECT * FROM {t}").fetchall())) for t in TABLES}


@pytest.fixture
def two_farms(tmp_path, cloud, postgres, capsys):
    """barn-east and barn-west synced through their own logins; barn-east's URL and the ids of
    barn-west's goat and capture."""
    _, east_url = device_login(cloud, postgres, EAST, capsys)
    _, west_url = device_login(cloud, postgres, WEST, capsys)
    for url, device in ((east_url, EAST), (west_url, WEST)):
        report = sync_farm(tmp_path, cloud, url, device, capsys)
        assert report["pending"] == 0 and report["parked"] == 0 and not report["refused"], report
    with psycopg.connect(cloud.database_url) as conn:
        west_goat = conn.execute("SELECT id FROM goats WHERE device_id = %s", [WEST]).fetchone()[0]
        west_capture = conn.execute("SELECT id FROM captures WHERE device_id = %s LIMIT 1", [WEST]).fetchone()[0]
    return east_url, west_goat, west_capture


def test_each_pi_syncs_through_its_own_login_and_sees_only_its_own_rows(cloud, two_farms):
    east_url, _, _ = two_farms
    counts = row_counts(cloud.database_url)
    assert counts == {
        "devices": 2,
        "goats": 2,
        "captures": 4,
        "measurements": 4,
        "scale_weights": 2,
        "tape_measurements": 2,
    }
    with psycopg.connect(east_url) as conn:
        seen = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
        devices = {r[0] for r in conn.execute("SELECT DISTINCT device_id FROM captures")}
        # SET ROLE to the group does not make the login someone else.
        conn.execute("SET ROLE goat_device")
        after_set_role = conn.execute("SELECT id FROM devices").fetchall()
    assert seen == {
        "devices": 1,
        "goats": 1,
        "captures": 2,
        "measurements": 2,
        "scale_weights": 1,
        "tape_measurements": 1,
    }
    assert devices == {EAST} and after_set_role == [(EAST,)]


def test_a_stolen_pi_login_cannot_change_forge_or_delete_another_farms_rows(cloud, two_farms):
    east_url, west_goat, west_capture = two_farms
    before = everything(cloud.database_url)
    with psycopg.connect(east_url, autocommit=True) as conn:
        # Changes to rows it cannot see touch nothing.
        for statement, args in (
            ("UPDATE goats SET name = 'stolen', tag = 'X' WHERE id = %s", [west_goat]),
            ("UPDATE measurements SET weight_kg = NULL WHERE capture_id = %s", [west_capture]),
            ("UPDATE captures SET images = '[]' WHERE id = %s", [west_capture]),
            ("UPDATE scale_weights SET weight_kg = 1 WHERE goat_id = %s", [west_goat]),
            ("UPDATE tape_measurements SET value_cm = 1 WHERE goat_id = %s", [west_goat]),
            ("UPDATE devices SET last_seen = now(), pending_count = 0 WHERE id = %s", [WEST]),
        ):
            assert conn.execute(statement, args).rowcount == 0, statement
        # Its own rows cannot be handed to another device either.
        assert conn.execute("UPDATE goats SET notes = 'ok' WHERE device_id = %s", [EAST]).rowcount == 1
        refused = (
            ("INSERT INTO devices (id) VALUES (%s)", [WEST]),
            ("INSERT INTO devices (id) VALUES ('barn-new')", []),
            ("UPDATE goats SET device_id = %s", [WEST]),
            (
                "INSERT INTO goats (id, device_id, tag, created_at, updated_at) VALUES (%s, %s, 'Z9', now(), now())",
                [uuid.uuid4(), WEST],
            ),
            # An upsert on barn-west's goat id, claiming it for barn-east.
            (
                "INSERT INTO goats (id, device_id, tag, created_at, updated_at) VALUES (%s, %s, 'Z9', now(), now()) "
                "ON CONFLICT (id) DO UPDATE SET tag = excluded.tag",
                [west_goat, EAST],
            ),
            (
                "INSERT INTO captures (id, device_id, capture_key, captured_at, status, goat_id, trigger, images, "
                "created_at) VALUES (%s, %s, %s, now(), 'ok', NULL, 'api', '[]', now())",
                [uuid.uuid4(), WEST, f"{WEST}_forged"],
            ),
            # barn-east's own capture, naming barn-west's goat.
            (
                "INSERT INTO captures (id, device_id, capture_key, captured_at, status, goat_id, trigger, images, "
                "created_at) VALUES (%s, %s, %s, now(), 'ok', %s, 'api', '[]', now())",
                [uuid.uuid4(), EAST, f"{EAST}_forged", west_goat],
            ),
            (
                "INSERT INTO measurements (id, capture_id, measured_at, reasons, model_versions) "
                "VALUES (%s, %s, now(), '{}', '{}')",
                [uuid.uuid4(), west_capture],
            ),
            (
                "INSERT INTO scale_weights (id, goat_id, weight_kg, weighed_at, created_at) "
                "VALUES (%s, %s, 99, now(), now())",
                [uuid.uuid4(), west_goat],
            ),
            (
                "INSERT INTO tape_measurements (id, goat_id, measured_at, name, value_cm, created_at) "
                "VALUES (%s, %s, now(), 'heart_girth_cm', 99, now())",
                [uuid.uuid4(), west_goat],
            ),
            ("DELETE FROM captures", []),
            ("SELECT * FROM device_logins", []),
            ("UPDATE device_logins SET device_id = %s", [WEST]),
            ("SELECT * FROM goat_schema_migrations", []),
            ("ALTER TABLE goats DISABLE ROW LEVEL SECURITY", []),
            ("DROP TABLE captures", []),
        )
        for statement, args in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement, args)
    after = everything(cloud.database_url)
    assert {t: after[t] for t in TABLES if t != "goats"} == {t: before[t] for t in TABLES if t != "goats"}
    with psycopg.connect(cloud.database_url) as conn:
        goats = dict(conn.execute("SELECT device_id, notes FROM goats").fetchall())
    assert goats == {EAST: "ok", WEST: None}


def test_a_pi_syncing_again_still_updates_its_own_rows(tmp_path, cloud, postgres, capsys):
    _, url = device_login(cloud, postgres, EAST, capsys)
    sync_farm(tmp_path, cloud, url, EAST, capsys)
    with Store.open(tmp_path / EAST) as store:
        store.update_goat("A12", name="Clover")
    report = once(tmp_path / f"{EAST}.toml", capsys)
    assert report["upserted"] >= 1 and report["pending"] == 0 and report["parked"] == 0
    with psycopg.connect(cloud.database_url) as conn:
        assert conn.execute("SELECT name FROM goats").fetchall() == [("Clover",)]


@pytest.mark.parametrize("mapped_to", [None, WEST], ids=["login-not-added", "login-of-another-device"])
def test_a_login_that_may_not_write_as_this_pi_keeps_the_rows_pending_and_says_why(
    tmp_path, cloud, postgres, capsys, mapped_to
):
    role, url = device_login(cloud, postgres, mapped_to, capsys)
    report = sync_farm(tmp_path, cloud, url, EAST, capsys)
    assert report["refused"] and report["parked"] == 0 and report["pending"] > 0
    assert any(f"may not write as device '{EAST}'" in e and "goat-sync add-device" in e for e in report["errors"])
    assert row_counts(cloud.database_url)["captures"] == 0
    # Once the login is added for this device, the same rows go through.
    assert add_device(cloud, role, EAST) == 0
    capsys.readouterr()
    report = once(tmp_path / f"{EAST}.toml", capsys)
    assert report["pending"] == 0 and not report["refused"]
    assert row_counts(cloud.database_url)["captures"] == 2


def test_add_device_names_a_missing_login_and_a_bad_device_id(cloud, capsys):
    assert add_device(cloud, "pi_nobody_here", EAST) == 2
    assert "no login role 'pi_nobody_here': create it first" in capsys.readouterr().err
    assert add_device(cloud, "postgres", "barn_east") == 2
    assert "device id 'barn_east'" in capsys.readouterr().err
    with psycopg.connect(cloud.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM device_logins").fetchone()[0] == 0
