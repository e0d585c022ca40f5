"""The daemon's reading of simulated captures, kept per capture for scoring and fitting.

Each capture is rendered, read as the daemon reads it (pose models, close-ups, outline,
quality gate) and kept as one JSON line: the gate's verdict, every keypoint the models
found (with its confidence and, for outline keypoints, the direction across the outline),
the true keypoints and measurements, and the calibration. Measuring is cheap and
deterministic from there, so the benchmarks and the uncertainty fit re-measure the
records instead of rendering and detecting again, and a long run resumes where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from edge.detect.types import Detector
from edge.geometry.calibration import Calibration, calibration_from_dict
from edge.keypoints import VIEW_KEYPOINTS, VIEWS, Keypoint, ViewKeypoints
from edge.pipeline.from_images import measure_images
from edge.sim.capture import SimCapture, simulate_capture
from edge.sim.looks import look_named
from edge.sim.truth import NOT_IN_IMAGE


def fully_in_view(capture: SimCapture) -> bool:
    """One goat, every landmark of it inside every photo: a capture the gate should pass."""
    return len(capture.goats) == 1 and all(
        capture.labels[v][0].keypoints.keypoints[:, 2].min() != NOT_IN_IMAGE for v in VIEWS
    )


def read_capture(detector: Detector, look: str, seed: int, goats: int = 1) -> dict:
    capture = simulate_capture(seed, goats=goats, look=look_named(look))
    measured = measure_images(capture.images, capture.calibration, detector)
    found = {}
    for view, d in measured.detections.items():
        found[view] = {
            name: [kp.x_px, kp.y_px, kp.confidence, *(kp.across_outline or ())]
            for name, kp in (d.keypoints().items() if d.goats else ())
        }
    truth_px = {
        view: {n: [float(x), float(y), int(vis)] for n, (x, y, vis) in zip(VIEW_KEYPOINTS[view], truth.keypoints)}
        for view, truth in ((v, capture.labels[v][0].keypoints) for v in VIEWS if capture.goats)
    }
    return {
        "look": look,
        "seed": seed,
        "goats": goats,
        "fully_in_view": fully_in_view(capture),
        "status": measured.gate.status,
        "reasons": list(measured.gate.reasons),
        "keypoints": found,
        "truth_px": truth_px,
        "truth": dict(capture.truth[0]) if capture.truth else {},
        "calibration": capture.calibration.to_dict(),
        "model_versions": dict(measured.model_versions),
    }


def collect(
    detector: Detector,
    look: str,
    seeds: Iterable[int],
    path: Path,
    goats: int = 1,
    progress: Callable[[int, dict], None] | None = None,
) -> list[dict]:
    """Every seed's record, reading those already in `path` and appending the rest to it."""
    records = {(r["look"], r["seed"], r["goats"]): r for r in load_records(path)}
    path.parent.mkdir(parents=True, exist_ok=True)
    _drop_cut_line(path)
    out = []
    with path.open("a") as f:
        for i, seed in enumerate(seeds):
            key = (look, seed, goats)
            if key not in records:
                records[key] = read_capture(detector, look, seed, goats)
                f.write(json.dumps(records[key]) + "\n")
                f.flush()
            out.append(records[key])
            if progress is not None:
                progress(i, records[key])
    return out


def load_records(path: Path) -> list[dict]:
    """The records in a JSON-lines file; a last line cut short by an interrupted run is dropped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def _drop_cut_line(path: Path) -> None:
    """Cut a last line that an interrupted run left without its newline, so appending goes on cleanly."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def record_keypoints(record: dict) -> dict[str, ViewKeypoints]:
    return {
        view: {name: Keypoint(v[0], v[1], v[2], (v[3], v[4]) if len(v) == 5 else None) for name, v in found.items()}
        for view, found in record["keypoints"].items()
    }


def record_calibration(record: dict) -> Calibration:
    return calibration_from_dict(record["calibration"], f"record {record['look']} {record['seed']}")
