"""A real goat-edge daemon in a subprocess, on replayed photos, for the daemon tests."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from edge.cli import main as goat_edge
from edge.config import load_config
from edge.store import Store

ROOT = Path(__file__).resolve().parents[2]
VIEWS = ("side", "top", "front")


def simulate_captures(folder: Path, seeds) -> Path:
    """Photo triplets for the replay cameras, written by `goat-edge simulate`."""
    for seed in seeds:
        assert goat_edge(["simulate", "--seed", str(seed), "--out", str(folder / f"seed-{seed:06d}")]) == 0
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(
    path: Path,
    data_dir: Path,
    replay: Path,
    port: int,
    extra: str = "",
    *,
    min_free_disk_mb: float = 10,
    storage: str = "",
    api: str = "",
) -> Path:
    """edge.toml for replay cameras; `storage` and `api`: more lines of those sections,
    `extra`: more sections."""
    cameras = "".join(f'[cameras.{v}]\nbackend = "replay"\nfolder = "{replay}"\n' for v in VIEWS)
    path.write_text(
        f'[storage]\ndata_dir = "{data_dir}"\nmin_free_disk_mb = {min_free_disk_mb:g}\n{storage}'
        f"[api]\nport = {port}\n{api}{cameras}{extra}"
    )
    return path


def wait_for(condition, timeout_s: float = 60.0, every_s: float = 0.05):
    """The condition's first true value, asked every `every_s`; fails after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(every_s)
    raise AssertionError("timed out")


def assert_complete(store: Store, capture: dict) -> None:
    """Six images on disk with their recorded checksums, a measurements row, outbox entries."""
    assert sorted((i["view"], i["kind"]) for i in capture["images"]) == sorted(
        (v, k) for v in VIEWS for k in ("raw", "annotated")
    )
    for image in capture["images"]:
        data = store.image_path(image).read_bytes()
        assert hashlib.sha256(data).hexdigest() == image["sha256"]
    assert set(capture["measurements"]) >= {"body_length_cm", "heart_girth_cm", "weight_kg"}
    assert capture["status"] in ("ok", "retake")
    assert capture["status"] == "ok" or capture["reason"]


def stored_files(data_dir) -> set:
    return {p.relative_to(data_dir).as_posix() for p in (data_dir / "images").rglob("*") if p.is_file()}


class Daemon:
    """`goat-edge run --config ...` as the farm runs it; killed or stopped by the test.
    As a context manager it waits until the API answers, and stops the daemon on the way out."""

    def __init__(self, config: Path, env: dict | None = None):
        self.url = f"http://127.0.0.1:{load_config(config).api.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "run", "--config", str(config)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
        )

    def wait_ready(self, timeout_s: float = 60) -> Daemon:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}: {self.proc.stdout.read()}")
            try:
                # 503: the API answers, and reports a part that is down (a camera, the disk).
                if requests.get(self.url + "/api/health", timeout=1).status_code in (200, 503):
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        raise AssertionError("daemon did not answer")

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.url + path, timeout=60, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.url + path, timeout=60, **kwargs)

    def terminate(self, timeout_s: float = 60) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=timeout_s)
        return self.proc.returncode, out

    def __enter__(self) -> Daemon:
        try:
            return self.wait_ready()
        except BaseException:
            if self.proc.poll() is None:  # it never answered: do not leave it behind
                self.kill()
            raise

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.terminate()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.communicate(timeout=30)
