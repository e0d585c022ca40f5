"""Faults during a sync: kill -9 of the worker, S3 and PostgreSQL going away mid-work.

All against real servers (the session's PostgreSQL and SeaweedFS S3), with the worker in a
subprocess as systemd runs it. Whatever happens, once the worker gets to finish, every object
is in its bucket with the right checksum, every row is there exactly once, and the outbox is
empty: nothing pending, nothing parked.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from cloud_sync.keys import capture_key, image_key, measurements_key
from edge.store import Store
from tests.support.sync_helpers import (
    assert_cloud_matches,
    farm,
    object_sha256,
    once,
    record_captures,
    row_counts,
    s3_keys,
    write_config_file,
)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
CRASH_CHILD = Path(__file__).resolve().parent / "support" / "sync_crash_child.py"
SYNCED_TABLES = ("goats", "captures", "measurements", "scale_weights")
KILLED = -signal.SIGKILL


# -- the worker as a process ----------------------------------------------------------------------


def spawn_run(config: Path, log: Path) -> subprocess.Popen:
    """`goat-sync run`, as the service runs it; its log (stdout and stderr) into `log`."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cloud_sync.cli", "run", "--config", str(config)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def stop_run(proc: subprocess.Popen, log: Path) -> int:
    """SIGTERM, as systemd stops the service: it finishes its pass and exits. The worker
    must still be running then: it rides out the outage rather than dying of it."""
    assert proc.poll() is None, log.read_text()
    proc.send_signal(signal.SIGTERM)
    return proc.wait(30)


def wait_until_sent(store: Store) -> None:
    wait_for("the outbox to empty", lambda: store.outbox_counts()["pending"] == 0, timeout_s=90, every_s=0.25)


def kill_if_running(proc: subprocess.Popen) -> None:
    """A test that failed half-way must not leave its worker behind."""
    if proc.poll() is None:
        proc.kill()
        proc.wait(30)


def crash_child(config: Path, crash: str, marker: Path, nth: int = 1) -> tuple[int, dict, str]:
    """One pass of the worker that SIGKILLs itself at `crash` (tests/support/sync_crash_child.py)."""
    marker.unlink(missing_ok=True)
    done = subprocess.run(
        [
            sys.executable,
            str(CRASH_CHILD),
            "--config",
            str(config),
            "--crash",
            crash,
            "--nth",
            str(nth),
            "--marker",
            str(marker),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = json.loads(marker.read_text()) if marker.exists() else {}
    return done.returncode, found, done.stdout + done.stderr


def sync_until_done(config: Path, capsys, passes: int = 6) -> dict:
    for _ in range(passes):
        report = once(config, capsys)
        if report["pending"] == 0:
            return report
    raise AssertionError(f"still pending after {passes} passes: {report}")


def wait_for(what: str, check, timeout_s: float, every_s: float = 0.1):
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)


# -- what the edge still has to send, what the cloud has --------------------------------------------


def pending_objects(store: Store, cloud) -> set[str]:
    """bucket/key of every object whose outbox entry is still pending: photos, and the
    measurements.json that goes with a pending measurements row."""
    by_image, by_capture = {}, {}
    for capture in store.list_captures(limit=10_000):
        key = capture_key(capture["device_id"], capture["captured_at"])
        by_capture[capture["id"]] = f"{cloud.processed_bucket}/{measurements_key(key)}"
        for image in capture["images"]:
            bucket = cloud.captures_bucket if image["kind"] == "raw" else cloud.processed_bucket
            by_image[image["id"]] = f"{bucket}/{image_key(key, image['view'], image['kind'])}"
    found = {by_image[e.image_id] for e in store.pending_outbox(100_000, kind="object")}
    return found | {
        by_capture[e.row_id] for e in store.pending_outbox(100_000, kind="row") if e.table_name == "measurements"
    }


def pending_rows(store: Store) -> set[tuple[str, str]]:
    return {(e.table_name, e.row_id) for e in store.pending_outbox(100_000, kind="row")}


def cloud_rows(database_url: str) -> set[tuple[str, str]]:
    with psycopg.connect(database_url) as conn:
        return {
            (table, str(row_id))
            for table in SYNCED_TABLES
            for (row_id,) in conn.execute(f"SELECT {'capture_id' if table == 'measurements' else 'id'} FROM {table}")
        }


def transaction_status(database_url: str, xid: str) -> str:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT pg_xact_status(%s::xid8)", [xid]).fetchone()[0]


def assert_synced_exactly_once(data: Path, cloud, captures: int) -> None:
    with Store.open(data) as store:
        assert store.outbox_counts()["pending"] == 0
        assert store.outbox_counts()["parked"] == 0, store.parked_outbox()
        assert_cloud_matches(store, cloud)
        assert len(store.list_captures(limit=10_000)) == captures
    assert row_counts(cloud.database_url) == {
        "devices": 1,
        "goats": 1,
        "captures": captures,
        "measurements": captures,
        "scale_weights": 1,
        "tape_measurements": 1,
    }
    with psycopg.connect(cloud.database_url) as conn:
        # Every photo of every capture row points at its object: none was given up on.
        assert (
            conn.execute(
                "SELECT count(*) FROM captures, jsonb_array_elements(images) i WHERE NOT i ? 'key'"
            ).fetchone()[0]
            == 0
        )
        assert conn.execute("SELECT sum(jsonb_array_length(images)) FROM captures").fetchone()[0] == 6 * captures


SYNC = {"interval_s": 0.2, "max_backoff_s": 2.0, "batch_rows": 5, "batch_objects": 6, "upload_concurrency": 3}


# -- kill -9 of the worker ----------------------------------------------------------------------------


def test_kill_9_of_the_worker_anywhere_loses_and_duplicates_nothing(tmp_path, cloud, capsys):
    seed = int(os.environ.get("GOATDEV_FAULT_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    where = f"(seed {seed}; GOATDEV_FAULT_SEED={seed} gives the same trials and delays)"
    data = tmp_path / "data"
    farm(data, 8)
    captures = 8
    fast = write_config_file(tmp_path / "fast.toml", data, cloud, timeout_s=5.0, **SYNC)
    # ~140 KB of photos per capture at 150 KB/s: a pass takes seconds, and a kill lands in it.
    slow = write_config_file(tmp_path / "slow.toml", data, cloud, timeout_s=5.0, bandwidth_limit_kbps=1200.0, **SYNC)
    marker, log = tmp_path / "marker.json", tmp_path / "run.log"
    trials = ["put"] * 8 + ["tx"] * 4 + ["commit"] * 4 + ["random"] * 16
    rng.shuffle(trials)
    killed_mid_work = 0

    for n, kind in enumerate(trials):
        trial = f"trial {n} ({kind}) {where}"
        with Store.open(data) as store:
            assert store.outbox_counts()["parked"] == 0, f"{trial}: {store.parked_outbox()}"  # a kill parks nothing
            while len(store.pending_outbox(100, kind="object")) < 12:  # two captures' photos to send
                record_captures(store, 1, start=captures, goat_tag="A12")  # the daemon keeps capturing
                captures += 1
            before_objects, before_rows = pending_objects(store, cloud), pending_rows(store)

        if kind == "random":
            proc = spawn_run(slow, log)
            time.sleep(rng.uniform(0.3, 2.5))
            assert proc.poll() is None, f"{trial}: goat-sync run exited by itself:\n{log.read_text()}"
            proc.kill()
            assert proc.wait(30) == KILLED, trial
            with Store.open(data) as store:
                objects, rows = pending_objects(store, cloud), pending_rows(store)
            # Mid-work: some of it done, or some object sent whose entry the kill left pending.
            if (objects or rows) and (
                len(objects) + len(rows) < len(before_objects) + len(before_rows) or objects & s3_keys(cloud)
            ):
                killed_mid_work += 1
            continue

        if kind == "put":
            # Any of this pass's PUTs: photos first, then each measurements.json before its row.
            nth = rng.randint(1, len(before_objects))
            rc, found, output = crash_child(fast, "put", marker, nth)
            assert rc == KILLED and found.get("point") == "put", f"{trial}: rc {rc}, marker {found}\n{output}"
            bucket_key = f"{found['bucket']}/{found['key']}"
            assert object_sha256(cloud, bucket_key) == found["sha256"], f"{trial}: {bucket_key} not in S3"
            with Store.open(data) as store:
                assert bucket_key in pending_objects(store, cloud), f"{trial}: {bucket_key} was marked done"
        elif kind == "tx":
            rc, found, output = crash_child(fast, "tx", marker)
            assert rc == KILLED and found.get("point") == "tx", f"{trial}: rc {rc}, marker {found}\n{output}"
            assert found["ids"] and found["visible_in_transaction"] == len(found["ids"]), trial

            def ended(xid=found["xid"]):
                status = transaction_status(cloud.database_url, xid)
                return status != "in progress" and status

            status = wait_for("the killed worker's transaction to end", ended, timeout_s=15)
            assert status == "aborted", f"{trial}: the transaction {found['xid']} is {status}"
            with Store.open(data) as store:
                assert {(found["table"], i) for i in found["ids"]} <= pending_rows(store), trial
        else:
            rc, found, output = crash_child(fast, "commit", marker)
            assert rc == KILLED and found.get("point") == "commit", f"{trial}: rc {rc}, marker {found}\n{output}"
            written = {tuple(r) for r in found["rows"]}
            assert written and written <= cloud_rows(cloud.database_url), f"{trial}: not committed"
            with Store.open(data) as store:
                assert written <= pending_rows(store), f"{trial}: marked done"

    assert killed_mid_work >= 3, f"only {killed_mid_work} of the random kills landed mid-work {where}"
    sync_until_done(fast, capsys)
    assert_synced_exactly_once(data, cloud, captures)
    again = once(fast, capsys)  # nothing left, nothing sent twice
    assert again["uploaded"] == again["upserted"] == 0
    assert row_counts(cloud.database_url)["captures"] == captures
    with capsys.disabled():
        print(f"\n{len(trials)} kill -9 trials, {killed_mid_work} random kills mid-work, {captures} captures {where}")


# -- S3 goes away mid-upload --------------------------------------------------------------------------


def test_s3_killed_mid_upload_and_restarted_everything_arrives_once(tmp_path, cloud, s3):
    data = tmp_path / "data"
    farm(data, 8)
    config = write_config_file(tmp_path / "edge.toml", data, cloud, timeout_s=3.0, bandwidth_limit_kbps=3200.0, **SYNC)
    log = tmp_path / "run.log"
    proc = spawn_run(config, log)
    try:
        with Store.open(data) as store:

            def uploads_started():
                return len(store.pending_outbox(1000, kind="object")) <= 8 * 6 - 6

            wait_for("the first uploads", uploads_started, timeout_s=30)
            s3.kill()
            left = store.pending_outbox(1000, kind="object")
            assert left, "all photos were up before S3 went away: the outage came too late"

            def failed_tries():
                return [e for e in store.pending_outbox(1000) if e.attempts > 0 and e.last_error]

            failed = wait_for("the worker to find S3 gone", failed_tries, timeout_s=30)
            assert proc.poll() is None, log.read_text()
            time.sleep(1.0)  # offline for a while: the worker backs off and tries again
            s3.start()
            wait_until_sent(store)
        assert stop_run(proc, log) == 0
    finally:
        kill_if_running(proc)
        s3.start()
    assert failed and all("S3" in e.last_error or "Connect" in e.last_error for e in failed), failed
    assert '"offline": true' in log.read_text()
    assert_synced_exactly_once(data, cloud, 8)


# -- PostgreSQL restarts mid-batch -------------------------------------------------------------------


@pytest.mark.parametrize("how", ["immediate", "kill"])
def test_postgres_restarted_mid_batch_everything_arrives_once(tmp_path, cloud, postgres, how):
    data = tmp_path / "data"
    farm(data, 6)
    # A long statement timeout: the worker's INSERT waits on the lock below until the restart.
    config = write_config_file(tmp_path / "edge.toml", data, cloud, timeout_s=30.0, **SYNC)
    log = tmp_path / "run.log"
    dbname = cloud.database_url.rsplit("/", 1)[1]
    # Holds the worker's first row transaction mid-way: its captures written, its measurements
    # waiting for this lock, when PostgreSQL goes down.
    blocker = psycopg.connect(cloud.database_url)
    blocker.execute("LOCK TABLE measurements IN EXCLUSIVE MODE")
    proc = spawn_run(config, log)
    try:

        def worker_waiting():
            with psycopg.connect(postgres.url(dbname), autocommit=True) as conn:
                return conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                    "AND wait_event_type = 'Lock' AND query LIKE %s AND backend_xid IS NOT NULL",
                    [dbname, "%INSERT INTO measurements%"],
                ).fetchone()

        wait_for("the worker's batch to wait mid-transaction", worker_waiting, timeout_s=60, every_s=0.2)
        assert row_counts(cloud.database_url)["captures"] == 0  # written in its transaction, not committed
        with Store.open(data) as store:
            # Every photo is up; no row yet: the goat, 6 captures, 6 measurings, the weight, the tape.
            assert store.outbox_counts()["pending"] == 2 * 6 + 3
        if how == "immediate":
            postgres.stop("immediate")
        else:
            postgres.kill()
        wait_for(
            "the worker to find PostgreSQL gone",
            lambda: '"offline": true' in log.read_text(),
            timeout_s=60,
            every_s=0.2,
        )
        assert proc.poll() is None, log.read_text()
        postgres.start()
        with Store.open(data) as store:
            wait_until_sent(store)
        assert stop_run(proc, log) == 0
    finally:
        kill_if_running(proc)
        postgres.start()
        try:
            blocker.close()
        except psycopg.Error:
            pass
    assert_synced_exactly_once(data, cloud, 6)
