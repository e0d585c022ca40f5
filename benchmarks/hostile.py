"""The Pi's API against a hostile or careless client on the farm network (issue 19).

    .venv/bin/python -m benchmarks.hostile [--connections 1030]

Starts `goat-edge run` as on the farm (listening beyond loopback, with a token, replayed
photos, LimitNOFILE 1024 as the unit sets it) and prints three tables:

1. hostile inputs: each case, the answer's status and the start of its message; the count of
   5xx must be 0, and the store must pass its integrity check afterwards;
2. bodies: a 200 MB Content-Length, a chunked body, a 65 KiB body: the answer and the
   daemon's memory (RSS) before and after;
3. connection floods, side by side with the same app under stock uvicorn (benchmarks/
   stock_uvicorn.py, no connection limits): idle connections from many addresses and
   half-sent requests; connections the server still holds, whether a tablet elsewhere gets
   its health answer, the server's memory, and the log it wrote.

Other machines are other loopback source addresses (127.0.0.2 ...), routed like any host.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

from edge.store import Store
from tests.support.daemon_helpers import ROOT, free_port, simulate_captures, write_config

TOKEN = "hostile-bench-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
CROSS_SITE = {"Sec-Fetch-Site": "cross-site"}
FILE_LIMIT = 1024  # the units' LimitNOFILE
REQUEST_TIMEOUT_S = 10.0


# -- servers -------------------------------------------------------------------------------------


class Server:
    """A server process with its log in a file, its open-file limit as under systemd."""

    def __init__(self, args: list[str], log: Path, port: int):
        self.log, self.port = log, port
        self.url = f"http://127.0.0.1:{port}"

        def limit_files():
            resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))

        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", *args],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=limit_files,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/api/health", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"{args} did not answer: {log.read_text()[-2000:]}")

    def rss_mb(self) -> float:
        return psutil.Process(self.proc.pid).memory_info().rss / 2**20

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def open_connections(self) -> int:
        return sum(
            1
            for c in psutil.Process(self.proc.pid).net_connections(kind="tcp")
            if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == self.port
        )

    def log_bytes(self) -> int:
        return self.log.stat().st_size

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def farm_config(root: Path) -> Path:
    replay = simulate_captures(root / "replay", seeds=(21,))
    config = write_config(root / "edge.toml", root / "data", replay, free_port())
    api = f'[api]\nhost = "0.0.0.0"\ntoken = "{TOKEN}"\nrequest_timeout_s = {REQUEST_TIMEOUT_S}\n'
    config.write_text(config.read_text().replace("[api]\n", api))
    return config


def port_of(config: Path) -> int:
    from edge.config import load_config

    return load_config(config).api.port


# -- 1. hostile inputs ---------------------------------------------------------------------------


def raw_request(port: int, request: bytes, source: str = "127.0.0.1") -> int:
    """Send bytes as they are; the status of the answer (0: the server closed without one)."""
    with socket.create_connection(("127.0.0.1", port), timeout=15, source_address=(source, 0)) as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            head = sock.recv(4096)
        except ConnectionResetError:
            return 0
    return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0


def json_cases() -> list[tuple[str, str, str, dict]]:
    """(case, method, path, requests keyword arguments)."""
    weights = "/api/goats/A12/weights"
    raw = {"headers": {**BEARER, "Content-Type": "application/json"}}
    cases: list[tuple[str, str, str, dict]] = []
    for text in ("NaN", "Infinity", "-Infinity", "1e400", "-5", "0", "true", '"40"', "10000", "null"):
        cases.append((f"weight {text}", "POST", weights, {**raw, "data": f'{{"weight_kg": {text}}}'}))
    for when in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-13-45", "tomorrow", "2099-01-01"):
        body = {"weight_kg": 40, "weighed_at": when}
        cases.append((f"weighed_at {when}", "POST", weights, {"headers": BEARER, "json": body}))
    for label, tag in (
        ("empty tag", ""),
        ("33-character tag", "A" * 33),
        ("tag with NUL", "A\x00B"),
        ("tag with BEL", "A\x07"),
        ("tag with right-to-left override", "\u202eA12"),
        ("tag with zero-width space", "A\u200b12"),
        ("tag differing only in case and spaces", "  a12 "),
        ("SQL in a tag", "'; DROP TABLE goats;--"),
    ):
        cases.append((label, "POST", "/api/goats", {"headers": BEARER, "json": {"tag": tag}}))
    for label, body in (
        ("birth date year 1", {"tag": "B1", "birth_date": "0001-01-01"}),
        ("sex 'robot'", {"tag": "B2", "sex": "robot"}),
        ("unknown field", {"tag": "B3", "admin": True}),
        ("101-character name", {"tag": "B4", "name": "n" * 101}),
        ("a list for a body", ["tag", "B5"]),
    ):
        cases.append((label, "POST", "/api/goats", {"headers": BEARER, "json": body}))
    cases += [
        ("JSON nested 5000 deep", "POST", "/api/goats", {**raw, "data": "[" * 5000 + "]" * 5000}),
        ("invalid UTF-8 body", "POST", "/api/goats", {**raw, "data": b'{"tag": "\xff\xfe"}'}),
        ("text/plain body", "POST", "/api/goats", {"headers": {**BEARER, "Content-Type": "text/plain"}, "data": "x"}),
        ("no token", "POST", "/api/goats", {"json": {"tag": "C1"}}),
        ("wrong bearer", "POST", "/api/goats", {"headers": {"Authorization": "Bearer nope"}, "json": {"tag": "C2"}}),
        ("non-ASCII Authorization", "POST", "/api/goats", {"headers": {"Authorization": b"Bearer \xc3\xa9"}}),
        ("forged session cookie", "POST", "/api/goats", {"cookies": {"goat_session": "0" * 64}, "json": {"tag": "C3"}}),
        ("read without token", "GET", "/api/goats", {}),
        ("raw photo without token", "GET", "/api/captures/x/images/side", {}),
        (
            "cross-site POST (Origin)",
            "POST",
            "/api/captures",
            {"headers": {**BEARER, "Origin": "https://evil.example"}},
        ),
        (
            "cross-site POST (Sec-Fetch-Site)",
            "POST",
            "/api/captures",
            {"headers": {**BEARER, "Sec-Fetch-Site": "cross-site"}},
        ),
        ("DNS rebinding (Host)", "GET", "/api/health", {"headers": {"Host": "evil.example"}}),
        ("capture id not a UUID", "GET", "/api/captures/not-a-uuid", {"headers": BEARER}),
        ("path traversal in view", "GET", "/api/captures/x/images/..%2F..%2Fetc%2Fpasswd", {"headers": BEARER}),
        ("unknown view", "GET", "/api/captures/x/images/sideways", {"headers": BEARER}),
        ("tag with NUL in the path", "GET", "/api/goats/%00", {"headers": BEARER}),
        ("limit 0", "GET", "/api/captures?limit=0", {"headers": BEARER}),
        ("limit 1e9", "GET", "/api/captures?limit=1000000000", {"headers": BEARER}),
        ("export since garbage", "GET", "/api/export/captures.csv?since=yesterday", {"headers": BEARER}),
        ("export since 9999-99-99", "GET", "/api/export/captures.csv?since=9999-99-99", {"headers": BEARER}),
        ("DELETE a goat", "DELETE", "/api/goats/A12", {"headers": BEARER}),
    ]
    cases += [(f"wrong access code {i}", "POST", "/api/session", {"json": {"token": f"guess{i}"}}) for i in range(1, 7)]
    return cases


CHUNKED_BODY = "2\r\n{}\r\n0\r\n\r\n"


def hostile_inputs(server: Server) -> tuple[list[tuple[str, int, str]], int]:
    requests.post(server.url + "/api/goats", headers=BEARER, json={"tag": "A12"}, timeout=30).raise_for_status()
    results = []
    for case, method, path, kwargs in json_cases():
        answer = requests.request(method, server.url + path, timeout=30, **kwargs)
        try:
            detail = json.dumps(answer.json().get("detail"))[:70]
        except (ValueError, AttributeError):
            detail = answer.text[:70]
        results.append((case, answer.status_code, detail))
    headers = f"Host: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
    for case, request in (
        ("header line 200 KB", f"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {'a' * 200_000}\r\n\r\n"),
        ("not HTTP at all", "HELLO THERE\r\n\r\n"),
        ("chunked body", f"POST /api/goats HTTP/1.1\r\n{headers}Transfer-Encoding: chunked\r\n\r\n{CHUNKED_BODY}"),
    ):
        status = raw_request(server.port, request.encode())
        results.append((case, status, "(raw request)" if status else "(closed without an answer)"))
    return results, sum(1 for _, status, _ in results if status >= 500)


# -- 2. bodies -----------------------------------------------------------------------------------


def big_body(server: Server, size_bytes: int) -> tuple[int, float]:
    """POST a body that says it is `size_bytes` long, sending as much as the server takes."""
    start = time.monotonic()
    head = (
        f"POST /api/goats HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {size_bytes}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head)
        chunk, sent = b"[" * 65536, 0
        try:
            while sent < size_bytes:
                sent += sock.send(chunk[: size_bytes - sent])
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = sock.recv(4096)
        except ConnectionResetError:
            answer = b""
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, time.monotonic() - start


def bodies(server: Server) -> list[tuple[str, int, float, float, float]]:
    rows = []
    for case, size in (("Content-Length 200 MB", 200 * 2**20), ("65 KiB JSON", 65 * 1024), ("60 KiB JSON", 60 * 1024)):
        before = server.rss_mb()
        status, took_s = big_body(server, size)
        rows.append((case, status, took_s, before, server.rss_mb()))
    return rows


# -- 3. floods -----------------------------------------------------------------------------------


def open_idle(port: int, count: int, first_host: int = 2, per_address: int = 32) -> list[socket.socket]:
    socks = []
    for i in range(count):
        source = f"127.0.{(first_host + i // per_address) // 250}.{1 + (first_host + i // per_address) % 250}"
        try:
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)))
        except OSError:
            break
    return socks


def health_from_elsewhere(server: Server) -> str:
    start = time.monotonic()
    try:
        status = raw_request(
            server.port, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", source="127.0.9.9"
        )
    except OSError as exc:
        return f"no ({type(exc).__name__})"
    took_ms = (time.monotonic() - start) * 1000
    return f"{status} in {took_ms:.0f} ms" if status else "no answer"


def flood(server: Server, connections: int, half_sent: bool) -> dict:
    log_before, rss_before = server.log_bytes(), server.rss_mb()
    socks = open_idle(server.port, connections)
    if half_sent:
        for sock in socks:
            try:
                sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            except OSError:
                pass
    time.sleep(1.0)
    held = server.open_connections()
    tablet = health_from_elsewhere(server)
    rss_during = server.rss_mb()
    time.sleep(REQUEST_TIMEOUT_S + 2)
    held_later = server.open_connections()
    tablet_later = health_from_elsewhere(server)
    for sock in socks:
        sock.close()
    time.sleep(0.5)
    return {
        "opened": len(socks),
        "held after 1 s": held,
        "tablet elsewhere, during": tablet,
        f"held after {REQUEST_TIMEOUT_S + 3:.0f} s": held_later,
        f"tablet elsewhere, after {REQUEST_TIMEOUT_S + 3:.0f} s": tablet_later,
        "RSS before → during (MB)": f"{rss_before:.0f} → {rss_during:.0f}",
        "log written (KB)": f"{(server.log_bytes() - log_before) / 1024:.1f}",
    }


def bad_request_log(server: Server, count: int = 300) -> str:
    before = server.log_bytes()
    for _ in range(count):
        raw_request(server.port, b"NOT HTTP AT ALL\r\n\r\n")
    time.sleep(0.5)
    return f"{(server.log_bytes() - before) / 1024:.1f}"


# -- the run -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1030, help="idle connections in the flood")
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.connections)), hard))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = farm_config(root)
        port = port_of(config)
        daemon = Server(["edge.cli", "run", "--config", str(config)], root / "daemon.log", port)
        try:
            results, server_errors = hostile_inputs(daemon)
            body_rows = bodies(daemon)
            floods = {"goat-edge": [flood(daemon, args.connections, False), flood(daemon, 200, True)]}
            bad_logs = {"goat-edge": bad_request_log(daemon)}
            peak = daemon.peak_rss_mb()
        finally:
            daemon.stop()
        with Store.open(root / "data") as store:
            intact = store.integrity_ok()
            goats = [g["tag"] for g in store.list_goats()]
        stock = Server(["benchmarks.stock_uvicorn", str(config)], root / "stock.log", port)
        try:
            floods["stock uvicorn"] = [flood(stock, args.connections, False), flood(stock, 200, True)]
            bad_logs["stock uvicorn"] = bad_request_log(stock)
        finally:
            stock.stop()

    print(
        f"## Hostile inputs: {len(results)} cases, {server_errors} answered 5xx; store intact: {intact}; goats: {goats}"
    )
    print("| case | status | message (start) |\n|---|---|---|")
    for case, status, detail in results:
        print(f"| {case} | {status} | {detail.replace('|', '/')} |")
    print(f"\n## Bodies (goat-edge; peak RSS over the whole run {peak:.0f} MB)")
    print("| body | status | time (s) | RSS before (MB) | RSS after (MB) |\n|---|---|---|---|---|")
    for case, status, took_s, before, after in body_rows:
        print(f"| {case} | {status} | {took_s:.2f} | {before:.0f} | {after:.0f} |")
    print(f"\n## Floods, LimitNOFILE {FILE_LIMIT}, request_timeout_s {REQUEST_TIMEOUT_S:g}")
    for index, title in ((0, f"{args.connections} idle connections, 32 per address"), (1, "200 half-sent requests")):
        print(f"\n{title}\n\n| | goat-edge | stock uvicorn |\n|---|---|---|")
        for key in floods["goat-edge"][index]:
            print(f"| {key} | {floods['goat-edge'][index][key]} | {floods['stock uvicorn'][index][key]} |")
    print(
        f"\n300 requests that are not HTTP, log written (KB): goat-edge {bad_logs['goat-edge']}, "
        f"stock uvicorn {bad_logs['stock uvicorn']}"
    )
    return 0 if server_errors == 0 and intact else 1


if __name__ == "__main__":
    sys.exit(main())
