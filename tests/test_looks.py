"""Looks: other kinds of goats, barns and cameras, and the held-out one no model may learn."""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np
import pytest

from edge.geometry.calibration import default_calibration
from edge.keypoints import VIEW_KEYPOINTS, VIEWS
from edge.sim.capture import simulate_capture
from edge.sim.families import FAMILIES, narrowed_to, sample_family_params
from edge.sim.goat import build_goat, lateral_extent_cm, sample_goat_params
from edge.sim.looks import LOOKS
from edge.sim.render import Renderer
from edge.sim.truth import VISIBLE, true_measurements


def test_the_varied_look_draws_every_training_family_and_never_the_held_out_or_tuning_ones():
    varied, unseen, tuning = LOOKS["varied"], LOOKS["unseen"], LOOKS["tuning"]
    assert varied.kept_from_training is None
    assert unseen.held_out and tuning.tuning_only and not tuning.held_out
    assert not set(varied.families) & set(unseen.families)
    assert not set(tuning.families) & (set(varied.families) | set(unseen.families))
    drawn: Counter[str] = Counter()
    for seed in range(120):
        rng = np.random.default_rng(seed)
        family = varied.families[varied.rng(seed).integers(len(varied.families))]
        sample_family_params(rng, family)
        drawn[family] += 1
    assert set(drawn) == set(varied.families)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_stands_between_the_chute_walls_within_its_own_heights(family):
    for seed in range(10):
        params = sample_family_params(np.random.default_rng(seed), family)
        low, high = FAMILIES[family].withers_height_cm
        assert low <= params.withers_height_cm <= high
        goat = build_goat(params)
        # Long ears may hang out between the gate's bars; the body and legs stay inside.
        lows, highs = zip(*(part.shape.bounds() for part in goat.parts if part.region != "ear"))
        assert min(b[1] for b in lows) >= -25 and max(b[1] for b in highs) <= 25, f"{family} seed {seed}"


def test_a_collar_and_long_hair_change_the_look_but_not_the_true_measurements():
    params = sample_goat_params(np.random.default_rng(3))
    plain = true_measurements(build_goat(params))
    dressed = dataclasses.replace(params, collar_rgb=(0.8, 0.1, 0.1), fringe_cm=8.0)
    goat = build_goat(dressed)
    assert any(p.region == "gear" for p in goat.parts) and any(p.region == "hair" for p in goat.parts)
    assert true_measurements(goat) == pytest.approx(plain, abs=1e-6)


def test_the_unseen_look_mounts_its_cameras_off_the_chute_and_records_where():
    nominal = default_calibration()
    capture = simulate_capture(9_700_000_001, scale=0.25, look="unseen")
    again = simulate_capture(9_700_000_001, scale=0.25, look="unseen")
    for view in VIEWS:
        moved = capture.calibration[view].center_cm - nominal.scaled(0.25)[view].center_cm
        assert 0 < np.abs(moved).max() <= 5.0
        assert np.array_equal(capture.images[view], again.images[view])
    assert capture.goats[0].params.coat.pattern in ("roan", "belted")
    assert capture.goats[0].params.ear_length_scale >= 1.4


def repainted_share(capture) -> float:
    """The share of the goat's pixels in the side photo that its coat's pattern changed."""
    goat = capture.goats[0]
    plain_coat = dataclasses.replace(goat.params.coat, pattern="plain")
    plain = build_goat(dataclasses.replace(goat.params, coat=plain_coat))
    camera = capture.calibration["side"]
    painted = Renderer(capture.scene, [goat]).render(camera).rgb.astype(float)
    bare = Renderer(capture.scene, [plain]).render(camera).rgb.astype(float)
    return float((np.abs(painted - bare).max(axis=2) > 0.05)[capture.masks["side"] == 1].mean())


def test_the_tuning_look_paints_brindle_and_pied_coats_over_part_of_the_goat():
    patterns: Counter[str] = Counter()
    for seed in range(6):
        capture = simulate_capture(8_500_000_000 + seed, scale=0.25, look="tuning", views=("side",))
        goat = capture.goats[0]
        patterns[goat.params.coat.pattern] += 1
        changed = repainted_share(capture)
        # Stripes or patches over part of the coat, not none of it and not all of it.
        assert 0.1 < changed < 0.8, f"seed {seed}: {changed:.2f} of the goat repainted"
    assert set(patterns) == {"brindle", "pied"}


def test_the_patterned_look_trains_on_random_coats_over_the_varied_look_s_bodies():
    patterned, varied = LOOKS["patterned"], LOOKS["varied"]
    assert patterned.kept_from_training is None and patterned.families == varied.families
    repainted = []
    for seed in range(10):
        capture = simulate_capture(seed, scale=0.25, look="patterned", views=("side",))
        goat = capture.goats[0]
        same_body = simulate_capture(seed, scale=0.25, look="varied", views=("side",)).goats[0].params
        assert goat.params.withers_height_cm == same_body.withers_height_cm
        if goat.params.coat.pattern != "random":
            continue
        repainted.append(repainted_share(capture))
    # About six goats in ten get a random coat, each repainting a different share of itself.
    assert 3 <= len(repainted) <= 9
    assert max(repainted) - min(repainted) > 0.2 and max(repainted) < 1.0


def test_the_recoated_look_paints_random_coats_on_the_standard_goats_alone():
    """The standard look's bodies, so a model can learn new coats without other proportions."""
    recoated = LOOKS["recoated"]
    assert recoated.kept_from_training is None and recoated.families == ("standard",)
    random_coats = 0
    for seed in range(10):
        goat = simulate_capture(seed, scale=0.25, look="recoated", views=("top",)).goats[0].params
        standard = simulate_capture(seed, scale=0.25, views=("top",)).goats[0].params
        assert goat.withers_height_cm == standard.withers_height_cm
        assert goat.hip_width_ratio == standard.hip_width_ratio
        assert goat.body_length_ratio == standard.body_length_ratio
        random_coats += goat.coat.pattern == "random"
    assert 3 <= random_coats <= 9


def test_the_proportions_look_draws_each_proportion_on_its_own_beyond_every_breed():
    """No body is typical, so a model cannot measure a goat by guessing its usual shape."""
    proportions = LOOKS["proportions"]
    assert proportions.kept_from_training is None and proportions.families == ("any_shape",)
    goats = [sample_family_params(np.random.default_rng(seed), "any_shape") for seed in range(200)]
    drawn = {
        name: np.array([getattr(g, name) for g in goats])
        for name in ("withers_height_cm", "chest_depth_ratio", "chest_width_ratio", "body_length_ratio", "rump_rise")
    }
    breeds = [f for name, f in FAMILIES.items() if name != "any_shape"]
    assert drawn["body_length_ratio"].min() < min(f.body_length_ratio[0] for f in breeds)
    assert drawn["body_length_ratio"].max() > max(f.body_length_ratio[1] for f in breeds)
    assert drawn["chest_depth_ratio"].min() < min(f.chest_depth_ratio[0] for f in breeds)
    assert drawn["chest_depth_ratio"].max() > max(f.chest_depth_ratio[1] for f in breeds)
    assert drawn["rump_rise"].min() < 0.96 and drawn["rump_rise"].max() > 1.05
    correlations = np.corrcoef(np.array(list(drawn.values())))
    assert np.abs(correlations[np.triu_indices(len(drawn), 1)]).max() < 0.2


def test_a_body_drawn_wider_than_a_chute_holds_is_narrowed_chest_and_hips_alike():
    wide = dataclasses.replace(
        sample_goat_params(np.random.default_rng(5)),
        withers_height_cm=98.0,
        chest_depth_ratio=0.56,
        chest_width_ratio=0.92,
        hip_width_ratio=1.18,
    )
    narrowed = narrowed_to(wide, 44.0)
    low_cm, high_cm = lateral_extent_cm(build_goat(narrowed), ("body",))
    assert high_cm - low_cm <= 44.0
    assert narrowed.chest_width_ratio < wide.chest_width_ratio
    assert narrowed.hip_width_ratio == wide.hip_width_ratio
    assert narrowed.withers_height_cm == wide.withers_height_cm
    assert narrowed.body_length_ratio == wide.body_length_ratio


@pytest.mark.parametrize("seed", range(4))
def test_in_every_look_each_visible_keypoint_lands_on_the_goat(seed):
    for look in ("varied", "patterned", "recoated", "proportions", "unseen", "tuning"):
        capture = simulate_capture(seed, scale=0.25, look=look)
        for view in VIEWS:
            mask = capture.masks[view]
            for name, (x, y, flag) in zip(VIEW_KEYPOINTS[view], capture.labels[view][0].keypoints.keypoints):
                if flag != VISIBLE:
                    continue
                col, row = int(round(x)), int(round(y))
                around = mask[max(row - 1, 0) : row + 2, max(col - 1, 0) : col + 2]
                assert (around == 1).any(), f"{look} seed {seed} {view}: {name} is off the goat"


def test_the_standard_look_is_the_generator_the_shipped_models_were_trained_on():
    """Looks draw from a stream of their own, so the standard captures did not change."""
    before = simulate_capture(12, scale=0.25)
    assert before.goats[0].params == build_goat(sample_goat_params(np.random.default_rng(12).spawn(3)[1])).params
    assert before.goats[0].params.coat.pattern == "plain" and before.goats[0].params.collar_rgb is None
