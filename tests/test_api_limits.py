"""Someone on the farm Wi-Fi opens hundreds of connections, or sends requests that never
finish: the tablets can still reach the Pi, and the journal does not fill up.

The daemon runs as on the farm (`goat-edge run`); the "other machines" are other loopback
source addresses (127.0.0.2, 127.0.0.3, ...), which Linux routes like any other host.
"""

from __future__ import annotations

import logging
import resource
import socket
import time

import pytest
import requests

from edge.api.connections import check_file_limit
from edge.config import ApiConfig
from edge.errors import GoatEdgeError
from edge.service.logs import RateLimit
from tests.support.daemon_helpers import Daemon, free_port, simulate_captures, write_config

TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    return simulate_captures(tmp_path_factory.mktemp("replay"), seeds=(51,))


@pytest.fixture
def daemon(tmp_path, replay):
    limits = f"request_timeout_s = {TIMEOUT_S}\nmax_connections = 16\nmax_connections_per_client = 8\n"
    config = write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port(), api=limits)
    with Daemon(config) as running:
        yield running


def connect(daemon: Daemon, source: str = "127.0.0.1") -> socket.socket:
    port = int(daemon.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    return sock


def closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """True if the server closes the connection within `within_s` (reading b"" or a reset)."""
    sock.settimeout(within_s)
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def health_from(daemon: Daemon, source: str) -> int:
    sock = connect(daemon, source)
    try:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        sock.settimeout(10)
        return int(sock.recv(4096).split(b" ", 2)[1])
    finally:
        sock.close()


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connects and says nothing
        b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # headers never finished
        b'POST /api/goats HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{"tag":',  # body stalls
    ],
    ids=["silent", "half-sent-headers", "stalled-body"],
)
def test_a_request_that_never_finishes_arriving_is_closed(daemon, sent):
    sock = connect(daemon)
    try:
        sock.sendall(sent)
        assert not closed_by_server(sock, within_s=TIMEOUT_S / 4)  # not before its time
        assert closed_by_server(sock, within_s=TIMEOUT_S * 5)
    finally:
        sock.close()
    assert daemon.get("/api/health").status_code == 200


def test_one_machine_cannot_crowd_out_the_tablets(daemon):
    idle = [connect(daemon, "127.0.0.2") for _ in range(8)]
    try:
        extra = connect(daemon, "127.0.0.2")
        assert closed_by_server(extra, within_s=TIMEOUT_S / 2)  # the 9th from one address, at once
        extra.close()
        assert health_from(daemon, "127.0.0.3") == 200  # a tablet elsewhere still gets in
    finally:
        for sock in idle:
            sock.close()


def test_at_the_connection_limit_a_tablet_pushes_out_the_oldest_idle_connection(daemon):
    idle = [connect(daemon, f"127.0.0.{10 + i // 8}") for i in range(16)]  # 16: max_connections
    try:
        time.sleep(0.2)
        assert health_from(daemon, "127.0.0.40") == 200  # a tablet gets in during the flood
        # ... at the cost of the connection that had waited longest without a request.
        assert closed_by_server(idle[0], within_s=TIMEOUT_S / 4)
        assert not any(closed_by_server(sock, within_s=0.05) for sock in idle[2:])
        # The rest are dropped after request_timeout_s.
        assert all(closed_by_server(sock, within_s=TIMEOUT_S * 5) for sock in idle[2:])
    finally:
        for sock in idle:
            sock.close()


def test_a_tablets_event_stream_outlives_the_request_timeout(daemon):
    with requests.get(daemon.url + "/api/events", stream=True, timeout=10) as stream:
        assert stream.status_code == 200
        time.sleep(TIMEOUT_S * 2.5)
        assert daemon.post("/api/captures").status_code == 201
        # The stream, open all along, carries the new capture.
        lines = stream.iter_lines(decode_unicode=True)
        assert any(line.startswith("data:") and '"status"' in line for line in lines)


def test_a_flood_of_bad_requests_writes_a_few_lines_to_the_journal(tmp_path, replay):
    config = write_config(tmp_path / "edge.toml", tmp_path / "data", replay, free_port())
    daemon = Daemon(config).wait_ready()
    for _ in range(300):
        sock = connect(daemon)
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        sock.recv(4096)
        sock.close()
    assert daemon.get("/api/health").status_code == 200
    code, log = daemon.terminate()
    invalid = [line for line in log.splitlines() if "Invalid HTTP request received" in line]
    assert code == 0 and 1 <= len(invalid) <= 10, log[-2000:]


def test_the_rate_limit_lets_a_message_through_again_and_says_how_many_it_dropped():
    now = [0.0]
    limit = RateLimit(burst=3, window_s=60, clock=lambda: now[0])

    def record(msg: str) -> logging.LogRecord:
        return logging.LogRecord("goat-edge.api", logging.WARNING, __file__, 1, msg, ("10.0.0.9",), None)

    passed = [limit.filter(record("refused %s")) for _ in range(50)]
    assert passed.count(True) == 3 and passed[:3] == [True] * 3
    assert limit.filter(record("another message %s"))  # counted on its own
    now[0] = 61.0
    again = record("refused %s")
    assert limit.filter(again)
    assert again.getMessage() == "refused 10.0.0.9 [47 more like this dropped in the last 60 s]"


def test_a_connection_limit_above_the_open_file_limit_is_refused_at_start_up():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
    try:
        with pytest.raises(GoatEdgeError, match=r"api.max_connections 1000 leaves too few of the 1024 files"):
            check_file_limit(ApiConfig(max_connections=1000))
        check_file_limit(ApiConfig(max_connections=256))
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
