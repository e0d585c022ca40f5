"""The data disk fills in the middle of a capture, or another program holds the database:
the tablet is told so (503, and why), nothing stored is lost, and the chute works again
as soon as the cause is gone.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest
import requests

from edge.store import Store
from edge.store.db import DB_NAME
from tests.support.daemon_helpers import Daemon, assert_complete, free_port, simulate_captures, write_config

TMPFS_MB = 24


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    return simulate_captures(tmp_path_factory.mktemp("replay"), seeds=(41,))


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MB file system of its own (tmpfs), so the test can fill it without filling the
    machine's; needs the right to mount, as root in CI's container has."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "goat-test", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        # CI runs as root in a privileged container (.github/workflows/ci.yml), where this
        # must work: there the test fails instead of quietly skipping.
        why = f"cannot mount a small file system here: {mounted.stderr.strip()}"
        if os.environ.get("GOATDEV_REQUIRE_SERVICES"):
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def fill(path: Path, leave_bytes: int) -> None:
    """Write a filler file until only about `leave_bytes` are free on path's file system."""
    import shutil

    free = shutil.disk_usage(path.parent).free
    with open(path, "wb") as fh:
        fh.write(b"\0" * max(0, free - leave_bytes))


def test_a_disk_that_fills_mid_capture_gives_503_and_keeps_what_was_stored(tmp_path, replay, small_disk):
    data = small_disk / "data"
    # The free-space floor is off, as when something else fills the card between its check
    # and the capture's writes.
    config = write_config(tmp_path / "edge.toml", data, replay, free_port(), min_free_disk_mb=0)
    with Daemon(config) as daemon:
        first = daemon.post("/api/captures")
        assert first.status_code == 201, first.text
        filler = small_disk / "filler.bin"
        fill(filler, leave_bytes=64 * 1024)  # less than one capture's photos
        full = daemon.post("/api/captures")
        assert full.status_code == 503, full.text
        assert "no space left on device" in full.json()["detail"] or "disk is full" in full.json()["detail"]
        assert daemon.get("/api/health").status_code == 200
        assert [c["id"] for c in daemon.get("/api/captures").json()] == [first.json()["id"]]
        filler.unlink()  # the technician frees space; the next capture works
        again = daemon.post("/api/captures")
        assert again.status_code == 201, again.text
    with Store.open(data) as store:
        assert store.integrity_ok()
        captures = store.list_captures()
        assert len(captures) == 2
        for capture in captures:
            assert_complete(store, capture)
        assert store.sweep_orphans() == []  # the failed capture left no file behind


def test_a_database_held_by_another_program_gives_503_while_reads_go_on(tmp_path, replay):
    data = tmp_path / "data"
    config = write_config(tmp_path / "edge.toml", data, replay, free_port())
    with Daemon(config) as daemon:
        other = sqlite3.connect(data / DB_NAME, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # e.g. a sqlite3 shell left open mid-transaction
        try:
            answer = {}
            writer = threading.Thread(target=lambda: answer.update(r=daemon.post("/api/goats", json={"tag": "A12"})))
            writer.start()
            # While the write waits for the lock, the tablet's reads are answered.
            for _ in range(3):
                assert requests.get(daemon.url + "/api/health", timeout=2.5).status_code == 200
                assert requests.get(daemon.url + "/api/goats", timeout=2.5).status_code == 200
            writer.join(30)
            refused = answer["r"]
            assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
            assert "another program has held the database" in refused.json()["detail"]
        finally:
            other.rollback()
            other.close()
        assert daemon.post("/api/goats", json={"tag": "A12"}).status_code == 201
        assert [g["tag"] for g in daemon.get("/api/goats").json()] == ["A12"]


def test_a_read_is_not_held_up_by_a_write_waiting_for_the_lock(tmp_path):
    """The same at the store: between tries a waiting write lets go of the store."""
    with Store.open(tmp_path) as store:
        store.add_goat("A12")
        other = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            failure = {}

            def write():
                try:
                    store.add_goat("B7")
                except Exception as exc:
                    failure["exc"] = exc

            writer = threading.Thread(target=write)
            writer.start()
            reads = 0
            while writer.is_alive():
                assert [g["tag"] for g in store.list_goats()] == ["A12"]
                reads += 1
            writer.join()
        finally:
            other.rollback()
            other.close()
        assert type(failure["exc"]).__name__ == "DatabaseBusyError"
        assert reads > 10  # reads went on all along (a blocked read would count one)
        store.add_goat("B7")
        assert [g["tag"] for g in store.list_goats()] == ["A12", "B7"]
