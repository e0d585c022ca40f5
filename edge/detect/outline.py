"""Keypoints that lie on the animal's outline, moved onto the outline in the full photo.

The pose models read a 320-px copy of each photo, so their keypoints are 1-2 model
pixels (4-8 photo pixels) off. Most measurements span hundreds of pixels and do not
notice; chest depth and chest width span 80-200 and do. Both are taken on the outline,
as a person with calipers takes them: the withers and the sternum are the top and the
bottom of the chest seen from the side, the two shoulders the widest part of the chest
seen from above. So each of those keypoints moves to where the photo, at full
resolution, steps from goat to background along the line through its pair.

The edge is the sharpest colour change on a short strip across the keypoint, averaged
along the outline against fur and straw texture, with nearer edges preferred as the
model's own error makes them likelier. A change of brightness alone counts for less:
lit from above, the chest's underside is the same coat in shade, and where light meets
shade on one coat the hue stays while at the outline it mostly changes. A keypoint
stays where the model put it when no edge stands out of the strip's texture or above
sensor noise (a coat the colour of the floor, an even patch of coat).
Measured on held-out captures in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import cv2
import numpy as np

from edge.detect.types import PoseDetection, ViewDetections
from edge.keypoints import VIEW_KEYPOINTS

# (keypoint, its partner across the body): the keypoint is moved outward, away from the partner.
OUTLINE_PAIRS: dict[str, tuple[tuple[str, str], ...]] = {
    "side": (("withers", "sternum"), ("sternum", "withers")),
    "top": (("shoulder_left", "shoulder_right"), ("shoulder_right", "shoulder_left")),
}


@dataclass(frozen=True)
class OutlineSettings:
    search_px: float = 16.0  # how far from the model's keypoint the outline may be
    model_error_px: float = 6.0  # the model's typical miss across the outline
    strip_half_width_px: int = 3  # lines averaged along the outline
    min_contrast: float = 2.0  # the edge's strength over the strip's median change
    min_step: float = 10.0  # colour change across the edge (BGR distance); less is sensor noise
    # Light and shade on one coat change its brightness, not its hue: an edge whose two sides'
    # colours are less than this angle apart counts for that fraction of itself.
    shading_angle_deg: float = 10.0
    side_px: int = 3  # samples on each side of an edge that give its two colours


# The side model misses the outline further than the top model, so its search reaches
# further (each model's miss across the outline: benchmarks/RESULTS.md).
VIEW_SETTINGS: dict[str, OutlineSettings] = {
    "side": OutlineSettings(search_px=22.0, model_error_px=8.0),
    "top": OutlineSettings(),
}
# The close-up model (edge/detect/closeup.py) reads the top view's shoulders and the side
# view's withers and sternum at full resolution, so it misses the outline by only a few
# pixels, and after it the step takes an edge near them over a stronger one further off (a
# rail, a shadow, a coat spot), in either view. The strip stays as long: it is also what
# tells an edge from the coat's texture.
CLOSEUP_SETTINGS = OutlineSettings(model_error_px=3.0)


@dataclass(frozen=True)
class Edge:
    offset_px: float  # along the outward direction, from the keypoint
    contrast: float


def _derivative_of_gaussian(sigma_px: float = 1.0, half_px: int = 4) -> np.ndarray:
    """The change in colour at a sample, smoothed just enough that one noisy pixel is no edge;
    normalised so that a clean step from a to b reads |b - a|."""
    x = np.arange(-half_px, half_px + 1.0)
    kernel = x * np.exp(-(x**2) / (2 * sigma_px**2))
    return kernel / (np.abs(kernel).sum() / 2)


_DERIVATIVE = _derivative_of_gaussian()
_HALF_PX = len(_DERIVATIVE) // 2


def _strip(image: np.ndarray, point: np.ndarray, outward: np.ndarray, s: OutlineSettings) -> np.ndarray:
    """Colours along the outward line through point, each averaged across the strip: (n, channels)."""
    steps = np.arange(-s.search_px, s.search_px + 1.0)
    along = np.arange(-s.strip_half_width_px, s.strip_half_width_px + 1.0)
    tangent = np.array([-outward[1], outward[0]])
    xy = point + steps[:, None, None] * outward + along[None, :, None] * tangent
    samples = cv2.remap(
        image,
        xy[..., 0].astype(np.float32),
        xy[..., 1].astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT,
    )
    return samples.reshape(len(steps), len(along), -1).astype(np.float64).mean(axis=1)


def _colour_angles(colours: np.ndarray, side_px: int) -> np.ndarray:
    """The angle (radians) between the mean colours just before and just after each sample."""
    n = len(colours)
    box = np.ones(side_px) / side_px
    mean = np.stack([np.convolve(c, box, mode="valid") for c in colours.T], axis=1)  # starts at sample 0
    angles = np.zeros(n)
    # Before sample k: samples k-1-side_px .. k-2; after it: k+2 .. k+1+side_px (the sample
    # next to the edge is blurred by it).
    k = np.arange(side_px + 1, n - side_px - 1)
    before, after = mean[k - 1 - side_px], mean[k + 2]
    cos = (before * after).sum(1) / (np.linalg.norm(before, axis=1) * np.linalg.norm(after, axis=1) + 1e-9)
    angles[k] = np.arccos(np.clip(cos, -1.0, 1.0))
    return angles


def strongest_edge(colours: np.ndarray, settings: OutlineSettings = OutlineSettings()) -> Edge | None:
    """The sharpest colour change along samples one pixel apart, the keypoint in the middle.

    Changes are weighed by a Gaussian of the model's error around the keypoint, and by how
    far their hue changes: the coat's shaded underside meets its lit flank in a change of
    brightness alone, and the outline lies beyond it. One that is not twice the strip's
    median change, or is under min_step grey levels, is none."""
    n = len(colours)
    if n < 2 * max(_HALF_PX, settings.side_px + 1) + 3:
        return None
    change = np.stack([np.convolve(c, _DERIVATIVE[::-1], mode="same") for c in colours.T], axis=1)
    strength = np.linalg.norm(change, axis=1)
    strength[:_HALF_PX] = strength[-_HALF_PX:] = 0.0  # the kernel reaches past the strip there
    contrast = strength / (np.median(strength[_HALF_PX:-_HALF_PX]) + 1e-9)
    offsets_px = np.arange(n) - (n - 1) / 2
    hue_change = np.minimum(1.0, _colour_angles(colours, settings.side_px) / np.radians(settings.shading_angle_deg))
    prior = np.exp(-(offsets_px**2) / (2 * settings.model_error_px**2))
    k = int(np.argmax(strength * prior * hue_change))
    if contrast[k] < settings.min_contrast or strength[k] < settings.min_step:
        return None
    before, peak, after = strength[k - 1 : k + 2]
    curvature = before - 2 * peak + after
    shift = 0.5 * (before - after) / curvature if curvature < 0 else 0.0
    return Edge(float(offsets_px[k] + np.clip(shift, -0.5, 0.5)), float(contrast[k]))


def find_edge(
    image: np.ndarray, point: np.ndarray, outward: np.ndarray, settings: OutlineSettings = OutlineSettings()
) -> Edge | None:
    return strongest_edge(_strip(image, point, outward, settings), settings)


def snap_view(image: np.ndarray, found: ViewDetections, settings: OutlineSettings | None = None) -> ViewDetections:
    """Every goat in one view's photo with its outline keypoints on the outline."""
    goats = tuple(snap_to_outline(image, goat, found.view, settings) for goat in found.goats)
    return dataclasses.replace(found, goats=goats)


def snap_to_outline(
    image: np.ndarray, det: PoseDetection, view: str, settings: OutlineSettings | None = None
) -> PoseDetection:
    """The detection with its outline keypoints moved onto the outline (calibration pixels);
    settings default to the view's own (VIEW_SETTINGS)."""
    pairs = OUTLINE_PAIRS.get(view, ())
    if not pairs:
        return det
    settings = settings or VIEW_SETTINGS[view]
    names = VIEW_KEYPOINTS[view]
    kpts = det.keypoints.astype(float).copy()
    across = np.full((len(kpts), 2), np.nan)
    for name, partner in pairs:
        i, j = names.index(name), names.index(partner)
        span = det.keypoints[i, :2] - det.keypoints[j, :2]
        length = float(np.linalg.norm(span))
        if length <= 2 * settings.search_px:
            continue  # the strip would reach past the partner
        outward = span / length
        edge = find_edge(image, det.keypoints[i, :2].astype(float), outward, settings)
        if edge is not None:
            kpts[i, :2] = det.keypoints[i, :2] + edge.offset_px * outward
            across[i] = outward
    return PoseDetection(det.box_px, det.score, kpts, across)
