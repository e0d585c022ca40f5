"""Body families beyond the standard generator: breeds and ages that look different.

The standard goat (goat.sample_goat_params) mixes kids to bucks of every breed in one set
of ranges. A family narrows the ranges to one kind of animal and adds what sets it apart:
the deep, wide Boer with its red head; the tall, lean dairy goat; the short, barrel-bodied
pygmy; the shallow-chested kid; the long-haired goat with hair hanging below its belly.
The "nubian_roan" family (long body, long hanging ears, roan or belted coats) is the
held-out one: no dataset may draw it (edge/sim/looks.py). The "lamancha_brindle" family
(short-coupled, deep and wide, with stub ears, brindle or pied coats) is for tuning only:
no dataset may draw it either, so the uncertainty can be fitted on goats the models never
learnt, and judged on others. The "any_shape" family draws each proportion on its own over
a wider range than any breed's, so that no body is typical.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import cast

import numpy as np

from edge.sim.goat import (
    COATS,
    Coat,
    GoatParams,
    build_goat,
    fit_in_chute,
    jitter_rgb,
    lateral_extent_cm,
    sample_coat,
    sample_goat_params,
)

Range = tuple[float, float]


@dataclass(frozen=True)
class BodyFamily:
    name: str
    withers_height_cm: Range
    chest_depth_ratio: Range
    chest_width_ratio: Range
    hip_width_ratio: Range
    body_length_ratio: Range
    belly_ratio: Range
    coats: tuple[str, ...]
    droopy_ears_p: float = 0.5
    ear_length_scale: Range = (1.0, 1.0)
    fringe_cm: Range = (0.0, 0.0)
    rump_rise: Range | None = None  # rump height / withers height; None: the standard goat's
    max_trunk_width_cm: float | None = None  # a wider draw is narrowed to this (narrowed_to)


FAMILIES = {
    f.name: f
    for f in (
        BodyFamily("dairy", (70, 95), (0.40, 0.46), (0.55, 0.70), (0.90, 1.10), (1.05, 1.20), (0.95, 1.10), COATS),
        BodyFamily(
            "boer", (60, 85), (0.47, 0.53), (0.70, 0.82), (0.95, 1.10), (0.98, 1.12), (1.00, 1.12), ("boer",), 0.9
        ),
        BodyFamily("pygmy", (40, 58), (0.50, 0.56), (0.75, 0.88), (0.90, 1.08), (0.95, 1.08), (1.10, 1.22), COATS),
        BodyFamily("kid", (32, 50), (0.38, 0.44), (0.62, 0.75), (0.85, 1.05), (0.95, 1.10), (0.95, 1.08), COATS),
        BodyFamily(
            "long_haired",
            (55, 85),
            (0.42, 0.50),
            (0.60, 0.80),
            (0.85, 1.10),
            (1.00, 1.18),
            (1.00, 1.15),
            ("white", "black", "brown"),
            fringe_cm=(4.0, 10.0),
        ),
        BodyFamily(
            "nubian_roan",
            (68, 92),
            (0.38, 0.43),
            (0.55, 0.68),
            (0.88, 1.05),
            (1.18, 1.30),
            (0.95, 1.10),
            ("roan", "belted"),
            droopy_ears_p=1.0,
            ear_length_scale=(1.4, 1.8),
        ),
        BodyFamily(
            "lamancha_brindle",
            (60, 86),
            (0.46, 0.53),
            (0.70, 0.86),
            (0.98, 1.15),
            (0.98, 1.10),
            (1.02, 1.16),
            ("brindle", "pied"),
            droopy_ears_p=0.0,
            ear_length_scale=(0.25, 0.45),
        ),
        # Every proportion drawn on its own over more than any breed's range, so that no
        # body is typical and a model must read each goat's own landmarks rather than lean
        # on the proportions it learnt (benchmarks/RESULTS.md, "What pulls every look's
        # measurements"). Its ranges also cover the held-out family's proportions.
        BodyFamily(
            "any_shape",
            (32, 100),
            (0.35, 0.58),
            (0.50, 0.92),
            (0.80, 1.18),
            (0.90, 1.36),
            (0.92, 1.20),
            COATS,
            rump_rise=(0.94, 1.07),
            max_trunk_width_cm=44.0,  # the widest standard goats' trunks are about 42 cm
        ),
    )
}

_ROAN = ((0.85, 0.83, 0.80), (0.10, 0.09, 0.09))  # white hairs through black
_BELTED = ((0.08, 0.07, 0.07), (0.88, 0.86, 0.82))  # black with a white belt


_BRINDLE = ((0.55, 0.36, 0.20), (0.12, 0.08, 0.06))  # tan with near-black streaks
_PIED = (((0.10, 0.09, 0.09), (0.90, 0.88, 0.84)), ((0.50, 0.24, 0.12), (0.92, 0.90, 0.86)))  # black or red, white


def _held_out_coat(kind: str, body_length_cm: float, rng: np.random.Generator) -> Coat:
    if kind in ("brindle", "pied"):
        base, second = _BRINDLE if kind == "brindle" else _PIED[rng.integers(2)]
        size = rng.uniform(5.0, 9.0) if kind == "brindle" else rng.uniform(8.0, 16.0)
        phase = tuple(float(v) for v in rng.uniform(0, 2 * np.pi, 3))
        return Coat(
            kind,
            jitter_rgb(base, rng),
            jitter_rgb(base, rng),
            jitter_rgb(second, rng),
            pattern=kind,
            pattern_cm=size,
            pattern_phase=cast(tuple[float, float, float], phase),
        )
    if kind == "roan":
        base, hairs = _ROAN if rng.random() < 0.5 else ((0.46, 0.29, 0.16), _ROAN[0])
        return Coat(kind, jitter_rgb(base, rng), jitter_rgb(base, rng), jitter_rgb(hairs, rng), pattern="roan")
    start = -rng.uniform(0.10, 0.25) * body_length_cm
    belt = (start - rng.uniform(0.18, 0.30) * body_length_cm, start)
    base, band = _BELTED
    return Coat(
        kind, jitter_rgb(base, rng), jitter_rgb(base, rng), jitter_rgb(band, rng), pattern="belted", belt_x_cm=belt
    )


_HELD_OUT_COATS = ("roan", "belted", "brindle", "pied")


def sample_family_params(rng: np.random.Generator, family: str, chute_width_cm: float = 50.0) -> GoatParams:
    """A random goat of one family ("standard" is the standard generator itself)."""
    if family == "standard":
        return sample_goat_params(rng, chute_width_cm)
    f = FAMILIES[family]
    # Pose, stance and place in the chute vary as for the standard goat.
    base = sample_goat_params(rng, chute_width_cm)
    height = rng.uniform(*f.withers_height_cm)
    length_ratio = rng.uniform(*f.body_length_ratio)
    kind = f.coats[rng.integers(len(f.coats))]
    coat = _held_out_coat(kind, height * length_ratio, rng) if kind in _HELD_OUT_COATS else sample_coat(kind, rng)
    params = dataclasses.replace(
        base,
        withers_height_cm=height,
        chest_depth_ratio=rng.uniform(*f.chest_depth_ratio),
        chest_width_ratio=rng.uniform(*f.chest_width_ratio),
        hip_width_ratio=rng.uniform(*f.hip_width_ratio),
        body_length_ratio=length_ratio,
        belly_ratio=rng.uniform(*f.belly_ratio),
        front_stance_cm=base.front_stance_cm / base.withers_height_cm * height,
        rear_stance_cm=base.rear_stance_cm / base.withers_height_cm * height,
        droopy_ears=bool(rng.random() < f.droopy_ears_p),
        ear_length_scale=rng.uniform(*f.ear_length_scale),
        fringe_cm=rng.uniform(*f.fringe_cm),
        coat=coat,
        lateral_offset_cm=0.0,  # placed again below, for this body's own width
    )
    if f.rump_rise is not None:
        params = dataclasses.replace(params, rump_rise=rng.uniform(*f.rump_rise))
    if f.max_trunk_width_cm is not None:
        params = narrowed_to(params, f.max_trunk_width_cm)
    return fit_in_chute(params, rng.uniform(-1.0, 1.0), chute_width_cm)


def narrowed_to(params: GoatParams, max_trunk_width_cm: float) -> GoatParams:
    """The body made narrower, chest and hips alike, until its trunk is at most
    max_trunk_width_cm across: proportions drawn on their own can make a goat no chute holds."""
    for _ in range(20):
        if _trunk_width_cm(params) <= max_trunk_width_cm:
            break
        params = dataclasses.replace(params, chest_width_ratio=params.chest_width_ratio * 0.95)
    return params


def _trunk_width_cm(params: GoatParams) -> float:
    low_cm, high_cm = lateral_extent_cm(build_goat(dataclasses.replace(params, yaw_deg=0.0)), ("body",))
    return high_cm - low_cm


# Hair colours a goat can have, from white through greys, tans and reds to black.
_HAIR_RGB = (
    (0.92, 0.90, 0.85),
    (0.80, 0.72, 0.58),
    (0.62, 0.60, 0.58),
    (0.30, 0.29, 0.28),
    (0.70, 0.48, 0.26),
    (0.55, 0.23, 0.11),
    (0.46, 0.29, 0.16),
    (0.25, 0.15, 0.09),
    (0.09, 0.08, 0.08),
)


def random_coat(rng: np.random.Generator) -> Coat:
    """A coat of two hair colours in a random pattern: a few waves of random direction and size
    (1.5 to 40 cm), so that one draw is fine mottling, another stripes, bands or patches.
    No single pattern, but many, so that a model trained on them learns a goat by its shape
    and not by the coats it happens to have seen."""
    first, second = rng.choice(len(_HAIR_RGB), 2, replace=False)
    waves = []
    for _ in range(rng.integers(2, 5)):
        direction = rng.normal(size=3)
        k = 2 * np.pi / np.exp(rng.uniform(np.log(1.5), np.log(40.0)))
        kx, ky, kz = direction / np.linalg.norm(direction) * k
        waves.append((float(kx), float(ky), float(kz), float(rng.uniform(0, 2 * np.pi))))
    base = jitter_rgb(_HAIR_RGB[first], rng, 0.15)
    head = base if rng.random() < 0.5 else jitter_rgb(_HAIR_RGB[second], rng, 0.15)
    return Coat(
        "random",
        base,
        head,
        jitter_rgb(_HAIR_RGB[second], rng, 0.15),
        pattern="random",
        pattern_waves=tuple(waves),
        pattern_level=float(rng.uniform(-0.5, 0.5)),
        pattern_blend=float(rng.uniform(0.5, 1.0)),
    )


def with_extras(
    params: GoatParams, rng: np.random.Generator, *, mud_p: float, collar_p: float, random_coat_p: float = 0.0
) -> GoatParams:
    """Mud up the legs and belly, a collar, and a coat in a random pattern, each with its probability."""
    coat = params.coat
    # Drawn first in the stream only where a look asks for it, so other looks' goats stay the same.
    if random_coat_p and rng.random() < random_coat_p:
        coat = random_coat(rng)
    if rng.random() < mud_p:
        line_cm = rng.uniform(0.15, 0.55) * params.withers_height_cm
        mud = jitter_rgb((0.30, 0.22, 0.14), rng, 0.25)
        coat = dataclasses.replace(coat, mud_line_cm=line_cm, mud_rgb=mud)
    collar = None
    if rng.random() < collar_p:
        collar = jitter_rgb(((0.8, 0.1, 0.1), (0.1, 0.2, 0.8), (0.9, 0.5, 0.05), (0.1, 0.6, 0.2))[rng.integers(4)], rng)
    return dataclasses.replace(params, coat=coat, collar_rgb=collar)
