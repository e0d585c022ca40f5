"""The technician runs `goat-edge measure` on a capture's keypoints and gets centimetres."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edge.cli import main
from edge.geometry.calibration import default_calibration, save_calibration
from edge.measure.keypoints_file import keypoints_to_dict
from edge.measurements import MEASUREMENTS
from edge.sim.goat import build_goat, sample_goat_params
from edge.sim.truth import all_keypoint_truth, as_view_keypoints, true_measurements


@pytest.fixture
def chute(tmp_path):
    """A calibration file and one simulated goat's keypoints, as files on disk."""
    calibration = default_calibration()
    cal_path = tmp_path / "calibration.json"
    save_calibration(calibration, cal_path)
    goat = build_goat(sample_goat_params(np.random.default_rng(21)))
    keypoints = as_view_keypoints(all_keypoint_truth(goat, calibration))
    kp_path = tmp_path / "keypoints.json"
    kp_path.write_text(json.dumps(keypoints_to_dict(keypoints)))
    return tmp_path, cal_path, kp_path, goat


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_measure_prints_every_measurement_as_json(chute, capsys):
    _, cal_path, kp_path, goat = chute
    code, out, _ = run(capsys, "measure", "--calibration", str(cal_path), "--keypoints", str(kp_path), "--json")
    assert code == 0
    result = json.loads(out)
    assert set(result["measurements"]) == set(MEASUREMENTS)
    truth = true_measurements(goat)
    for name, value in truth.items():
        assert result["measurements"][name] == pytest.approx(value, rel=0.005)
    assert result["measurements"]["weight_kg"] > 0
    assert len(result["calibration_hash"]) == 16


def test_measure_prints_a_readable_table_without_json(chute, capsys):
    _, cal_path, kp_path, goat = chute
    code, out, _ = run(capsys, "measure", "--calibration", str(cal_path), "--keypoints", str(kp_path))
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == list(MEASUREMENTS)
    truth = true_measurements(goat)
    for line in lines:
        name, value = line.split()[:2]
        if name in truth:
            assert float(value) == pytest.approx(truth[name], abs=0.06), line


def test_a_missing_calibration_file_is_named_in_a_one_line_error(chute, capsys):
    tmp, _, kp_path, _ = chute
    missing = tmp / "nowhere.json"
    code, out, err = run(capsys, "measure", "--calibration", str(missing), "--keypoints", str(kp_path))
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert str(missing) in err and "not found" in err


def test_an_invalid_calibration_field_is_named(chute, capsys):
    tmp, cal_path, kp_path, _ = chute
    data = json.loads(cal_path.read_text())
    data["cameras"]["front"]["K"] = [[900, 0, 640], [0, 900, 480]]
    cal_path.write_text(json.dumps(data))
    code, _, err = run(capsys, "measure", "--calibration", str(cal_path), "--keypoints", str(kp_path))
    assert code != 0
    assert "cameras.front.K" in err and "3x3" in err


def test_an_unknown_calibration_key_is_rejected_by_name(chute, capsys):
    _, cal_path, kp_path, _ = chute
    data = json.loads(cal_path.read_text())
    data["cameras"]["side"]["focal"] = 900
    cal_path.write_text(json.dumps(data))
    code, _, err = run(capsys, "measure", "--calibration", str(cal_path), "--keypoints", str(kp_path))
    assert code != 0 and "cameras.side.focal" in err


def test_a_keypoint_the_view_does_not_have_is_named(chute, capsys):
    tmp, cal_path, kp_path, _ = chute
    data = json.loads(kp_path.read_text())
    data["side"]["hook_left"] = [100, 100]
    kp_path.write_text(json.dumps(data))
    code, _, err = run(capsys, "measure", "--calibration", str(cal_path), "--keypoints", str(kp_path))
    assert code != 0 and "side.hook_left" in err


def test_a_low_confidence_keypoint_in_the_file_gives_a_null_with_its_reason(chute, capsys):
    _, cal_path, kp_path, _ = chute
    data = json.loads(kp_path.read_text())
    data["side"]["sternum"][2] = 0.1
    kp_path.write_text(json.dumps(data))
    code, out, _ = run(capsys, "measure", "--calibration", str(cal_path), "--keypoints", str(kp_path), "--json")
    result = json.loads(out)
    assert code == 0
    assert result["measurements"]["chest_depth_cm"] is None
    assert "confidence 0.10" in result["reasons"]["chest_depth_cm"]
    assert result["measurements"]["body_length_cm"] is not None


def test_the_farm_fit_of_the_weight_formula_is_used_from_then_on(chute, capsys):
    tmp, cal_path, kp_path, _ = chute
    # Scale weights of goats that weigh 10% more than the WSU formula says.
    rng = np.random.default_rng(5)
    rows = ["heart_girth_cm,body_length_cm,weight_kg"]
    for _ in range(8):
        girth, length = rng.uniform(60, 110), rng.uniform(50, 100)
        rows.append(f"{girth:.1f},{length:.1f},{1.1 * girth**2 * length / 10838.1:.3f}")
    (tmp / "weights.csv").write_text("\n".join(rows) + "\n")
    code, out, _ = run(capsys, "fit-weight", "--samples", str(tmp / "weights.csv"), "--out", str(tmp / "fit.json"))
    assert code == 0 and "8 goats" in out

    code, out, _ = run(capsys, "measure", "--calibration", str(cal_path), "--keypoints", str(kp_path), "--json")
    wsu = json.loads(out)["measurements"]["weight_kg"]
    code, out, _ = run(
        capsys,
        "measure",
        "--calibration",
        str(cal_path),
        "--keypoints",
        str(kp_path),
        "--weight-formula",
        str(tmp / "fit.json"),
        "--json",
    )
    fitted = json.loads(out)
    assert fitted["measurements"]["weight_kg"] == pytest.approx(1.1 * wsu, rel=0.01)
    assert fitted["weight_formula"]["samples"] == 8


def test_too_few_scale_weights_are_refused(chute, capsys):
    tmp, _, _, _ = chute
    (tmp / "weights.csv").write_text("heart_girth_cm,body_length_cm,weight_kg\n80,70,40\n")
    code, _, err = run(capsys, "fit-weight", "--samples", str(tmp / "weights.csv"), "--out", str(tmp / "fit.json"))
    assert code != 0 and "at least 3" in err
    assert not (tmp / "fit.json").exists()


def test_a_simulated_capture_written_to_disk_measures_to_its_own_truth(tmp_path, capsys):
    out = tmp_path / "capture"
    code, _, _ = run(capsys, "simulate", "--seed", "4", "--out", str(out))
    assert code == 0
    assert {p.name for p in out.iterdir()} == {
        "side.jpg",
        "top.jpg",
        "front.jpg",
        "keypoints.json",
        "truth.json",
        "calibration.json",
    }
    code, printed, _ = run(
        capsys,
        "measure",
        *(f"--{v}={out / f'{v}.jpg'}" for v in ("side", "top", "front")),
        "--calibration",
        str(out / "calibration.json"),
        "--keypoints",
        str(out / "keypoints.json"),
        "--json",
    )
    assert code == 0
    result = json.loads(printed)
    truth = json.loads((out / "truth.json").read_text())["goats"][0]["measurements"]
    for name, value in truth.items():
        assert result["measurements"][name] == pytest.approx(value, rel=0.005)
    assert result["images"]["top"].endswith("top.jpg")
    # The truth also holds the 3D landmarks and each view's keypoints with visibility.
    goat_truth = json.loads((out / "truth.json").read_text())["goats"][0]
    assert len(goat_truth["landmarks_cm"]["withers"]) == 3
    flags = {v for view in goat_truth["keypoints"].values() for _, _, v in view.values()}
    assert flags <= {0, 1, 2} and 2 in flags and 1 in flags


def test_measure_refuses_an_image_that_does_not_exist(chute, capsys):
    tmp, cal_path, kp_path, _ = chute
    code, _, err = run(
        capsys, "measure", "--side", str(tmp / "side.jpg"), "--calibration", str(cal_path), "--keypoints", str(kp_path)
    )
    assert code != 0 and "side.jpg" in err and "not found" in err


@pytest.mark.parametrize(
    "broken, named",
    [
        (lambda d: d["cameras"]["top"].pop("R"), "cameras.top.R"),
        (lambda d: d["cameras"]["side"].__setitem__("t", "far away"), "cameras.side.t"),
        (lambda d: d["cameras"]["side"]["K"][0].__setitem__(0, float("nan")), "cameras.side.K"),
        (lambda d: d["cameras"].pop("front"), "missing camera 'front'"),
        (lambda d: d.__setitem__("units", "mm"), "units"),
    ],
)
def test_a_broken_calibration_field_is_named_and_nothing_is_measured(chute, capsys, broken, named):
    _, cal_path, kp_path, _ = chute
    data = json.loads(cal_path.read_text())
    broken(data)
    cal_path.write_text(json.dumps(data))  # NaN is written as the bare word NaN, which JSON forbids
    code, out, err = run(capsys, "measure", "--calibration", str(cal_path), "--keypoints", str(kp_path))
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert named in err or "NaN is not a number JSON allows" in err


@pytest.mark.parametrize(
    "make, says",
    [
        (lambda p: p.write_text("{ not json"), "not valid JSON"),
        (lambda p: p.write_bytes(b"\xff\xd8\xff\xe0 a jpeg"), "not a calibration file"),
        (lambda p: p.mkdir(), "is a folder"),
    ],
)
def test_a_calibration_that_is_not_a_calibration_file_is_refused_in_one_line(tmp_path, chute, capsys, make, says):
    _, _, kp_path, _ = chute
    bad = tmp_path / "bad_calibration.json"
    make(bad)
    code, _, err = run(capsys, "measure", "--calibration", str(bad), "--keypoints", str(kp_path))
    assert code != 0 and says in err and str(bad) in err
    assert len(err.strip().splitlines()) == 1


def test_a_keypoint_outside_the_image_is_not_used_and_the_reason_says_where_it_was(chute, capsys):
    _, cal_path, kp_path, _ = chute
    data = json.loads(kp_path.read_text())
    data["top"]["withers"] = [1e300, -1e300]
    kp_path.write_text(json.dumps(data))
    code, out, _ = run(capsys, "measure", "--calibration", str(cal_path), "--keypoints", str(kp_path), "--json")
    result = json.loads(out)
    assert code == 0
    # The withers falls back on the side view and the midline; the top keypoint is reported.
    assert result["measurements"]["withers_height_cm"] is not None
    assert result["measurements"]["body_length_cm"] is not None


@pytest.mark.parametrize(
    "csv_text, says",
    [
        ("", "missing column 'heart_girth_cm'"),
        ("\ufeffheart_girth_cm, body_length_cm, weight_kg\n80,70,40\n90,80,60\n-70,60,30\n", "line 4: heart_girth_cm"),
        ("heart_girth_cm,body_length_cm,weight_kg\n80,70,forty\n", "line 2: values must be numbers"),
        # Inches and pounds: the fit would be far from any goat formula.
        (
            "heart_girth_cm,body_length_cm,weight_kg\n31.5,27.6,88\n35.4,31.5,132\n27.6,23.6,60\n",
            "in cm and weight in kg",
        ),
        ("heart_girth_cm,body_length_cm,weight_kg\n80,70,41\n80,70,20\n80,70,82\n", "check that each row is one goat"),
    ],
)
def test_bad_scale_weights_are_refused_with_the_line_and_a_good_fit_is_kept(tmp_path, capsys, csv_text, says):
    good = tmp_path / "fit.json"
    good.write_text(json.dumps({"divisor_cm3_per_kg": 11000.0, "source": "farm", "samples": 5, "fit_mape_pct": 4.0}))
    (tmp_path / "w.csv").write_text(csv_text, encoding="utf-8")
    code, _, err = run(capsys, "fit-weight", "--samples", str(tmp_path / "w.csv"), "--out", str(good))
    assert code != 0 and says in err, err
    assert json.loads(good.read_text())["divisor_cm3_per_kg"] == 11000.0


@pytest.mark.parametrize(
    "formula, says",
    [
        ({"divisor_cm3_per_kg": True, "source": "x", "samples": 3}, "divisor_cm3_per_kg"),
        ({"divisor_cm3_per_kg": 0.5, "source": "x", "samples": 3}, "divisor_cm3_per_kg"),
        ({"source": "x", "samples": 3}, "divisor_cm3_per_kg"),
        ({"divisor_cm3_per_kg": 11000.0, "source": "x", "samples": 3, "extra": 1}, "extra"),
    ],
)
def test_a_bad_weight_formula_file_is_refused_rather_than_silently_replaced(chute, capsys, formula, says):
    tmp, cal_path, kp_path, _ = chute
    (tmp / "fit.json").write_text(json.dumps(formula))
    code, _, err = run(
        capsys,
        "measure",
        "--calibration",
        str(cal_path),
        "--keypoints",
        str(kp_path),
        "--weight-formula",
        str(tmp / "fit.json"),
    )
    assert code != 0 and says in err


def test_simulate_refuses_a_negative_seed_and_an_output_that_is_a_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--seed", "-1", "--out", str(tmp_path / "c")])
    assert exit_info.value.code != 0 and "must be 0 or more" in capsys.readouterr().err
    (tmp_path / "afile").write_text("x")
    code, _, err = run(capsys, "simulate", "--seed", "1", "--out", str(tmp_path / "afile"))
    assert code != 0 and "is not a folder" in err


def test_measuring_photos_moves_the_chest_keypoints_onto_the_outline_unless_told_not_to(tmp_path, capsys):
    out = tmp_path / "capture"
    assert run(capsys, "simulate", "--seed", "9000000003", "--out", str(out))[0] == 0
    photos = [f"--{v}={out / f'{v}.jpg'}" for v in ("side", "top", "front")]
    truth = json.loads((out / "truth.json").read_text())["goats"][0]["measurements"]
    readings = {}
    # The side model alone (the close-up model, which reads the chest again, off).
    for flags in (("--no-closeups",), ("--no-closeups", "--no-outline")):
        code, printed, _ = run(
            capsys, "measure", *photos, "--calibration", str(out / "calibration.json"), "--json", *flags
        )
        assert code == 0
        readings[flags] = json.loads(printed)["measurements"]
    on, off = readings[("--no-closeups",)], readings[("--no-closeups", "--no-outline")]
    # This goat's withers the side model puts 1.7 % too high (2.5 % from its best anchor
    # alone); on the outline the photo says where the back is. Chest depth spans the whole
    # chest and gains most.
    assert on["withers_height_cm"] == pytest.approx(truth["withers_height_cm"], rel=0.005)
    assert off["withers_height_cm"] != pytest.approx(truth["withers_height_cm"], rel=0.015)
    miss_on, miss_off = (abs(r["chest_depth_cm"] - truth["chest_depth_cm"]) for r in (on, off))
    assert miss_on < miss_off / 3
