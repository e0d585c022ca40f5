"""A parametric 3D goat built from ellipsoids and capsules, with its ground truth.

The goat is built in its own body frame (centimetres; origin on the floor below the
heart-girth plane, x toward the nose, y to the animal's left, z up), then turned by a
small yaw and placed in the chute. Ground-truth measurements are computed from the 3D
model, never from an image.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import cast

import numpy as np

from edge.sim.shapes import Capsule, Ellipsoid, first_hit, rotation_x, rotation_y, rotation_z

COATS = ("white", "black", "brown", "spotted", "boer")

_RGB = {
    "white": (0.90, 0.88, 0.83),
    "black": (0.09, 0.08, 0.08),
    "brown": (0.46, 0.29, 0.16),
    "boer_red": (0.55, 0.23, 0.11),
    "horn": (0.55, 0.50, 0.42),
    "hoof": (0.16, 0.14, 0.13),
    "eye": (0.03, 0.03, 0.03),
}


@dataclass(frozen=True, eq=False)
class Part:
    name: str
    region: str  # body, head, ear, leg, hoof, horn, tail, eye: decides colour
    shape: Ellipsoid | Capsule


@dataclass(frozen=True)
class Coat:
    kind: str
    body_rgb: tuple[float, float, float]
    head_rgb: tuple[float, float, float]
    spot_rgb: tuple[float, float, float]
    # Spots as (centre in the body frame, radius cm); empty unless the coat is spotted.
    spots: tuple[tuple[tuple[float, float, float], float], ...] = ()
    # "plain" (body_rgb, with any spots), "roan" (spot_rgb hairs mixed all over the body),
    # "belted" (a band of spot_rgb around the barrel), "brindle" (streaky stripes of spot_rgb
    # down the flanks), "pied" (large patches of spot_rgb with ragged edges) or "random"
    # (spot_rgb wherever a sum of random waves rises above pattern_level).
    pattern: str = "plain"
    belt_x_cm: tuple[float, float] = (0.0, 0.0)  # where the belt runs, along the body frame's x
    # Brindle's stripe spacing and pied's patch size, cm, and where the pattern falls.
    pattern_cm: float = 0.0
    pattern_phase: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # The random pattern's waves, (kx, ky, kz) in radians per cm and a phase each; where their
    # mean exceeds pattern_level the second colour is blended in by pattern_blend.
    pattern_waves: tuple[tuple[float, float, float, float], ...] = ()
    pattern_level: float = 0.0
    pattern_blend: float = 1.0
    # Dried mud up to this height in cm above the floor (0 for a clean goat), in mud_rgb.
    mud_line_cm: float = 0.0
    mud_rgb: tuple[float, float, float] = (0.30, 0.22, 0.14)


@dataclass(frozen=True)
class GoatParams:
    withers_height_cm: float
    rump_rise: float  # rump height / withers height
    chest_depth_ratio: float  # chest depth / withers height
    chest_width_ratio: float  # chest width / chest depth
    hip_width_ratio: float  # hook distance / chest width
    body_length_ratio: float  # body length / withers height
    belly_ratio: float  # barrel width / max(chest width, hip width)
    head_pitch_deg: float  # 0 = nose level, positive = nose down
    head_turn_deg: float
    front_stance_cm: float
    rear_stance_cm: float
    yaw_deg: float
    lateral_offset_cm: float
    nose_x_cm: float
    horns: bool
    droopy_ears: bool
    beard: bool
    coat: Coat
    # Beyond the standard goat; the defaults build it unchanged.
    ear_length_scale: float = 1.0  # Nubian-like long ears at 1.5 and more
    fringe_cm: float = 0.0  # long hair hanging below the barrel and rump
    collar_rgb: tuple[float, float, float] | None = None  # a nylon collar round the neck


@dataclass(frozen=True, eq=False)
class Goat:
    params: GoatParams
    parts: tuple[Part, ...]
    landmarks_cm: dict[str, np.ndarray]  # world frame
    rotation: np.ndarray  # body -> world
    origin_cm: np.ndarray  # body origin in the world
    girth_centre_cm: np.ndarray = field(repr=False)  # body frame, inside the chest

    def to_body(self, points_cm: np.ndarray) -> np.ndarray:
        return (np.asarray(points_cm, float) - self.origin_cm) @ self.rotation


def sample_goat_params(rng: np.random.Generator, chute_width_cm: float = 50.0) -> GoatParams:
    """A random goat, from kids to adult bucks of meat and dairy breeds."""
    height = rng.uniform(40.0, 95.0)
    depth_ratio = rng.uniform(0.42, 0.50)
    width_ratio = rng.uniform(0.58, 0.80)
    hip_ratio = rng.uniform(0.85, 1.10)
    belly = rng.uniform(0.95, 1.18)
    kind = COATS[rng.integers(len(COATS))]
    params = GoatParams(
        withers_height_cm=height,
        rump_rise=rng.uniform(0.97, 1.04),
        chest_depth_ratio=depth_ratio,
        chest_width_ratio=width_ratio,
        hip_width_ratio=hip_ratio,
        body_length_ratio=rng.uniform(1.00, 1.18),
        belly_ratio=belly,
        head_pitch_deg=rng.uniform(-15.0, 45.0),
        head_turn_deg=rng.uniform(-12.0, 12.0),
        front_stance_cm=rng.uniform(-0.05, 0.08) * height,
        rear_stance_cm=rng.uniform(-0.08, 0.05) * height,
        yaw_deg=rng.uniform(-8.0, 8.0),
        lateral_offset_cm=0.0,
        nose_x_cm=rng.uniform(-28.0, -8.0),
        horns=bool(rng.random() < 0.5),
        droopy_ears=bool(rng.random() < 0.5),
        beard=bool(rng.random() < 0.3),
        coat=sample_coat(kind, rng),
    )
    return fit_in_chute(params, rng.uniform(-1.0, 1.0), chute_width_cm)


MAX_LATERAL_OFFSET_CM = 8.0
_WALL_CLEARANCE_CM = 1.0


def fit_in_chute(params: GoatParams, offset_fraction: float, chute_width_cm: float) -> GoatParams:
    # offset_fraction in [-1, 1] picks a place between the furthest right and left it can stand.
    """Turn and shift the goat only as far as the chute's walls let it.

    A long goat turned by a few degrees sweeps its rump across the chute, so the yaw is
    reduced until the animal fits, and the lateral offset uses the room that is left.
    """
    half_cm = chute_width_cm / 2 - _WALL_CLEARANCE_CM
    for _ in range(8):
        lo_cm, hi_cm = lateral_extent_cm(build_goat(params))
        if hi_cm - lo_cm <= 2 * half_cm:
            break
        params = dataclasses.replace(params, yaw_deg=params.yaw_deg * 0.6)
    else:
        params = dataclasses.replace(params, yaw_deg=0.0)
        lo_cm, hi_cm = lateral_extent_cm(build_goat(params))
    # Offsets that keep every part between the walls; a turned goat may need a shift.
    lowest_cm, highest_cm = -half_cm - lo_cm, half_cm - hi_cm
    capped_low_cm = max(lowest_cm, -MAX_LATERAL_OFFSET_CM)
    capped_high_cm = min(highest_cm, MAX_LATERAL_OFFSET_CM)
    if capped_low_cm <= capped_high_cm:
        lowest_cm, highest_cm = capped_low_cm, capped_high_cm
    else:  # the walls alone decide: stand as near the centre line as they allow
        lowest_cm = highest_cm = float(np.clip(0.0, lowest_cm, highest_cm))
    offset_cm = lowest_cm + (offset_fraction + 1) / 2 * (highest_cm - lowest_cm)
    return dataclasses.replace(params, lateral_offset_cm=float(offset_cm))


def lateral_extent_cm(goat: Goat, regions: tuple[str, ...] | None = None) -> tuple[float, float]:
    """The lowest and highest y any part reaches (legs and head included), or any part of
    these regions ("body": the trunk alone)."""
    lows, highs = zip(*(part.shape.bounds() for part in goat.parts if regions is None or part.region in regions))
    return float(min(b[1] for b in lows)), float(max(b[1] for b in highs))


def jitter_rgb(rgb, rng, amount=0.06):
    return tuple(float(np.clip(c * rng.uniform(1 - amount, 1 + amount), 0, 1)) for c in rgb)


def sample_coat(kind: str, rng: np.random.Generator) -> Coat:
    if kind == "boer":
        return Coat(kind, jitter_rgb(_RGB["white"], rng), jitter_rgb(_RGB["boer_red"], rng), _RGB["white"])
    if kind == "spotted":
        base, spot = (("white", "brown"), ("white", "black"), ("brown", "white"))[rng.integers(3)]
        spots = tuple(
            (
                cast(tuple[float, float, float], tuple(float(v) for v in rng.uniform([-60, -25, 20], [40, 25, 100]))),
                float(rng.uniform(4, 12)),
            )
            for _ in range(rng.integers(6, 16))
        )
        return Coat(kind, jitter_rgb(_RGB[base], rng), jitter_rgb(_RGB[base], rng), jitter_rgb(_RGB[spot], rng), spots)
    rgb = jitter_rgb(_RGB[kind], rng)
    return Coat(kind, rgb, rgb, rgb)


def _unit(v) -> np.ndarray:
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


def _ellipsoid(centre, radii, axes=None) -> Ellipsoid:
    axes = np.eye(3) if axes is None else np.asarray(axes, float)
    return Ellipsoid(np.asarray(centre, float), axes, np.asarray(radii, float))


def _capsule(a, b, radius) -> Capsule:
    return Capsule(np.asarray(a, float), np.asarray(b, float), float(radius))


def _axes_along(direction) -> np.ndarray:
    """Orthonormal axes whose local x points along direction and local y stays horizontal."""
    x = _unit(direction)
    y = np.cross([0.0, 0.0, 1.0], x)
    y = _unit(y) if np.linalg.norm(y) > 1e-6 else np.array([0.0, 1.0, 0.0])
    return np.column_stack([x, y, np.cross(x, y)])


def build_goat(p: GoatParams) -> Goat:
    """Solids and landmarks for a goat, in the world frame."""
    # Short names keep the body's proportions readable; every one is in centimetres:
    # H withers height, D chest depth, Wc chest width, Wh hook distance, R rump height,
    # BL target body length.
    H = p.withers_height_cm
    D = H * p.chest_depth_ratio
    Wc = D * p.chest_width_ratio
    Wh = Wc * p.hip_width_ratio
    R = H * p.rump_rise
    BL = H * p.body_length_ratio
    parts: list[Part] = []
    lm: dict[str, np.ndarray] = {}

    # Chest: its cross-section at x = 0 is the heart-girth ellipse (semi-axes Wc/2, D/2).
    chest = _ellipsoid((0, 0, H - D / 2), (0.30 * BL, Wc / 2, D / 2))
    parts.append(Part("chest", "body", chest))
    lm["withers"] = np.array([0.0, 0.0, H])
    lm["sternum"] = np.array([0.0, 0.0, H - D])
    lm["shoulder_left"] = np.array([0.0, Wc / 2, H - D / 2])
    lm["shoulder_right"] = np.array([0.0, -Wc / 2, H - D / 2])
    for side, sign in (("left", 1), ("right", -1)):
        lm[f"point_of_shoulder_{side}"] = chest.surface_point((0.80, 0.45 * sign, -0.25))

    # Rump and hip bones: the hook tops sit at rump height, the level of the hip point.
    pos = lm["point_of_shoulder_left"]
    pin_z = R - 0.24 * D
    rise = pin_z - pos[2]
    x_pin = pos[0] - np.sqrt(max(BL**2 - rise**2, (0.8 * BL) ** 2))
    x_hook = x_pin + 0.24 * BL
    rump_c = 0.36 * D
    rump = _ellipsoid((x_hook - 0.04 * BL, 0, R - rump_c), (0.22 * BL, 0.60 * Wh, rump_c))
    parts.append(Part("rump", "body", rump))
    lm["hip"] = np.array([x_hook - 0.04 * BL, 0.0, R])
    hook_r = 0.09 * Wh
    for side, sign in (("left", 1), ("right", -1)):
        y = sign * Wh / 2
        parts.append(
            Part(f"hook_{side}", "body", _ellipsoid((x_hook, y, R - 0.2 * D), (1.6 * hook_r, hook_r, 0.2 * D)))
        )
        lm[f"hook_{side}"] = np.array([x_hook, y, R])
        # Pin bones: small bumps on the rump's rear upper corner, seen from the side and above.
        u = (-0.80, 0.45 * sign, 0.40)
        base = rump.surface_point(u)
        bump = _ellipsoid(base, (0.05 * BL, 0.06 * Wh, 0.05 * BL))
        parts.append(Part(f"pin_{side}", "body", bump))
        # Just inside the bump's surface along the rump normal; the bump is not a sphere, so
        # its reach along the normal depends on the direction.
        n = rump.normal(base[None])[0]
        lm[f"pin_{side}"] = base + n * 0.98 / np.linalg.norm(n / bump.radii)
    lm["tail_head"] = rump.surface_point((-0.88, 0.0, 0.47))

    # Barrel: bridges chest and rump, kept inside the chest ellipse at the girth plane.
    barrel_len = -x_hook / 2 + 0.15 * BL
    belly_w = max(Wc, Wh) * p.belly_ratio
    parts.append(Part("barrel", "body", _ellipsoid((x_hook / 2, 0, H - 0.55 * D), (barrel_len, belly_w / 2, 0.48 * D))))
    if p.fringe_cm > 0:
        _add_fringe(parts, p, x_hook, -0.08 * BL, H - 1.03 * D + 0.1 * D, belly_w / 2)

    _add_legs(parts, lm, p, H, D, Wc, Wh, R, BL, x_hook)
    _add_neck_and_head(parts, lm, p, H, D, BL)
    tail_tip = lm["tail_head"] + np.array([-0.04 * BL, 0, 0.10 * H])
    parts.append(Part("tail", "tail", _capsule(lm["tail_head"], tail_tip, 0.025 * H)))

    # Landmarks that other parts cover move out to the skin, so the cameras can see them:
    # the shoulder joint lies under the top of the fore-arm, the tail head under the tail.
    for side, sign in (("left", 1), ("right", -1)):
        name = f"point_of_shoulder_{side}"
        lm[name] = _onto_skin(parts, lm[name], (0.4, 0.9 * sign, -0.1))
    lm["tail_head"] = _onto_skin(parts, lm["tail_head"], (-0.3, 0.0, 1.0))

    # Place the animal: yaw in the chute, lateral offset, nose near the front gate.
    rot = rotation_z(np.radians(p.yaw_deg))
    nose_world_x = (rot @ lm["nose"])[0]
    origin = np.array([p.nose_x_cm - nose_world_x, p.lateral_offset_cm, 0.0])
    placed = tuple(Part(pt.name, pt.region, _place(pt.shape, rot, origin)) for pt in parts)
    landmarks = {k: rot @ v + origin for k, v in lm.items()}
    return Goat(p, placed, landmarks, rot, origin, np.array([0.0, 0.0, H - D / 2]))


def _onto_skin(parts: list[Part], point: np.ndarray, outward) -> np.ndarray:
    """Where a line coming from outside along -outward first meets the body on its way to point."""
    u = _unit(outward)
    t, _ = first_hit([p.shape for p in parts], point + 300.0 * u, -u[None])
    return point + (300.0 - t[0]) * u


def _add_legs(parts, lm, p, H, D, Wc, Wh, R, BL, x_hook) -> None:
    leg_r = 0.055 * H
    cannon_r = 0.032 * H
    hoof_r = 0.04 * H
    x_front = 0.17 * BL + leg_r
    x_front_hoof = x_front + p.front_stance_cm
    x_rear = x_hook - 0.12 * BL
    x_rear_hoof = x_rear - 0.06 * BL + p.rear_stance_cm
    for side, sign in (("left", 1), ("right", -1)):
        top = np.array([x_front, sign * 0.27 * Wc, H - 0.55 * D])
        knee = np.array([x_front + 0.3 * p.front_stance_cm, sign * 0.24 * Wc, 0.48 * (H - D)])
        hoof_c = np.array([x_front_hoof + 0.02 * H, sign * 0.22 * Wc, hoof_r * 0.75])
        parts += [
            Part(f"fore_arm_{side}", "leg", _capsule(top, knee, leg_r)),
            Part(f"fore_cannon_{side}", "leg", _capsule(knee, hoof_c + [0, 0, 0.5 * hoof_r], cannon_r)),
        ]
        hoof = _ellipsoid(hoof_c, (1.3 * hoof_r, 0.9 * hoof_r, 0.75 * hoof_r))
        parts.append(Part(f"fore_hoof_{side}", "hoof", hoof))
        lm[f"fore_hoof_{side}"] = hoof.surface_point((0.2, 0.55 * sign, -0.6))

        thigh = np.array([x_rear + 0.02 * BL, sign * 0.28 * Wh, R - 0.50 * D])
        parts.append(Part(f"thigh_{side}", "body", _ellipsoid(thigh, (0.13 * BL, 0.20 * Wh, 0.30 * D))))
        hock = np.array([x_rear - 0.05 * BL, sign * 0.24 * Wh, 0.42 * (R - D)])
        hoof_c = np.array([x_rear_hoof, sign * 0.21 * Wh, hoof_r * 0.75])
        parts += [
            Part(f"gaskin_{side}", "leg", _capsule(thigh, hock, leg_r * 0.9)),
            Part(f"hind_cannon_{side}", "leg", _capsule(hock, hoof_c + [0, 0, 0.5 * hoof_r], cannon_r)),
        ]
        hoof = _ellipsoid(hoof_c, (1.3 * hoof_r, 0.9 * hoof_r, 0.75 * hoof_r))
        parts.append(Part(f"hind_hoof_{side}", "hoof", hoof))
        if side == "left":
            lm["hind_hoof_left"] = hoof.surface_point((0.2, 0.55, -0.6))


def _add_neck_and_head(parts, lm, p, H, D, BL) -> None:
    neck_base = np.array([0.17 * BL, 0.0, H - 0.28 * D])
    pitch = np.radians(p.head_pitch_deg)
    neck_dir = _unit([0.55, 0.0, 0.85 - 0.5 * np.sin(pitch)])
    neck_top = neck_base + neck_dir * 0.38 * H
    parts.append(Part("neck", "head", _capsule(neck_base, neck_top, 0.21 * D)))
    parts.append(Part("neck_top", "head", _capsule(neck_base + neck_dir * 0.15 * H, neck_top, 0.15 * D)))

    # Head: a long ellipsoid pitched nose-down and turned a little sideways.
    turn = rotation_z(np.radians(p.head_turn_deg))
    axes = turn @ rotation_y(pitch)
    head_len = 0.17 * H
    head_c = neck_top + axes @ np.array([0.55 * head_len, 0, -0.05 * H])
    head = _ellipsoid(head_c, (head_len, 0.075 * H, 0.085 * H), axes)
    parts.append(Part("head", "head", head))
    muzzle_c = head_c + axes @ np.array([0.75 * head_len, 0, -0.03 * H])
    parts.append(Part("muzzle", "head", _ellipsoid(muzzle_c, (0.45 * head_len, 0.055 * H, 0.06 * H), axes)))
    lm["nose"] = muzzle_c + axes @ np.array([0.45 * head_len, 0, 0])
    lm["poll"] = head.surface_point((-0.45, 0.0, 0.9))

    for side, sign in (("left", 1), ("right", -1)):
        eye = head.surface_point((0.35, 0.75 * sign, 0.45))
        parts.append(Part(f"eye_{side}", "eye", _ellipsoid(eye, (0.012 * H,) * 3)))
        ear_root = head.surface_point((-0.55, 0.6 * sign, 0.55))
        if p.droopy_ears:
            ear_axes = axes @ rotation_x(-sign * np.radians(75)) @ rotation_y(np.radians(80))
        else:
            ear_axes = axes @ rotation_x(-sign * np.radians(55)) @ rotation_y(np.radians(-20))
        ear_len = 0.10 * H * p.ear_length_scale
        ear_c = ear_root + ear_axes @ np.array([0.9 * ear_len, 0, 0])
        parts.append(Part(f"ear_{side}", "ear", _ellipsoid(ear_c, (ear_len, 0.045 * H, 0.012 * H), ear_axes)))
        if p.horns:
            root = head.surface_point((-0.4, 0.3 * sign, 0.95))
            mid = root + axes @ np.array([-0.06 * H, 0.02 * H * sign, 0.09 * H])
            tip = mid + axes @ np.array([-0.08 * H, 0.03 * H * sign, 0.03 * H])
            parts += [
                Part(f"horn_{side}", "horn", _capsule(root, mid, 0.018 * H)),
                Part(f"horn_tip_{side}", "horn", _capsule(mid, tip, 0.011 * H)),
            ]
    if p.beard:
        chin = head_c + axes @ np.array([0.9 * head_len, 0, -0.09 * H])
        parts.append(Part("beard", "head", _capsule(chin, chin + [0, 0, -0.08 * H], 0.02 * H)))
    if p.collar_rgb is not None:
        _add_collar(parts, neck_base + neck_dir * 0.18 * H, neck_dir, 0.21 * D)


def _add_collar(parts, centre, along, neck_radius_cm: float, segments: int = 12) -> None:
    """A strap round the neck: short capsules on a ring just outside the neck's surface."""
    axes = _axes_along(along)
    ring_cm = neck_radius_cm + 0.6
    angles = np.linspace(0, 2 * np.pi, segments + 1)
    ring = [centre + ring_cm * (np.cos(a) * axes[:, 1] + np.sin(a) * axes[:, 2]) for a in angles]
    for k in range(segments):
        parts.append(Part(f"collar_{k}", "gear", _capsule(ring[k], ring[k + 1], 0.9)))


def _add_fringe(parts, p: GoatParams, x_from_cm: float, x_to_cm: float, belly_z_cm: float, half_width_cm: float):
    """Long hair hanging from the barrel's lower flanks: locks side by side along the body,
    each a thin ellipsoid reaching fringe_cm below the belly line. Kept behind the heart-girth
    plane, so the chest's outline at the girth stays the body's."""
    count = max(int((x_to_cm - x_from_cm) / 6.0), 2)
    for k, x in enumerate(np.linspace(x_from_cm, x_to_cm, count)):
        for side, sign in (("left", 1), ("right", -1)):
            top = np.array([x, sign * 0.8 * half_width_cm, belly_z_cm + 0.3 * p.fringe_cm])
            lock = _ellipsoid(top - [0, 0, 0.5 * p.fringe_cm], (3.5, 0.25 * half_width_cm, 0.8 * p.fringe_cm))
            parts.append(Part(f"fringe_{side}_{k}", "hair", lock))


def _place(shape: Ellipsoid | Capsule, rot: np.ndarray, origin: np.ndarray) -> Ellipsoid | Capsule:
    if isinstance(shape, Ellipsoid):
        return Ellipsoid(rot @ shape.center + origin, rot @ shape.axes, shape.radii)
    return Capsule(rot @ shape.a + origin, rot @ shape.b + origin, shape.radius)
