"""Every measurement says how sure it is: keypoint spreads carried through the geometry."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from edge.config import ModelsConfig
from edge.detect.detector import NcnnDetector
from edge.geometry.calibration import default_calibration
from edge.keypoints import VIEW_KEYPOINTS, Keypoint
from edge.measure.estimate import MeasureSettings, measure
from edge.measure.uncertainty import (
    CONFIDENCE_BINS,
    UNUSED,
    UncertaintyError,
    UncertaintyModel,
    load_uncertainty,
    save_uncertainty,
    uncertainty_for,
)
from edge.measurements import LENGTHS
from edge.sim.goat import build_goat, sample_goat_params
from edge.sim.truth import all_keypoint_truth, as_view_keypoints
from edge.training.sim_eval import collect, load_records
from edge.training.uncertainty_fit import learnt_looks

CALIBRATION = default_calibration()
USED = {v: [n for n in names if n not in UNUSED] for v, names in VIEW_KEYPOINTS.items()}


def true_keypoints(seed: int = 5):
    goat = build_goat(sample_goat_params(np.random.default_rng(seed)))
    return as_view_keypoints(all_keypoint_truth(goat, CALIBRATION))


def spread_model(sigma_px: float = 3.0, **overrides) -> UncertaintyModel:
    return UncertaintyModel(
        keypoint_sigma_px={v: dict.fromkeys(names, sigma_px) for v, names in USED.items()},
        confidence_factor={v: (3.0, 1.5, 1.0) for v in USED},
        across_outline_sigma_px=0.8,
        interval_factor=dict.fromkeys(LENGTHS + ("heart_girth_cm",), 1.645),
        model_versions={"side": "a", "top": "b", "front": "c", "closeup": "d"},
        **overrides,
    )


def test_the_landmarks_left_out_of_the_uncertainty_move_no_measurement():
    keypoints = true_keypoints()
    base = measure(keypoints, CALIBRATION).measurements
    for view, found in keypoints.items():
        for name in UNUSED & set(found):
            kp = found[name]
            moved = {**keypoints, view: {**found, name: dataclasses.replace(kp, x_px=kp.x_px + 25, y_px=kp.y_px - 25)}}
            assert measure(moved, CALIBRATION).measurements == base, f"{view} {name} moves a measurement"


def test_the_stated_spread_matches_the_spread_of_measurements_from_noisy_keypoints():
    """The linear carry through the geometry against the real thing: 400 measurings with
    every keypoint moved by Gaussian noise of its stated spread."""
    keypoints = true_keypoints()
    model = spread_model(2.0)
    settings = MeasureSettings(uncertainty=model, max_uncertainty_pct=100.0)
    stated = measure(keypoints, CALIBRATION, settings=settings).uncertainty
    rng = np.random.default_rng(0)
    samples = {name: [] for name in stated}
    for _ in range(400):
        noisy = {
            v: {
                n: dataclasses.replace(kp, x_px=kp.x_px + rng.normal(0, 2.0), y_px=kp.y_px + rng.normal(0, 2.0))
                for n, kp in found.items()
            }
            for v, found in keypoints.items()
        }
        values = measure(noisy, CALIBRATION).measurements
        for name in samples:
            if values[name] is not None:
                samples[name].append(values[name])
    for name, half_width in stated.items():
        spread = np.std(samples[name])
        assert half_width / 1.645 == pytest.approx(spread, rel=0.15), name


def test_a_less_sure_keypoint_widens_the_measurements_that_use_it_and_no_others():
    keypoints = true_keypoints()
    settings = MeasureSettings(uncertainty=spread_model(), max_uncertainty_pct=100.0)
    sure = measure(keypoints, CALIBRATION, settings=settings).uncertainty
    found = keypoints["top"]
    unsure = {**keypoints, "top": {**found, "hook_left": dataclasses.replace(found["hook_left"], confidence=0.6)}}
    less_sure = measure(unsure, CALIBRATION, settings=settings).uncertainty
    assert less_sure["hip_width_cm"] > 1.5 * sure["hip_width_cm"]
    assert less_sure["withers_height_cm"] == pytest.approx(sure["withers_height_cm"])
    assert CONFIDENCE_BINS[0] <= 0.6 < CONFIDENCE_BINS[1]


def test_a_measurement_too_unsure_is_left_out_with_its_reason_and_the_others_kept():
    keypoints = true_keypoints()
    wide = spread_model()
    wide.keypoint_sigma_px["top"]["hook_left"] = wide.keypoint_sigma_px["top"]["hook_right"] = 40.0
    result = measure(keypoints, CALIBRATION, settings=MeasureSettings(uncertainty=wide, max_uncertainty_pct=10.0))
    assert result.measurements["hip_width_cm"] is None
    assert result.reasons["hip_width_cm"].startswith("too unsure: ±")
    assert "more than 10 %" in result.reasons["hip_width_cm"]
    assert "hip_width_cm" not in result.uncertainty
    for name in ("withers_height_cm", "body_length_cm", "heart_girth_cm", "weight_kg"):
        assert result.measurements[name] is not None
        assert 0 < result.uncertainty[name] < 0.1 * result.measurements[name]
    assert result.to_dict()["uncertainty_coverage"] == 0.9


def test_a_weight_from_a_girth_too_unsure_to_keep_is_itself_left_out():
    keypoints = true_keypoints()
    wide = spread_model()
    wide.keypoint_sigma_px["top"]["shoulder_left"] = wide.keypoint_sigma_px["top"]["shoulder_right"] = 60.0
    wide.keypoint_sigma_px["front"]["shoulder_left"] = wide.keypoint_sigma_px["front"]["shoulder_right"] = 60.0
    settings = MeasureSettings(uncertainty=wide, max_uncertainty_pct=5.0, max_weight_uncertainty_pct=10.0)
    result = measure(keypoints, CALIBRATION, settings=settings)
    assert result.measurements["heart_girth_cm"] is None
    assert result.measurements["weight_kg"] is None
    # The weight goes with the square of the girth: its share of doubt is always the larger.
    assert result.reasons["weight_kg"].startswith("too unsure: ±") and "more than 10 %" in result.reasons["weight_kg"]


def test_without_a_fitted_model_measurements_carry_no_uncertainty_and_none_is_left_out():
    result = measure(true_keypoints(), CALIBRATION)
    assert result.uncertainty == {} and result.reasons == {}
    assert result.to_dict()["uncertainty_coverage"] is None


def test_the_uncertainty_file_is_used_only_for_the_models_it_was_fitted_for(tmp_path, caplog):
    path = tmp_path / "uncertainty.yaml"
    save_uncertainty(spread_model(), path)
    assert load_uncertainty(path) == spread_model()
    assert uncertainty_for(path, {"side": "a", "top": "b", "front": "c", "closeup": "d"}) == spread_model()
    with caplog.at_level(logging.WARNING):
        assert uncertainty_for(path, {"side": "new", "top": "b", "front": "c", "closeup": "d"}) is None
    assert "fitted for models" in caplog.text and "fitted again" in caplog.text
    with caplog.at_level(logging.WARNING):
        assert uncertainty_for(tmp_path / "missing.yaml", {}) is None
    assert "carry no uncertainty" in caplog.text

    path.write_text("keypoint_sigma_px: [1, 2\n")
    with pytest.raises(UncertaintyError, match="uncertainty.yaml: not an uncertainty file"):
        load_uncertainty(path)


def test_an_outline_keypoint_is_as_sure_across_the_outline_as_the_outline_says():
    keypoints = true_keypoints()
    settings = MeasureSettings(uncertainty=spread_model(3.0), max_uncertainty_pct=100.0)
    free = measure(keypoints, CALIBRATION, settings=settings).uncertainty
    side = keypoints["side"]
    on_outline = {
        **keypoints,
        "side": {
            n: dataclasses.replace(side[n], across_outline=(0.0, -1.0)) if n in ("withers", "sternum") else side[n]
            for n in side
        },
    }
    snapped = measure(on_outline, CALIBRATION, settings=settings).uncertainty
    assert snapped["chest_depth_cm"] < 0.6 * free["chest_depth_cm"]


def test_keypoint_objects_are_hashable_for_the_measuring_memo():
    assert hash(Keypoint(1.0, 2.0, 0.9)) == hash(Keypoint(1.0, 2.0, 0.9))


def test_the_fit_refuses_the_held_out_look_by_name(tmp_path):
    script = Path(__file__).resolve().parents[1] / "scripts" / "fit_uncertainty.py"
    done = subprocess.run(
        [sys.executable, str(script), "--looks", "standard,unseen", "--records", str(tmp_path / "r.jsonl")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "look 'unseen' is held out: it judges the models and may not tune them" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "r.jsonl").exists()


def test_readings_stopped_mid_line_resume_without_losing_the_finished_ones(tmp_path):
    path = tmp_path / "readings.jsonl"
    with NcnnDetector(ModelsConfig()) as detector:
        first = collect(detector, "standard", [9_000_000_001, 9_000_000_002], path)
        path.write_text(path.read_text()[:-40])  # the second line cut short by a stop
        again = collect(detector, "standard", [9_000_000_001, 9_000_000_002, 9_000_000_003], path)
    assert again[:2] == first
    assert [r["seed"] for r in load_records(path)] == [9_000_000_001, 9_000_000_002, 9_000_000_003]
    assert all(r["model_versions"] == detector.versions for r in again)


def test_the_looks_the_models_learnt_are_read_from_their_cards(tmp_path):
    cards = {
        "side": "side-seed3-n2000-s0.5",
        "top": ["top-seed11-n600-s0.5", "top-seed11-n600-s0.5-patterned"],
        "closeup": ["closeup-seed12-n300-s1-proportions", "farm-2026-spring", "closeup-seed1-n5-s1-spotted"],
    }
    for model, data in cards.items():
        (tmp_path / model).mkdir()
        (tmp_path / model / "card.yaml").write_text(yaml.safe_dump({"view": model, "training": {"data": data}}))
    assert learnt_looks(tmp_path) == {"standard", "patterned", "proportions"}
    assert learnt_looks(ModelsConfig().dir) == {"standard"}
