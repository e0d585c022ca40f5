"""Stored captures measured again with newer models: the old rows kept, the new ones current."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import UTC, datetime, timedelta

import pytest

from edge.cli import main
from edge.config import ModelsConfig
from edge.detect.detector import NcnnDetector
from edge.geometry.calibration import default_calibration
from edge.measure.weight import WeightFormula
from edge.pipeline.from_images import measure_images, measuring_from
from edge.sim.capture import simulate_capture
from edge.store import Store
from tests.support.captures import measured_record

pytestmark = pytest.mark.slow
SHIPPED = ModelsConfig().dir


@pytest.fixture
def farm(tmp_path):
    """Four captures of goat G1 measured by last season's models (the shipped set without its
    close-up model); the fourth taken before the cameras were calibrated again."""
    older = tmp_path / "older-models"
    for view in ("side", "top", "front"):
        shutil.copytree(SHIPPED / view, older / view)
    calibration = default_calibration()
    ids = []
    with Store.open(tmp_path / "data") as store, NcnnDetector(ModelsConfig(dir=older, closeups=False)) as detector:
        store.add_goat("G1")
        for i in range(4):
            capture = simulate_capture(8_700_000_000 + i)
            measured = measure_images(capture.images, calibration, detector)
            measuring = measuring_from(measured, calibration.hash, WeightFormula())
            if i == 3:
                measuring = dataclasses.replace(measuring, calibration_hash="0123456789abcdef")
            at = datetime(2026, 12, 1, 9, tzinfo=UTC) + timedelta(minutes=i)
            rec = measured_record(capture, measured, measuring, at, "G1")
            store.record_capture(rec)
            ids.append(rec.capture_id)
        old_versions = dict(detector.versions)
    config = tmp_path / "edge.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n[models]\ndir = "{SHIPPED}"\n')
    return config, tmp_path / "data", ids, old_versions


def test_reprocess_keeps_every_measuring_and_marks_the_newest_current(farm, capsys):
    config, data, ids, old_versions = farm
    with Store.open(data) as store:
        before = {i: store.get_capture(i) for i in ids}
        side = next(im for im in before[ids[2]]["images"] if im["view"] == "side" and im["kind"] == "raw")
        store.image_path(side).write_bytes(b"overwritten")
        pending = store.outbox_counts()["pending"]

    assert main(["reprocess", "--config", str(config), "--goat", "G1"]) == 0
    out = capsys.readouterr().out
    assert "measured again: 2; already with these models: 0; skipped: 2" in out
    assert f"skipped {ids[2]}: the raw side photo" in out and "changed after it was stored" in out
    assert f"skipped {ids[3]}: taken with another calibration" in out

    with Store.open(data) as store:
        for capture_id in ids[:2]:
            old, new = store.list_measurings(capture_id)
            assert (old["is_current"], new["is_current"]) == (False, True)
            assert old["model_versions"] == old_versions and old["measurements"] == before[capture_id]["measurements"]
            assert "closeup" in new["model_versions"]  # the active models this time
            current = store.get_capture(capture_id)
            assert current["measurement_id"] == new["measurement_id"]
            assert current["status"] == before[capture_id]["status"]  # what the chute saw stays
            assert current["measured_at"] > before[capture_id]["measured_at"]
        for capture_id in ids[2:]:
            assert len(store.list_measurings(capture_id)) == 1
        # Both rows of each capture measured again wait for the cloud: the old one, no longer
        # current, and the new one.
        assert store.outbox_counts()["pending"] == pending + 4

    assert main(["reprocess", "--config", str(config)]) == 0
    assert "measured again: 0; already with these models: 2; skipped: 2" in capsys.readouterr().out


def test_an_unknown_goat_or_a_bad_date_is_named(farm, capsys):
    config, *_ = farm
    assert main(["reprocess", "--config", str(config), "--goat", "Z9"]) == 2
    assert "no goat with tag 'Z9'" in capsys.readouterr().err
    assert main(["reprocess", "--config", str(config), "--since", "yesterday"]) == 2
    assert "'yesterday' is not a date like 2026-12-01" in capsys.readouterr().err
