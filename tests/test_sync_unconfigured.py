"""A Pi with no cloud yet: goat-sync run waits quietly instead of failing every 10 s.

Without a database URL `goat-sync run` used to exit 2 at once, and systemd restarted it every
RestartSec (goat-sync.service) for as long as the Pi had no cloud. Now it says so once, tells
systemd it is ready, feeds the watchdog, and stops cleanly; `goat-sync once` still fails.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from cloud_sync.cli import main as goat_sync
from edge.config import ROOT
from edge.store import Store
from edge.store.outbox import SYNC_CONFIGURED_STATE

NOT_CONFIGURED = (
    "sync not configured: set sync.database_url in {config} or GOATDEV_DATABASE_URL in /etc/goatdev/sync.env; idling"
)


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.delenv("GOATDEV_DATABASE_URL", raising=False)
    path = tmp_path / "edge.toml"
    path.write_text(f'[device]\nid = "barn-east"\n[storage]\ndata_dir = "{tmp_path / "data"}"\n')
    return path


def messages_until(sock: socket.socket, deadline_s: float) -> list[str]:
    found = []
    while (left := deadline_s - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            found += sock.recv(4096).decode().split("\n")
        except TimeoutError:
            break
    return found


def test_without_a_database_goat_sync_run_idles_as_a_ready_service_and_stops_cleanly(tmp_path, config):
    notify = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    env = {k: v for k, v in os.environ.items() if k not in ("GOATDEV_DATABASE_URL", "WATCHDOG_PID", "JOURNAL_STREAM")}
    env.update(NOTIFY_SOCKET=str(notify), WATCHDOG_USEC="1000000", PYTHONUNBUFFERED="1")
    child = subprocess.Popen(
        [sys.executable, "-m", "cloud_sync.cli", "run", "--config", str(config)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        sock.settimeout(60)  # the interpreter and its imports, on a busy machine
        first = sock.recv(4096).decode()
        assert first == "READY=1"
        # Up for a few seconds, pinging the watchdog every half WatchdogSec (0.5 s here).
        idle = messages_until(sock, time.monotonic() + 3)
        assert child.poll() is None
        assert any(m.startswith("STATUS=sync not configured") for m in idle)
        assert idle.count("WATCHDOG=1") >= 3
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=10) == 0  # on-failure: systemd does not restart it
        assert "STOPPING=1" in messages_until(sock, time.monotonic() + 2)
        output = child.stdout.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        sock.close()
    assert output.count(NOT_CONFIGURED.format(config=config)) == 1, output
    assert "Traceback" not in output and "error" not in output.lower()
    # And the daemon's /api/health, which cannot read goat-sync's secrets, is told.
    with Store.open(tmp_path / "data") as store:
        assert store.get_sync_state(SYNC_CONFIGURED_STATE) == "no"


def test_goat_sync_once_without_a_database_still_fails_and_says_what_to_set(config, capsys):
    assert goat_sync(["once", "--config", str(config)]) == 2
    assert "no database: set sync.database_url in the config or GOATDEV_DATABASE_URL" in capsys.readouterr().err
