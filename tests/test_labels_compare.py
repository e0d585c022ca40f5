"""Two sets of models judged on the farm's held-out goats, simulated goats standing in for them."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import ModelsConfig, load_config
from edge.geometry.calibration import default_calibration
from edge.keypoints import VIEW_KEYPOINTS, VIEWS
from edge.labels.compare import compare_models, compare_taped, held_out_capture_ids, report_markdown, verdict
from edge.labels.dataset import write_label_datasets
from edge.measurements import MEASUREMENTS
from edge.pipeline.context import build_context
from edge.registry import Registry
from edge.sim.capture import simulate_capture
from edge.sim.truth import NOT_IN_IMAGE
from edge.store import Store
from edge.store.ids import new_id
from edge.store.labels import ViewLabels
from edge.store.records import CaptureRecord, ImageFile
from edge.store.tape import TAPED

pytestmark = pytest.mark.slow
SHIPPED = ModelsConfig().dir


@pytest.fixture(scope="module")
def farm_sets(tmp_path_factory):
    """Six goats photographed once each; a person placed every landmark where it truly is."""
    root = tmp_path_factory.mktemp("farm")
    with Store.open(root / "data") as store:
        for g in range(6):
            capture = simulate_capture(8_600_000_000 + g)
            at = datetime(2026, 12, 1, 8, tzinfo=UTC) + timedelta(minutes=g)
            rec = CaptureRecord(
                capture_id=new_id(at),
                captured_at=at,
                device_id="barn",
                status="ok",
                reason=None,
                trigger="button",
                images=tuple(ImageFile(v, k, capture.jpegs[v]) for v in VIEWS for k in ("raw", "annotated")),
                measurements=dict.fromkeys(MEASUREMENTS),
                measurement_reasons={},
                model_versions={},
                calibration_hash=None,
                weight_formula=None,
                goat_tag=f"G{g}",
            )
            store.add_goat(f"G{g}")
            store.record_capture(rec)
            store.put_labels(
                [
                    ViewLabels(
                        rec.capture_id,
                        view,
                        {
                            name: [float(x), float(y)]
                            for name, (x, y, v) in zip(
                                VIEW_KEYPOINTS[view], capture.labels[view][0].keypoints.keypoints
                            )
                            if v != NOT_IN_IMAGE
                        },
                        "truth",
                    )
                    for view in ("top",)
                ]
            )
            if g != 5:  # the farm taped every goat on the day but one
                store.add_taped(f"G{g}", {n: capture.truth[0][n] for n in TAPED}, measured_at=at + timedelta(hours=2))
        write_label_datasets(store, root / "sets", default_calibration(), val_fraction=0.0, test_fraction=0.5)
    without_closeup = root / "without-closeup"
    for view in ("side", "top", "front"):
        shutil.copytree(SHIPPED / view, without_closeup / view)
    return root / "sets", without_closeup


def test_the_shipped_models_beat_the_same_without_their_close_up_reading(farm_sets):
    sets, without_closeup = farm_sets
    comparisons = compare_models(without_closeup, SHIPPED, sets)
    [top] = comparisons
    assert top.photos == 3 and top.found == {"old": 3, "new": 3}
    # The close-up model reads the hip bones again at full resolution (benchmarks/RESULTS.md).
    assert top.mean_error_px("new") < top.mean_error_px("old")
    better, why = verdict(comparisons)
    assert better and why.startswith("top: mean miss")
    assert verdict(compare_models(SHIPPED, without_closeup, sets))[0] is False


def test_where_the_farm_taped_its_held_out_goats_each_set_is_judged_by_mape(farm_sets):
    sets, without_closeup = farm_sets
    with Store.open(sets.parent / "data") as store:
        held_out = [store.get_capture(c)["goat_tag"] for c in held_out_capture_ids(sets)]
        taped = compare_taped(without_closeup, SHIPPED, sets, store, default_calibration())
    assert len(held_out) == 3 and taped.captures == len([g for g in held_out if g != "G5"])
    for name in TAPED:
        for which in ("old", "new"):
            assert len(taped.errors_pct[which].get(name, [])) <= taped.captures
    # The shipped models measure the simulator's goats within a few % (benchmarks/RESULTS.md).
    assert taped.mape("new", "heart_girth_cm") < 5 and taped.mape("new", "withers_height_cm") < 3
    report = report_markdown(compare_models(without_closeup, SHIPPED, sets), Path("a"), Path("b"), taped)
    assert f"## Against the tape: {taped.captures} held-out captures taped within 3 days" in report
    assert "| heart_girth_cm |" in report


def test_the_command_line_writes_the_report_and_the_plot(farm_sets, tmp_path, capsys):
    sets, without_closeup = farm_sets
    config = tmp_path / "edge.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "d"}"\n')
    args = ["--config", str(config), "--old", str(without_closeup), "--new", str(SHIPPED), "--datasets", str(sets)]
    args += ["--report", str(tmp_path / "report.md"), "--plot", str(tmp_path / "plot.png")]
    assert main(["labels", "compare", *args]) == 0
    assert "new is better: top: mean miss" in capsys.readouterr().out
    report = (tmp_path / "report.md").read_text()
    assert "| hook_left | 3 |" in report and "Verdict: **new is better**" in report
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def config_file(tmp_path, installed):
    config = tmp_path / "edge.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n[models]\ndir = "{installed}"\n')
    return config


def test_a_worse_set_is_refused_promotion_and_nothing_switches(farm_sets, tmp_path, capsys):
    sets, without_closeup = farm_sets
    config = config_file(tmp_path, SHIPPED)
    code = main(["models", "promote", "--config", str(config), str(without_closeup), "--datasets", str(sets)])
    assert code == 2
    assert "not promoted: it is not better on the held-out goats (top: mean miss" in capsys.readouterr().err
    assert Registry(tmp_path / "data" / "models").active() is None


def test_a_better_set_is_promoted_the_daemon_loads_it_and_a_rollback_restores_the_old(farm_sets, tmp_path, capsys):
    sets, without_closeup = farm_sets
    # The farm runs the weaker set; the retrained one (the shipped set here) is judged against it.
    installed = tmp_path / "installed"
    shutil.copytree(without_closeup, installed)
    config = config_file(tmp_path, installed)
    assert main(["models", "promote", "--config", str(config), str(SHIPPED), "--datasets", str(sets)]) == 0
    out = capsys.readouterr().out
    assert "promoted" in out and "switches to it between captures" in out
    registry = Registry(tmp_path / "data" / "models")
    promoted = registry.active()
    assert (registry.root / "reports" / f"{promoted}.md").read_text().count("Verdict: **new is better**") == 1

    settings = load_config(config)
    ctx = build_context(settings.model_copy(update={"models": settings.models.model_copy(update={"closeups": True})}))
    try:
        assert "closeup" in ctx.detector.versions  # the promoted set, not the installed one
    finally:
        ctx.close()

    assert main(["models", "rollback", "--config", str(config)]) == 0
    assert "rolled back to" in capsys.readouterr().out
    assert registry.active() != promoted
    assert not (registry.path(registry.active()) / "closeup").exists()  # the installed set again
    assert main(["models", "list", "--config", str(config)]) == 0
    assert f"  {promoted}" in capsys.readouterr().out


def test_a_few_held_out_photos_that_disagree_cannot_make_a_set_better():
    """Lower on average, but better on two photos and worse on two: noise, not an improvement."""
    from edge.labels.compare import ViewComparison

    noisy = ViewComparison("top", photos=4, found={"old": 4, "new": 4})
    noisy.photo_px = {"old": [5.0, 5.0, 5.0, 5.0], "new": [2.0, 6.0, 3.0, 6.5]}
    noisy.errors_px = {"old": {"hip": noisy.photo_px["old"]}, "new": {"hip": noisy.photo_px["new"]}}
    better, why = verdict([noisy])
    assert not better
    assert "too close to tell on 4 held-out photos" in why and "label more goats" in why
    # The same gain on every photo is an improvement, however few.
    steady = ViewComparison("top", photos=4, found={"old": 4, "new": 4})
    steady.photo_px = {"old": [5.0, 5.0, 5.0, 5.0], "new": [4.0, 4.2, 3.9, 4.1]}
    steady.errors_px = {"old": {"hip": steady.photo_px["old"]}, "new": {"hip": steady.photo_px["new"]}}
    assert verdict([steady])[0]
