"""The farm's loop in one story: its own photos make its models better, and its records follow.

Simulated goats of the held-out "unseen" look stand in for the farm's: they are what the
shipped models have never seen. (Nothing trained here ships or is benchmarked: the unseen
look judges the shipped models in benchmarks/unseen_look.py, and the models this test
trains are thrown away with its temporary folder.)

The farm has one chute, its cameras mounted a few centimetres and degrees off the nominal
places and calibrated. A person corrects the models' points in the exported COCO file
(here: moves each to where it truly is), the farm tapes its goats, the labels come back,
the top model is fine-tuned on the CPU for a few minutes on the 36 goats of the training
split, judged better on the 12 held-out goats it never trained on (the 95 % interval of
its mean miss difference below zero), promoted, and the farm's captures are measured
again; both measurings reach PostgreSQL and S3, the newest current; a roll-back restores
the installed models. (The training is seeded; its figures are in docs/farm-data.md.)
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
import pytest
import yaml

from edge.cli import main
from edge.config import ModelsConfig
from edge.detect.detector import NcnnDetector
from edge.geometry.calibration import Calibration, default_calibration, save_calibration
from edge.keypoints import VIEW_KEYPOINTS, VIEWS
from edge.measure.weight import WeightFormula
from edge.pipeline.from_images import measure_images, measuring_from
from edge.registry import Registry
from edge.sim.capture import SimCapture, simulate_capture
from edge.sim.looks import Look, look_named
from edge.sim.truth import NOT_IN_IMAGE
from edge.store import Store
from edge.store.tape import TAPED
from tests.support.captures import measured_record
from tests.support.sync_helpers import assert_cloud_matches, once, sync_section

pytestmark = [pytest.mark.train, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ModelsConfig().dir
GOATS = 60
LOOK = "unseen"
FARM_CHUTE_SEED = 2026
RETRAINED = "top"


def farm_look() -> tuple[Look, Calibration]:
    """The farm's goats, barn and light (the unseen look), and its one chute: cameras
    mounted a few centimetres and degrees off the nominal places, once, and calibrated."""
    unseen = look_named(LOOK)
    chute = unseen.mounted(default_calibration(), np.random.default_rng(FARM_CHUTE_SEED))
    return dataclasses.replace(unseen, mount_shift_cm=0.0, mount_turn_deg=0.0), chute


def render(goat: int) -> SimCapture:
    look, chute = farm_look()
    return simulate_capture(9_300_000_000 + goat, chute, look=look)


@pytest.fixture
def farm(tmp_path, cloud):
    """A season at the farm: one capture of each goat, measured by the shipped models, and
    where every landmark truly is (what a careful person would mark)."""
    _, calibration = farm_look()
    save_calibration(calibration, tmp_path / "calibration.json")
    truth = {}
    with (
        Store.open(tmp_path / "data") as store,
        NcnnDetector(ModelsConfig(dir=SHIPPED)) as detector,
        ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as renderers,
    ):
        for g, capture in enumerate(renderers.map(render, range(GOATS))):
            measured = measure_images(capture.images, calibration, detector)
            at = datetime(2026, 11, 2, 8, tzinfo=UTC) + timedelta(days=g % 5, minutes=g)
            rec = measured_record(
                capture, measured, measuring_from(measured, calibration.hash, WeightFormula()), at, f"G{g:02d}"
            )
            store.add_goat(f"G{g:02d}")
            store.record_capture(rec)
            # The farm taped each goat the same day: its truth for the camera's centimetres.
            store.add_taped(f"G{g:02d}", {n: capture.truth[0][n] for n in TAPED}, measured_at=at + timedelta(hours=1))
            truth[rec.capture_id] = {
                view: {
                    name: (float(x), float(y))
                    for name, (x, y, flag) in zip(VIEW_KEYPOINTS[view], capture.labels[view][0].keypoints.keypoints)
                    if flag != NOT_IN_IMAGE
                }
                for view in VIEWS
            }
    config = tmp_path / "edge.toml"
    sync = "\n".join(f'{k} = "{v}"' for k, v in sync_section(cloud).items())
    config.write_text(
        f'[device]\nid = "barn"\n[storage]\ndata_dir = "{tmp_path / "data"}"\n'
        f'[models]\ndir = "{SHIPPED}"\n[measure]\ncalibration = "{tmp_path / "calibration.json"}"\n'
        f"[sync]\n{sync}\n"
    )
    return config, tmp_path, truth


def corrected(coco: dict, truth: dict) -> dict:
    """The person's work: every point where it truly is, a goat added where none was found.
    COCO measures from the image's outer edge, the simulator from pixel centres."""
    names = coco["categories"][0]["keypoints"]
    view = next(v for v in VIEWS if list(VIEW_KEYPOINTS[v]) == names)
    annotations = []
    for image in coco["images"]:
        points = truth[image["capture_id"]][view]
        flat = []
        for name in names:
            x, y = points.get(name, (None, None))
            flat += [0.0, 0.0, 0] if x is None else [round(x + 0.5, 2), round(y + 0.5, 2), 2]
        xs, ys = flat[0::3], flat[1::3]
        annotations.append(
            {
                "id": len(annotations) + 1,
                "image_id": image["id"],
                "category_id": 1,
                "keypoints": flat,
                "num_keypoints": sum(1 for v in flat[2::3] if v),
                "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
                "iscrowd": 0,
            }
        )
    return dict(coco, annotations=annotations)


def retrain(config: Path, sets: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable, str(ROOT / "scripts" / "retrain.py"), "--config", str(config),
            "--datasets", str(sets), "--out", str(out), "--views", RETRAINED,
            "--sim-count", "0", "--device", "cpu", "--workers", "2", "--fit-uncertainty", "20",
        ],
        capture_output=True, text=True, timeout=1200, cwd=ROOT, env=dict(os.environ, YOLO_OFFLINE="1"),
    )  # fmt: skip


def test_the_farms_labels_retrain_its_models_and_its_captures_are_measured_again(farm, cloud, capsys):
    config, root, truth = farm
    export, sets, candidate = root / "export", root / "sets", root / "candidate"

    assert main(["labels", "export", "--config", str(config), "--out", str(export)]) == 0
    assert f"{GOATS} captures, {GOATS * 3} photos" in capsys.readouterr().out
    coco = json.loads((export / f"{RETRAINED}.coco.json").read_text())
    fixed = root / f"{RETRAINED}-corrected.coco.json"
    fixed.write_text(json.dumps(corrected(coco, truth)))
    assert main(["labels", "import", "--config", str(config), "--export", str(export), str(fixed)]) == 0
    assert f"labels stored for {GOATS} photos" in capsys.readouterr().out
    assert main(["labels", "dataset", "--config", str(config), "--out", str(sets)]) == 0
    capsys.readouterr()

    done = retrain(config, sets, candidate)
    assert done.returncode == 0, done.stderr[-3000:]
    report = (candidate / "comparison.md").read_text()
    assert f"## {RETRAINED}: {GOATS // 5} photos" in report  # the held-out goats alone judge
    # ... by their keypoints, and by each set's MAPE against the farm's tape.
    assert f"## Against the tape: {GOATS // 5} held-out captures taped within 3 days" in report
    assert "| measurement | old: measured | old MAPE % | new: measured | new MAPE % |" in report
    assert (candidate / "comparison.png").is_file()
    # The farm's own photos taught the top model its goats: surely better on the held-out ones.
    assert "Verdict: **new is better**" in report, report[:1500]
    assert "new is better:" in done.stdout
    # The new set's ± is fitted for its own versions, scaled to the farm's labelled photos.
    fitted = yaml.safe_load((candidate / "uncertainty.yaml").read_text())
    assert (
        fitted["model_versions"]["top"]
        != yaml.safe_load((ROOT / "models" / "uncertainty.yaml").read_text())["model_versions"]["top"]
    )
    assert "scaled to the farm's labelled photos" in fitted["fitted_on"]

    promote = ["models", "promote", "--config", str(config), "--datasets", str(sets), str(candidate)]
    assert main(promote) == 0
    registry = Registry(root / "data" / "models")
    promoted = registry.active()
    (installed,) = (v for v in registry.versions() if v != promoted)  # kept before the first promotion
    assert "promoted" in capsys.readouterr().out

    assert main(["reprocess", "--config", str(config)]) == 0
    assert f"measured again: {GOATS}" in capsys.readouterr().out
    once(config, capsys)
    with Store.open(root / "data") as store:
        assert_cloud_matches(store, cloud)
        capture_id = store.list_captures(limit=1)[0]["id"]
    with psycopg.connect(cloud.database_url) as conn:
        rows = conn.execute(
            "SELECT is_current, model_versions->>'top' FROM measurements WHERE capture_id = %s ORDER BY measured_at",
            [capture_id],
        ).fetchall()
        current = conn.execute("SELECT body_length_cm, uncertainty FROM measurements WHERE is_current").fetchall()
    (old_current, old_top), (new_current, new_top) = rows
    assert (old_current, new_current) == (False, True) and old_top != new_top
    # Measured again with the promoted set, every number carries that set's own ±.
    measured = [plus_minus for body_length_cm, plus_minus in current if body_length_cm is not None]
    assert measured and all("body_length_cm" in plus_minus for plus_minus in measured)

    assert main(["models", "rollback", "--config", str(config)]) == 0
    assert registry.active() == installed
