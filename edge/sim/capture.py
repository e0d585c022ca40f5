"""One simulated capture: a random chute and goat(s), rendered by all three cameras.

The seed decides everything: the goats, the barn, the light and the camera noise. The
goats and the scene do not depend on the resolution, so a capture rendered at scale 0.5
shows the same animal, with the same keypoints scaled, as the full-size one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from edge.geometry.calibration import Calibration, ChuteLayout, default_calibration
from edge.keypoints import VIEWS
from edge.sim.effects import finish_image
from edge.sim.goat import Goat, build_goat
from edge.sim.looks import Look, look_named
from edge.sim.render import Renderer
from edge.sim.scene import Scene, mirrored_scene, sample_scene
from edge.sim.truth import NOT_IN_IMAGE, ViewTruth, keypoint_truth, true_measurements


@dataclass(frozen=True)
class GoatInView:
    """One goat as a view sees it: its keypoints and the box around what is visible of it."""

    keypoints: ViewTruth
    # (x0, y0, x1, y1) in pixels, pixel centres at integers: the visible silhouette, grown
    # to hold any in-frame keypoint hidden behind something; None if no pixel shows the goat.
    box_px: tuple[float, float, float, float] | None


@dataclass(frozen=True, eq=False)
class SimCapture:
    seed: int
    calibration: Calibration  # the one rendered, after scaling
    goats: tuple[Goat, ...]
    truth: tuple[dict[str, float], ...]  # true_measurements, one per goat
    # Per rendered view:
    images: dict[str, np.ndarray]  # view -> BGR uint8, exactly the decoded JPEG
    jpegs: dict[str, bytes]
    labels: dict[str, tuple[GoatInView, ...]]  # view -> one entry per goat, in goat order
    masks: dict[str, np.ndarray]  # view -> (h, w) uint8: goat index + 1, 0 where no goat
    scene: Scene


def _place_behind(front: Goat, params, gap_cm: float):
    """The same goat params with the nose moved so the animal stands gap_cm behind `front`."""
    tail_x = min(p.shape.bounds()[0][0] for p in front.parts)
    probe = build_goat(params)
    reach = max(p.shape.bounds()[1][0] for p in probe.parts) - params.nose_x_cm
    return dataclasses.replace(params, nose_x_cm=float(tail_x - gap_cm - reach))


def sample_goats(
    rng: np.random.Generator, count: int, chute_width_cm: float, look: Look, look_rng: np.random.Generator
) -> tuple[Goat, ...]:
    """The first goat stands at the front gate; each other one queues behind the one before."""
    goats: list[Goat] = []
    for i in range(count):
        params = look.goat_params(rng, look_rng, chute_width_cm)
        if i > 0:
            params = _place_behind(goats[-1], params, rng.uniform(3.0, 20.0))
        goats.append(build_goat(params))
    return tuple(goats)


def _box(mask: np.ndarray, goat_id: int, keypoints: np.ndarray):
    ys, xs = np.nonzero(mask == goat_id)
    if len(xs) == 0:
        return None
    x0, x1 = xs.min() - 0.5, xs.max() + 0.5
    y0, y1 = ys.min() - 0.5, ys.max() + 0.5
    labelled = keypoints[keypoints[:, 2] != NOT_IN_IMAGE]
    if len(labelled):
        x0, y0 = min(x0, labelled[:, 0].min()), min(y0, labelled[:, 1].min())
        x1, y1 = max(x1, labelled[:, 0].max()), max(y1, labelled[:, 1].max())
    h, w = mask.shape
    return (float(max(x0, -0.5)), float(max(y0, -0.5)), float(min(x1, w - 0.5)), float(min(y1, h - 0.5)))


def simulate_capture(
    seed: int,
    calibration: Calibration | None = None,
    *,
    scale: float = 1.0,
    goats: int = 1,
    views: tuple[str, ...] = VIEWS,
    mirrored_chute: bool = False,
    look: Look | str = "standard",
) -> SimCapture:
    """Render a random chute with `goats` animals (0 for an empty chute) through the cameras.

    `views` picks which cameras to render (all three by default); the goats, the scene and
    each view's image are the same whichever others are rendered with it. mirrored_chute:
    the chute's open side, where the side camera stands, at -y instead of +y (the same
    barn mirrored; the goats are the same). look: the kind of goats, barn and cameras
    (edge/sim/looks.py); a look that mounts its cameras off the given calibration renders
    through, and records, the cameras as mounted.
    """
    look = look_named(look) if isinstance(look, str) else look
    if goats < 0:
        raise ValueError(f"goats must be 0 or more, got {goats}")
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise ValueError(f"unknown view {unknown[0]!r}; expected one of {', '.join(VIEWS)}")
    look_rng, mount_rng, smudge_rng = look.rng(seed).spawn(3)
    calibration = look.mounted(calibration if calibration is not None else default_calibration(), mount_rng)
    if scale != 1.0:
        calibration = calibration.scaled(scale)
    chute_width_cm = ChuteLayout().chute_width_cm
    scene_rng, goat_rng, image_rng = np.random.default_rng(seed).spawn(3)
    scene = look.scene(sample_scene(scene_rng, chute_width_cm), look_rng)
    if mirrored_chute:
        scene = mirrored_scene(scene)
    animals = sample_goats(goat_rng, goats, chute_width_cm, look, look_rng)

    renderer = Renderer(scene, animals)
    images, jpegs, labels, masks = {}, {}, {}, {}
    for view, view_rng, lens_rng in zip(VIEWS, image_rng.spawn(len(VIEWS)), smudge_rng.spawn(len(VIEWS))):
        if view not in views:
            continue
        camera = calibration[view]
        rendered = renderer.render(camera)
        smudged = look.smudged(lens_rng)
        jpegs[view], images[view] = finish_image(rendered.rgb, view_rng, scale, lens_rng if smudged else None)
        masks[view] = rendered.goat_mask
        entries = []
        for i, goat in enumerate(animals):
            others = tuple(p.shape for j, g in enumerate(animals) if j != i for p in g.parts)
            truth = keypoint_truth(goat, camera, view, scene.shapes + others)
            entries.append(GoatInView(truth, _box(rendered.goat_mask, i + 1, truth.keypoints)))
        labels[view] = tuple(entries)
    return SimCapture(
        seed, calibration, animals, tuple(true_measurements(g) for g in animals), images, jpegs, labels, masks, scene
    )
