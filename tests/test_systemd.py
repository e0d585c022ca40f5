"""sd_notify over a real Unix datagram socket, and the shipped units and example config."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from edge.config import ROOT, load_config
from edge.daemon.run import _watchdog
from edge.service import systemd

UNITS = ROOT / "systemd"


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    """A bound datagram socket standing in for systemd; NOTIFY_SOCKET points at it."""
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(str(path))
        sock.settimeout(2.0)
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        yield sock
    finally:
        sock.close()


def received(sock) -> str:
    return sock.recv(4096).decode("utf-8")


def test_outside_systemd_nothing_is_sent(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert systemd.notify("READY=1") is False
    assert systemd.ready() is False
    assert systemd.watchdog_ping() is False


def test_ready_watchdog_and_stopping_reach_systemd(notify_socket):
    assert systemd.ready() is True
    assert received(notify_socket) == "READY=1"
    assert systemd.watchdog_ping() is True
    assert received(notify_socket) == "WATCHDOG=1"
    assert systemd.stopping() is True
    assert received(notify_socket) == "STOPPING=1"


def test_abstract_socket(monkeypatch):
    name = f"goatdev-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert systemd.ready() is True
        assert received(sock) == "READY=1"
    finally:
        sock.close()


def test_a_socket_nobody_listens_on_is_logged_not_raised(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    with caplog.at_level(logging.WARNING, logger="edge.service.systemd"):
        assert systemd.ready() is False
    assert "could not notify systemd" in caplog.text and "READY=1" in caplog.text


def test_a_socket_address_we_cannot_use(monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    assert systemd.ready() is False


@pytest.mark.parametrize(
    "usec, pid, expected_s",
    [
        (None, None, None),
        ("30000000", None, 30.0),
        ("30000000", "self", 30.0),
        ("30000000", "other", None),  # inherited by a child: not ours to ping
        ("0", None, None),
        ("thirty", None, None),
        ("30000000", "junk", None),
    ],
)
def test_watchdog_interval_from_the_environment(monkeypatch, usec, pid, expected_s):
    for var, value in (("WATCHDOG_USEC", usec), ("WATCHDOG_PID", pid)):
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            value = {"self": str(os.getpid()), "other": str(os.getpid() + 1)}.get(value, value)
            monkeypatch.setenv(var, value)
    assert systemd.watchdog_interval_s() == expected_s


# --- what scripts/install_pi.sh installs --------------------------------------------------------


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_example_config_is_valid_and_keeps_data_where_the_units_may_write():
    config = load_config(UNITS / "edge.example.toml", env={})
    assert config.storage.data_dir == Path("/var/lib/goatdev")
    assert config.button.enabled and config.button.pin_factory == "default"
    assert {config.cameras[v].backend for v in ("side", "top", "front")} == {"picamera2"}
    for unit in ("goat-edge.service", "goat-sync.service"):
        settings = unit_settings(UNITS / unit)
        assert settings["ReadWritePaths"] == [str(config.storage.data_dir)], unit
        assert settings["Type"] == ["notify"] and settings["NotifyAccess"] == ["main"], unit
        assert settings["ExecStart"][0].endswith(" run --config /etc/goatdev/edge.toml"), unit
        assert float(settings["WatchdogSec"][0]) > 0, unit


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_units_pass_systemd_analyze_verify(tmp_path):
    # The real ExecStart lives in /opt/goatdev on the Pi; verify checks it exists, so point it
    # at /bin/true and let verify judge everything else.
    for unit in ("goat-edge.service", "goat-sync.service"):
        text = (UNITS / unit).read_text()
        lines = ["ExecStart=/bin/true" if line.startswith("ExecStart=") else line for line in text.splitlines()]
        (tmp_path / unit).write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        ["systemd-analyze", "verify", *sorted(map(str, tmp_path.glob("*.service")))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def _installed_state() -> dict[str, bool]:
    paths = ["/opt/goatdev", "/etc/goatdev", "/var/lib/goatdev", "/etc/systemd/system/goat-edge.service"]
    state = {p: Path(p).exists() for p in paths}
    state["user goatdev"] = subprocess.run(["id", "-u", "goatdev"], capture_output=True).returncode == 0
    return state


def test_each_unit_reads_only_its_own_root_only_secrets():
    """The daemon faces the farm's network: it must not hold the cloud's credentials."""
    edge = unit_settings(UNITS / "goat-edge.service")["EnvironmentFile"]
    sync = unit_settings(UNITS / "goat-sync.service")["EnvironmentFile"]
    assert edge == ["-/etc/goatdev/edge.env"] and sync == ["-/etc/goatdev/sync.env"]


def test_install_script_dry_run_prints_the_install_and_changes_nothing():
    before = _installed_state()
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install_pi.sh"), "--dry-run"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "+ python3 -m venv --system-site-packages /opt/goatdev/.venv" in out or "exists; reinstalling" in out
    assert "-m pip install --quiet --editable /opt/goatdev\n" in out  # apt brings picamera2, not pip
    assert "/etc/systemd/system/" in out
    if not before["/etc/goatdev"]:
        assert "edge.example.toml /etc/goatdev/edge.toml" in out
        for secrets in ("edge.env", "sync.env"):  # root's alone, one per unit
            assert f"+ install -m 0600 -o root -g root /dev/null /etc/goatdev/{secrets}" in out
    assert _installed_state() == before  # printed, not run


class _Server:
    """What the watchdog reads of uvicorn's server: started, should_exit, config.host/port."""

    def __init__(self, port: int):
        self.started, self.should_exit = True, False
        self.config = type("Config", (), {"host": "0.0.0.0", "port": port})()


def _health_server():
    class Health(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/api/health" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Health)


def _messages(sock, seconds: float) -> list[str]:
    got, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            got.append(received(sock))
        except TimeoutError:
            break
    return got


def test_the_watchdog_is_fed_only_while_the_api_answers_its_health_probe(notify_socket, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # a ping every 0.2 s while all is well
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    notify_socket.settimeout(0.5)
    answering = _health_server()
    threading.Thread(target=answering.serve_forever, daemon=True).start()
    # A hung API: it accepts connections (the kernel's backlog) but never answers.
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(16)
    try:
        for server, fed in ((_Server(answering.server_address[1]), True), (_Server(hung.getsockname()[1]), False)):
            stop = threading.Event()
            thread = threading.Thread(target=_watchdog, args=(server, stop))
            thread.start()
            got = _messages(notify_socket, 1.2)
            stop.set()
            thread.join(5)
            assert got[0] == "READY=1"
            assert ("WATCHDOG=1" in got) is fed, got
    finally:
        answering.shutdown()
        hung.close()
