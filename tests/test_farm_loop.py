"""The farm's loop in one story: its own photos make its models better, and its records follow.

Simulated goats of the held-out "unseen" look stand in for the farm's: they are what the
shipped models have never seen. (Nothing trained here ships or is benchmarked: the unseen
look judges the shipped models in benchmarks/unseen_look.py, and the models this test
trains are thrown away with its temporary folder.)

A person corrects the models' points in the exported COCO file (here: moves each to where
it truly is), the farm tapes its goats, the labels come back, the top model is fine-tuned on the CPU for a few
minutes, judged on goats it never trained on, promoted (forced where the report says it
is not better, after promotion refused it), and the farm's captures are measured again;
both measurings reach PostgreSQL and S3, the newest current; a roll-back restores the
installed models. Whether a few CPU minutes on 18 goats make the model better is a
measured question (docs/farm-data.md), not what this story asserts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from edge.cli import main
from edge.config import ModelsConfig
from edge.detect.detector import NcnnDetector
from edge.geometry.calibration import default_calibration
from edge.keypoints import VIEW_KEYPOINTS, VIEWS
from edge.measure.weight import WeightFormula
from edge.pipeline.from_images import measure_images, measuring_from
from edge.registry import Registry
from edge.sim.capture import simulate_capture
from edge.sim.truth import NOT_IN_IMAGE
from edge.store import Store
from edge.store.tape import TAPED
from tests.support.captures import measured_record
from tests.support.sync_helpers import assert_cloud_matches, once, sync_section

pytestmark = [pytest.mark.train, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ModelsConfig().dir
GOATS = 30
LOOK = "unseen"
RETRAINED = "top"


@pytest.fixture
def farm(tmp_path, cloud):
    """A season at the farm: one capture of each goat, measured by the shipped models, and
    where every landmark truly is (what a careful person would mark)."""
    calibration = default_calibration()
    truth = {}
    with Store.open(tmp_path / "data") as store, NcnnDetector(ModelsConfig(dir=SHIPPED)) as detector:
        for g in range(GOATS):
            capture = simulate_capture(9_300_000_000 + g, look=LOOK)
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
        f'[models]\ndir = "{SHIPPED}"\n[sync]\n{sync}\n'
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
            "--sim-count", "0", "--epochs", "20", "--device", "cpu", "--workers", "2",
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
    better = "Verdict: **new is better**" in report
    assert ("new is better:" if better else "new is not better:") in done.stdout

    # Promotion follows the report's verdict: refused, naming why, when the new set is not better.
    promote = ["models", "promote", "--config", str(config), "--datasets", str(sets), str(candidate)]
    if not better:
        assert main(promote) == 2
        assert "not promoted: it is not better on the held-out goats" in capsys.readouterr().err
        promote.append("--force")
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
    (old_current, old_top), (new_current, new_top) = rows
    assert (old_current, new_current) == (False, True) and old_top != new_top

    assert main(["models", "rollback", "--config", str(config)]) == 0
    assert registry.active() == installed
