"""The simulated chute around the goat: barn, floor, chute panels, rails, gate, clutter, light.

Everything here is randomised per capture from one generator so that a model trained on
the rendered images sees many barns, not one. The chute's geometry follows the world
frame of edge/geometry/calibration.py: the front gate stands at x = 0, the chute runs
toward -x, its far panel is at y = -chute_width/2 and its open, railed side faces the
side camera at +y.

Nothing here may stand between a camera and the goat except the rails and gate bars,
and those are placed to hide as little of the animal as a real chute would.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import cast

import numpy as np

from edge.sim import textures
from edge.sim.shapes import Box

_EPS = 1e-6


@dataclass(frozen=True)
class Material:
    tile: int  # index into Scene.tiles
    tint: tuple[float, float, float]
    texel_cm: float


@dataclass(frozen=True, eq=False)
class Quad:
    """A rectangle on the plane where world coordinate `axis` equals lo[axis] (== hi[axis]).

    Cheaper to ray-cast than a Box, which matters for panels that fill half an image.
    `facing` (+1 or -1) is the side its normal points to.
    """

    axis: int
    lo: np.ndarray
    hi: np.ndarray
    facing: float

    def intersect(self, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        a = self.axis
        o = np.broadcast_to(np.asarray(origins, float), dirs.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (self.lo[a] - o[:, a]) / dirs[:, a]
        hit = np.isfinite(t) & (t > _EPS)
        for k in range(3):
            if k != a:
                c = o[:, k] + t * dirs[:, k]
                hit &= (c >= self.lo[k]) & (c <= self.hi[k])
        return np.where(hit, t, np.inf)

    def normal(self, points: np.ndarray) -> np.ndarray:
        n = np.zeros(np.shape(points), float)
        n[..., self.axis] = self.facing
        return n

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.lo, self.hi


@dataclass(frozen=True)
class Room:
    """The barn seen from inside: every ray that misses the chute ends on one of its six faces.

    Face 2k is the wall at lo[k] (normal +e_k), face 2k + 1 the wall at hi[k]; face 4 is the floor.
    """

    lo: np.ndarray
    hi: np.ndarray

    @staticmethod
    def face_normals() -> np.ndarray:
        n = np.zeros((6, 3), np.float32)
        for k in range(3):
            n[2 * k, k], n[2 * k + 1, k] = 1, -1
        return n


@dataclass(frozen=True, eq=False)
class SceneItem:
    name: str
    shape: Box | Quad
    material: int  # index into Scene.materials


@dataclass(frozen=True, eq=False)
class Scene:
    room: Room
    room_materials: tuple[int, ...]  # one per room face
    items: tuple[SceneItem, ...]
    materials: tuple[Material, ...]
    tiles: tuple[np.ndarray, ...]
    light_dir: np.ndarray  # unit vector toward the light
    light_rgb: np.ndarray
    diffuse: float
    ambient: float
    floor_kind: str
    chute_width_cm: float
    fur_tile: np.ndarray  # grey hair texture around 1

    @property
    def shapes(self) -> tuple[Box | Quad, ...]:
        return tuple(it.shape for it in self.items)


def mirrored_scene(scene: Scene) -> Scene:
    """The same barn mirrored across the chute's centre line (y -> -y): the chute's open,
    railed side, and so the side camera's place, on the other side."""

    def flip(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = lo.copy(), hi.copy()
        lo[1], hi[1] = -hi[1], -lo[1]
        return lo, hi

    def flip_shape(shape: Box | Quad) -> Box | Quad:
        lo, hi = flip(shape.lo, shape.hi)
        if isinstance(shape, Quad):
            return Quad(shape.axis, lo, hi, -shape.facing if shape.axis == 1 else shape.facing)
        return Box(lo, hi)

    materials = list(scene.room_materials)
    materials[2], materials[3] = materials[3], materials[2]  # the walls at y = lo and y = hi
    light_dir = scene.light_dir.copy()
    light_dir[1] = -light_dir[1]
    return dataclasses.replace(
        scene,
        room=Room(*flip(scene.room.lo, scene.room.hi)),
        room_materials=tuple(materials),
        items=tuple(SceneItem(it.name, flip_shape(it.shape), it.material) for it in scene.items),
        light_dir=light_dir,
    )


def _box(lo, hi) -> Box:
    return Box(np.asarray(lo, float), np.asarray(hi, float))


class _Palette:
    """Collects texture tiles and materials while a scene is built."""

    def __init__(self):
        self.tiles: list[np.ndarray] = []
        self.materials: list[Material] = []

    def add(self, tile: np.ndarray, texel_cm: float, tint=(1.0, 1.0, 1.0)) -> int:
        self.tiles.append(tile.astype(np.float32))
        return self.tint(len(self.tiles) - 1, texel_cm, tint)

    def tint(self, tile: int, texel_cm: float, tint) -> int:
        rgb = cast(tuple[float, float, float], tuple(float(c) for c in tint))
        self.materials.append(Material(tile, rgb, float(texel_cm)))
        return len(self.materials) - 1


_PAINT = (
    (0.20, 0.35, 0.18),
    (0.55, 0.12, 0.10),
    (0.15, 0.25, 0.45),
    (0.62, 0.64, 0.66),
    (0.70, 0.55, 0.15),
    (0.25, 0.25, 0.25),
)
_BRIGHT = (
    (0.10, 0.30, 0.70),
    (0.75, 0.12, 0.10),
    (0.10, 0.10, 0.10),
    (0.15, 0.50, 0.20),
    (0.85, 0.60, 0.10),
    (0.85, 0.85, 0.82),
)


def sample_scene(rng: np.random.Generator, chute_width_cm: float = 50.0) -> Scene:
    pal = _Palette()
    half = chute_width_cm / 2
    room = Room(
        np.array([-rng.uniform(300, 450), -rng.uniform(130, 260), 0.0]),
        np.array([rng.uniform(140, 220), rng.uniform(160, 260), rng.uniform(260, 340)]),
    )

    floor_kind = ("concrete", "straw", "rubber_mat")[rng.integers(3)]
    floor_texel = {"concrete": (0.5, 1.0), "straw": (0.18, 0.3), "rubber_mat": (0.2, 0.4)}[floor_kind]
    floor = pal.add(textures.FLOORS[floor_kind](rng), rng.uniform(*floor_texel))
    wall_kind = rng.integers(3)
    if wall_kind == 0:
        wall = pal.add(textures.planks(rng), rng.uniform(0.6, 1.0))
    elif wall_kind == 1:
        wall = pal.add(textures.blocks(rng), rng.uniform(0.6, 0.9))
    else:
        wall = pal.add(textures.metal(rng, _PAINT[rng.integers(len(_PAINT))], corrugated=True), rng.uniform(0.4, 0.8))
    ceiling = pal.add(textures.plain(rng, 0.1), 1.0, rng.uniform(0.15, 0.35) * np.ones(3))
    room_materials = (wall, wall, wall, wall, floor, ceiling)

    items: list[SceneItem] = []
    chute_len = rng.uniform(260, 330)
    panel_h = rng.uniform(75, 125)
    panel_kind = rng.integers(3)
    if panel_kind == 0:
        panel_mat = pal.add(textures.planks(rng), rng.uniform(0.25, 0.45))
    elif panel_kind == 1:
        panel_mat = pal.add(textures.plywood(rng), rng.uniform(0.25, 0.4))
    else:
        panel_mat = pal.add(textures.metal(rng, _PAINT[rng.integers(len(_PAINT))]), rng.uniform(0.3, 0.5))
    items.append(
        SceneItem(
            "far_panel", Quad(1, np.array([-chute_len, -half, 0.0]), np.array([2.0, -half, panel_h]), 1.0), panel_mat
        )
    )

    if rng.random() < 0.6:
        steel = pal.add(textures.metal(rng, _PAINT[rng.integers(len(_PAINT))]), rng.uniform(0.2, 0.4))
    else:
        steel = pal.add(textures.planks(rng, (0.5, 0.38, 0.25)), rng.uniform(0.1, 0.2))
    post_w = rng.uniform(5, 9)
    post_h = rng.uniform(125, 165)
    for x in (2.0, -chute_len / 2 - 60, -chute_len):
        items.append(SceneItem("far_post", _box([x, -half - post_w - 1, 0], [x + post_w, -half - 1, post_h]), steel))
    for x in (2.0, -chute_len - post_w):
        items.append(SceneItem("near_post", _box([x, half, 0], [x + post_w, half + post_w, post_h]), steel))

    # Near-side rails: a low one above the hooves and one above the withers of the tallest goat.
    rail_t = rng.uniform(3, 5)
    if rng.random() < 0.75:
        z = rng.uniform(18, 28)
        items.append(
            SceneItem("low_rail", _box([-chute_len, half, z], [2.0, half + rail_t, z + rng.uniform(4, 8)]), steel)
        )
    z = rng.uniform(98, 112)
    items.append(SceneItem("top_rail", _box([-chute_len, half, z], [2.0, half + rail_t, z + rng.uniform(4, 8)]), steel))

    # Front gate: bars at its edges and above the head, a kick plate at the floor; none crosses the chest.
    gate_t = rng.uniform(2.5, 4)
    gate_top = rng.uniform(140, 155)
    bar = rng.uniform(2.5, 4)
    for sign in (1, -1):
        ys = sorted((sign * (half - 1), sign * (half - 1 - bar)))
        items.append(SceneItem("gate_bar", _box([0, ys[0], 0], [gate_t, ys[1], gate_top + 4]), steel))
    items.append(SceneItem("gate_top", _box([0, -half, gate_top], [gate_t, half, gate_top + 4]), steel))
    items.append(SceneItem("gate_kick", _box([0, -half, 0], [gate_t, half, rng.uniform(4, 9)]), steel))

    items += _clutter(rng, pal, room, half)

    elevation = np.radians(rng.uniform(25, 85))
    azimuth = rng.uniform(0, 2 * np.pi)
    light_dir = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    warmth = rng.uniform(-1, 1)
    light_rgb = np.array([1 + 0.12 * warmth, 1.0, 1 - 0.15 * warmth], np.float32)
    return Scene(
        room,
        room_materials,
        tuple(items),
        tuple(pal.materials),
        tuple(pal.tiles),
        light_dir,
        light_rgb,
        float(rng.uniform(0.55, 1.0)),
        float(rng.uniform(0.3, 0.55)),
        floor_kind,
        chute_width_cm,
        textures.fur(rng),
    )


def _clear_of_cameras(lo: np.ndarray, hi: np.ndarray, half: float) -> bool:
    """Whether a box on the floor stays out of every camera's line to a goat in the chute.

    The side camera looks across +y toward the chute between x = -210 and x = 15, and the
    front camera looks back down the chute from x = +95; the top camera, straight down,
    cannot be blocked by anything outside the panels.
    """
    near_side = hi[1] > half and lo[1] < 140
    if near_side and hi[0] > -215 and lo[0] < 20:
        return False
    if hi[0] > -5 and lo[1] < 45 and hi[1] > -45:
        return False
    return not (hi[1] > -half - 8 and lo[1] < half + 8 and lo[0] < 20)


def _clutter(rng: np.random.Generator, pal: _Palette, room: Room, half: float) -> list[SceneItem]:
    crate = pal.add(textures.planks(rng, (0.6, 0.45, 0.3)), rng.uniform(0.15, 0.3))
    bale = pal.add(textures.straw(rng), rng.uniform(0.2, 0.3))
    plain = pal.add(textures.plain(rng), 0.5)
    wood_post = pal.add(textures.planks(rng, (0.45, 0.33, 0.22)), rng.uniform(0.3, 0.5))
    items: list[SceneItem] = []
    wanted = int(rng.integers(4, 15))
    for _ in range(200):
        if len(items) >= wanted:
            break
        kind = ("crate", "bucket", "bale", "post")[rng.choice(4, p=(0.3, 0.3, 0.25, 0.15))]
        if kind == "crate":
            size = rng.uniform([30, 30, 25], [80, 80, 70])
            mat = crate
        elif kind == "bucket":
            size = rng.uniform([25, 25, 28], [35, 35, 40])
            mat = pal.tint(plain, 0.5, _BRIGHT[rng.integers(len(_BRIGHT))])
        elif kind == "bale":
            size = np.array([100, 45, 40] if rng.random() < 0.5 else [45, 100, 40]) * rng.uniform(0.9, 1.1)
            mat = bale
        else:
            size = np.array([*(rng.uniform(12, 20, 2)), room.hi[2]])
            mat = wood_post
        x = rng.uniform(room.lo[0] + 5, room.hi[0] - 5 - size[0])
        y = rng.uniform(room.lo[1] + 5, room.hi[1] - 5 - size[1])
        lo = np.array([x, y, 0.0])
        hi = lo + size
        if hi[0] >= room.hi[0] or hi[1] >= room.hi[1] or not _clear_of_cameras(lo, hi, half):
            continue
        if kind == "crate" and rng.random() < 0.3:  # a second crate stacked on the first
            top = rng.uniform(0.6, 1.0, 3) * size
            items.append(SceneItem("crate", _box([x, y, size[2]], [x + top[0], y + top[1], size[2] + top[2]]), mat))
        items.append(SceneItem(kind, _box(lo, hi), mat))
    return items


def with_light(scene: Scene, rng: np.random.Generator, kind: str) -> Scene:
    """The same barn at dawn (low, warm sun through a door) or at night (a cold LED overhead,
    little light from anywhere else)."""
    if kind == "dawn":
        elevation, rgb = np.radians(rng.uniform(6, 20)), (1.25, 1.0, 0.70)
        ambient, diffuse = rng.uniform(0.15, 0.30), rng.uniform(0.9, 1.3)
    elif kind == "night":
        elevation, rgb = np.radians(rng.uniform(60, 88)), (0.85, 0.95, 1.12)
        ambient, diffuse = rng.uniform(0.08, 0.22), rng.uniform(0.8, 1.2)
    else:
        raise ValueError(f"unknown light {kind!r}; expected dawn or night")
    azimuth = rng.uniform(0, 2 * np.pi)
    light_dir = np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])
    return dataclasses.replace(
        scene,
        light_dir=light_dir,
        light_rgb=np.asarray(rgb, np.float32),
        ambient=float(ambient),
        diffuse=float(diffuse),
    )


_CLOTHES = ((0.15, 0.20, 0.35), (0.20, 0.25, 0.15), (0.35, 0.30, 0.25), (0.12, 0.12, 0.12), (0.55, 0.15, 0.10))
_SKIN_OR_GLOVE = ((0.80, 0.60, 0.48), (0.45, 0.30, 0.22), (0.85, 0.75, 0.20), (0.20, 0.35, 0.65))


def with_people(scene: Scene, rng: np.random.Generator, *, standing: bool, hand: bool) -> Scene:
    """A person standing beyond the chute's far panel (legs and body, seen past the goat), and
    a gloved hand on the near top rail, where the side camera sees it in front of the goat."""
    half = scene.chute_width_cm / 2
    pal = _Palette()
    pal.tiles, pal.materials = list(scene.tiles), list(scene.materials)
    cloth = pal.add(textures.plain(rng, 0.15), 0.5, _CLOTHES[rng.integers(len(_CLOTHES))])
    items = list(scene.items)
    if standing:
        x = rng.uniform(-220, -20)
        y = -half - rng.uniform(15, 45)
        leg_w, gap = rng.uniform(11, 15), rng.uniform(4, 12)
        crotch = rng.uniform(75, 90)
        for dx in (0.0, leg_w + gap):
            items.append(SceneItem("person_leg", _box([x + dx, y - 12, 0], [x + dx + leg_w, y, crotch]), cloth))
        top = pal.add(textures.plain(rng, 0.15), 0.5, _CLOTHES[rng.integers(len(_CLOTHES))])
        items.append(SceneItem("person_body", _box([x - 4, y - 16, crotch], [x + 2 * leg_w + gap + 4, y, 150]), top))
    if hand:
        rails = [it.shape for it in scene.items if it.name == "top_rail"]
        if rails:
            rail = rails[0]
            glove = pal.add(textures.plain(rng, 0.1), 0.5, _SKIN_OR_GLOVE[rng.integers(len(_SKIN_OR_GLOVE))])
            x = rng.uniform(-200, -20)
            lo = np.array([x, rail.lo[1] - 2, rail.lo[2] - 3])
            items.append(SceneItem("hand", _box(lo, lo + [rng.uniform(8, 11), 9, rail.hi[2] - rail.lo[2] + 6]), glove))
    return dataclasses.replace(scene, items=tuple(items), tiles=tuple(pal.tiles), materials=tuple(pal.materials))
