"""Looks: families of simulated captures, each a different kind of goat, barn and camera.

"standard" is the generator every shipped model was trained on, unchanged. "varied" draws
from several body families (dairy, Boer, pygmy, kids, long-haired) and adds mud, collars,
people beside the chute and a hand on the rail, dawn and night light, smudged lenses, and
cameras mounted a little off. "patterned" is "varied" with most goats in a coat of random
colours and pattern (families.random_coat), to train models that know a goat by its shape.
"recoated" gives the same random coats and extras to the standard generator's goats alone,
so that a model learns the coats without learning the other families' proportions.
"proportions" gives those coats and extras to goats whose every proportion is drawn on its
own over wide ranges (families "any_shape"), so that no body is typical.
"unseen" is the project's held-out look: a body family and coats that no dataset may
draw (long Nubian-like goats, roan and belted coats), with the same extras and its cameras
mounted a few centimetres and degrees off the nominal chute, each capture's exact
calibration recorded with it. Models are judged on it, never trained or tuned on it
(edge/training/dataset.py refuses it). "tuning" is a third family the models never learn
either (short-coupled, deep goats with stub ears, brindle or pied coats), mounted the same
way: scripts/fit_uncertainty.py fits the stated ± on it, so the ± is fitted on goats the
models do not know and judged on other such goats.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from edge.geometry.calibration import Calibration
from edge.geometry.lens import Lens
from edge.sim.families import sample_family_params, with_extras
from edge.sim.goat import GoatParams
from edge.sim.scene import Scene, with_light, with_people
from edge.sim.shapes import rotation_x, rotation_y, rotation_z

# A look's own random stream, apart from the scene's, goats' and images' streams, so that
# the standard look's captures stay what they were before looks existed.
_LOOK_STREAM = 0x100C


@dataclass(frozen=True)
class Look:
    name: str
    families: tuple[str, ...] = ("standard",)
    held_out: bool = False  # judges the models: never drawn for training or tuning
    tuning_only: bool = False  # fits the uncertainty on goats the models never learnt
    mud_p: float = 0.0
    collar_p: float = 0.0
    person_p: float = 0.0
    hand_p: float = 0.0
    dawn_p: float = 0.0
    night_p: float = 0.0
    smudge_p: float = 0.0
    random_coat_p: float = 0.0  # a coat in random colours and patterns (families.random_coat)
    mount_shift_cm: float = 0.0  # each camera up to this far off its calibrated place...
    mount_turn_deg: float = 0.0  # ...and turned up to this much about each axis

    @property
    def kept_from_training(self) -> str | None:
        """Why no dataset may draw this look, or None where one may."""
        if self.held_out:
            return "held out: it judges the models"
        if self.tuning_only:
            return "kept for tuning: it fits the uncertainty"
        return None

    def rng(self, seed: int) -> np.random.Generator:
        return np.random.default_rng([seed, _LOOK_STREAM])

    def goat_params(
        self, rng: np.random.Generator, extras_rng: np.random.Generator, chute_width_cm: float
    ) -> GoatParams:
        """One goat of this look: its body from rng (the standard look's exactly as the standard
        generator draws it), which family and what extras from the look's own stream."""
        family = self.families[extras_rng.integers(len(self.families))]
        params = sample_family_params(rng, family, chute_width_cm)
        return with_extras(
            params, extras_rng, mud_p=self.mud_p, collar_p=self.collar_p, random_coat_p=self.random_coat_p
        )

    def scene(self, scene: Scene, rng: np.random.Generator) -> Scene:
        light = rng.random()
        if light < self.dawn_p:
            scene = with_light(scene, rng, "dawn")
        elif light < self.dawn_p + self.night_p:
            scene = with_light(scene, rng, "night")
        standing, hand = rng.random() < self.person_p, rng.random() < self.hand_p
        if standing or hand:
            scene = with_people(scene, rng, standing=standing, hand=hand)
        return scene

    def smudged(self, rng: np.random.Generator) -> bool:
        return bool(rng.random() < self.smudge_p)

    def mounted(self, calibration: Calibration, rng: np.random.Generator) -> Calibration:
        """The cameras as this look's installer mounted them; the calibration that describes them."""
        if not (self.mount_shift_cm or self.mount_turn_deg):
            return calibration
        return Calibration(
            {v: nudged(lens, rng, self.mount_shift_cm, self.mount_turn_deg) for v, lens in calibration.cameras.items()}
        )


def nudged(lens: Lens, rng: np.random.Generator, max_shift_cm: float, max_turn_deg: float) -> Lens:
    """The camera moved up to max_shift_cm along each axis and turned up to max_turn_deg about
    each of its own axes."""
    a, b, c = np.radians(rng.uniform(-max_turn_deg, max_turn_deg, 3))
    R = rotation_x(a) @ rotation_y(b) @ rotation_z(c) @ lens.R
    centre_cm = lens.center_cm + rng.uniform(-max_shift_cm, max_shift_cm, 3)
    return Lens(lens.name, lens.K.copy(), lens.dist.copy(), R, -R @ centre_cm, lens.width_px, lens.height_px)


_VARIED = Look(
    "varied",
    ("standard", "dairy", "boer", "pygmy", "kid", "long_haired"),
    mud_p=0.3,
    collar_p=0.3,
    person_p=0.3,
    hand_p=0.25,
    dawn_p=0.2,
    night_p=0.2,
    smudge_p=0.15,
)
LOOKS = {
    look.name: look
    for look in (
        Look("standard"),
        _VARIED,
        dataclasses.replace(_VARIED, name="patterned", random_coat_p=0.6),
        dataclasses.replace(_VARIED, name="recoated", families=("standard",), random_coat_p=0.6),
        dataclasses.replace(_VARIED, name="proportions", families=("any_shape",), random_coat_p=0.6),
        dataclasses.replace(
            _VARIED, name="unseen", families=("nubian_roan",), held_out=True, mount_shift_cm=5.0, mount_turn_deg=3.0
        ),
        dataclasses.replace(
            _VARIED,
            name="tuning",
            families=("lamancha_brindle",),
            tuning_only=True,
            mount_shift_cm=5.0,
            mount_turn_deg=3.0,
        ),
    )
}


def look_named(name: str) -> Look:
    try:
        return LOOKS[name]
    except KeyError:
        raise ValueError(f"unknown look {name!r}; expected one of {', '.join(LOOKS)}") from None


def training_looks() -> list[str]:
    """The looks a dataset may draw, in LOOKS' order."""
    return [name for name, look in LOOKS.items() if look.kept_from_training is None]
