"""`goat-edge self-check`: is this Pi ready to measure goats? Run after installing and after
every deploy (scripts/deploy_edge.py), before the new version is switched on.

Each check says what it found; any failure makes the exit status 1, with the list.
The cameras are asked of the running daemon when there is one (it holds them, and a
camera cannot be opened twice); otherwise each is opened and takes one picture.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from edge.config import EdgeConfig
from edge.detect.ncnn_pose import MODEL_FILES
from edge.errors import GoatEdgeError
from edge.keypoints import VIEWS

# No goat-edge release ran before this: a clock earlier has lost the time (a Pi has no
# battery-backed clock; it waits for NTP).
EARLIEST_SANE = datetime(2026, 1, 1, tzinfo=UTC)
LATEST_SANE = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_clock(config: EdgeConfig, now: datetime) -> Check:
    if not EARLIEST_SANE <= now < LATEST_SANE:
        return Check("clock", False, f"{now:%Y-%m-%d %H:%M} UTC cannot be right: is NTP reachable?")
    from edge.store import Store

    with Store.open(config.storage.data_dir) as store:
        newest = store.newest_capture_id()
        taken = store.get_capture(newest)["captured_at"] if newest else None
    if taken and datetime.fromisoformat(taken) > now:
        return Check("clock", False, f"{now:%Y-%m-%d %H:%M} UTC is before the newest capture ({taken}): set the clock")
    return Check("clock", True, f"{now:%Y-%m-%d %H:%M} UTC")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def model_folders(config: EdgeConfig) -> list[Path]:
    from edge.pipeline.context import active_detector_dir

    models_dir = active_detector_dir(config)
    return [models_dir / name for name in VIEWS + (("closeup",) if config.models.closeups else ())]


def check_model_files(config: EdgeConfig) -> Check:
    """Every model file is the one its card (card.yaml, written at export) lists."""
    problems = []
    for folder in model_folders(config):
        card_path = folder / "card.yaml"
        if not card_path.is_file():
            problems.append(f"{folder.name}: no card.yaml to check against (scripts/export_models.py writes it)")
            continue
        listed = (yaml.safe_load(card_path.read_text()) or {}).get("files", {})
        for name in MODEL_FILES:
            path = folder / name
            if not path.is_file():
                problems.append(f"{folder.name}: {name} is missing")
            elif name not in listed:
                problems.append(f"{folder.name}: its card lists no sha256 for {name}")
            elif _sha256(path) != listed[name]:
                problems.append(f"{folder.name}: {name} is not the file its card lists (sha256 differs): reinstall")
    if problems:
        return Check("model files", False, "; ".join(problems))
    return Check("model files", True, f"{len(model_folders(config))} models match their cards")


def check_models_load(config: EdgeConfig) -> Check:
    from edge.pipeline.context import active_detector

    with active_detector(config) as detector:
        versions = ", ".join(f"{name} {version}" for name, version in detector.versions.items())
    return Check("models load", True, versions)


def check_store(config: EdgeConfig) -> Check:
    from edge.store import Store

    with Store.open(config.storage.data_dir) as store:
        if not store.integrity_ok():
            return Check("database", False, f"{store.db_path}: SQLite's integrity check failed")
        return Check("database", True, f"{store.db_path}, schema version {store.schema_version}")


def _daemon_cameras(config: EdgeConfig) -> dict | None:
    """The running daemon's view of its cameras, or None if no daemon answers."""
    host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(config.api.host, config.api.host)
    headers = {"Authorization": f"Bearer {config.api.token}"} if config.api.token else {}
    request = urllib.request.Request(f"http://{host}:{config.api.port}/api/health", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        if error.code != 503:
            return None
        body = json.loads(error.read())
    except (OSError, ValueError):
        return None
    return body.get("parts", {}).get("cameras")


def check_cameras(config: EdgeConfig) -> Check:
    cameras = _daemon_cameras(config)
    if cameras is not None:
        failed = [
            state["problem"] or f"{view} camera failed" for view, state in cameras.items() if state["ok"] is False
        ]
        if failed:
            return Check("cameras", False, "; ".join(failed) + " (as the running daemon sees them)")
        return Check("cameras", True, "the running daemon has them (" + ", ".join(cameras) + ")")
    from edge.camera.rig import CameraRig
    from edge.pipeline.context import calibration_of

    calibration = calibration_of(config)
    sizes = {view: calibration[view].size_px for view in calibration.cameras}
    with CameraRig(config.cameras, sizes) as rig:
        frames = rig.capture_all(1)
    return Check("cameras", True, ", ".join(f"{v} {f.size_px[0]}x{f.size_px[1]}" for v, f in frames.items()))


def run_checks(config: EdgeConfig, now: datetime | None = None) -> list[Check]:
    """Every check, each on its own: one failing does not hide the others."""
    now = now or datetime.now(UTC)
    steps: list[tuple[str, Callable[[], Check]]] = [
        ("clock", lambda: check_clock(config, now)),
        ("database", lambda: check_store(config)),
        ("model files", lambda: check_model_files(config)),
        ("models load", lambda: check_models_load(config)),
        ("cameras", lambda: check_cameras(config)),
    ]
    results = []
    for name, step in steps:
        try:
            results.append(step())
        except (GoatEdgeError, OSError, ValueError) as exc:
            results.append(Check(name, False, str(exc)[:500]))
    return results
