"""Ray casting and shading of the simulated chute, through each camera's true lens.

Every pixel's ray comes from `pixel_ray_grid`, so perspective and lens distortion are
exactly those of the calibration. A shape is only tested against the pixels inside its
projected bounding box, which is what makes a 1280x960 view take a fraction of a second.
Per-pixel arrays are kept as float32 planes (x, y, z), (3, h, w), for speed.

Shading is Lambert under one directional light plus ambient, with the goats' shadows
(on the floor, the chute and themselves) taken from a shadow map along the light.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.geometry.lens import Lens, pixel_ray_grid
from edge.sim.goat import Goat
from edge.sim.scene import Quad, Room, Scene
from edge.sim.shapes import Box, Shape

_MARGIN_PX = 3
_EPS = 1e-4

_FIXED_RGB = {"hoof": (0.16, 0.14, 0.13), "horn": (0.52, 0.47, 0.40), "eye": (0.03, 0.03, 0.03)}
_SPOTTED_REGIONS = ("body", "leg", "head", "ear", "tail")
_FUR_TEXEL_CM = 0.12
_TEXEL_OFFSET = 1 << 14  # texels; far more than any surface in the barn


@dataclass(frozen=True)
class RayGrid:
    dirs: np.ndarray  # (3, h, w) float32 unit world directions, one per pixel centre
    inv: np.ndarray  # (3, h, w) float32 1 / dirs, for slab tests


_GRID_CACHE: dict[bytes, RayGrid] = {}
_GRID_CACHE_SIZE = 12


def ray_grid(camera: Lens) -> RayGrid:
    """The camera's rays, computed once per camera (about a second at 1280x960)."""
    key = b"".join(
        np.ascontiguousarray(a, np.float64).tobytes()
        for a in (camera.K, camera.dist, camera.R, camera.t, np.array([camera.width_px, camera.height_px]))
    )
    grid = _GRID_CACHE.get(key)
    if grid is None:
        dirs = np.ascontiguousarray(pixel_ray_grid(camera).transpose(2, 0, 1), np.float32)
        with np.errstate(divide="ignore"):
            inv = 1.0 / dirs
        for a in (dirs, inv):
            a.flags.writeable = False
        grid = RayGrid(dirs, inv)
        if len(_GRID_CACHE) >= _GRID_CACHE_SIZE:
            _GRID_CACHE.pop(next(iter(_GRID_CACHE)))
        _GRID_CACHE[key] = grid
    return grid


@dataclass(frozen=True)
class RenderedView:
    rgb: np.ndarray  # (h, w, 3) float32 RGB, before image effects
    goat_mask: np.ndarray  # (h, w) uint8: index of the goat seen + 1, 0 where no goat


def _outline(lo: np.ndarray, hi: np.ndarray, steps: int = 4) -> np.ndarray:
    """Corners and points along the edges of a box: lens distortion bends long edges outward."""
    s = np.linspace(0, 1, steps + 1)
    pts = []
    for axis in range(3):
        others = [k for k in range(3) if k != axis]
        for a in (lo[others[0]], hi[others[0]]):
            for b in (lo[others[1]], hi[others[1]]):
                edge = np.empty((len(s), 3))
                edge[:, axis] = lo[axis] + s * (hi[axis] - lo[axis])
                edge[:, others[0]], edge[:, others[1]] = a, b
                pts.append(edge)
    return np.concatenate(pts)


def image_window(camera: Lens, lo: np.ndarray, hi: np.ndarray) -> tuple[slice, slice] | None:
    """Rows and columns of the pixels that can see anything inside the box [lo, hi]."""
    h, w = camera.height_px, camera.width_px
    pts = _outline(np.asarray(lo, float), np.asarray(hi, float))
    depth = camera.to_camera(pts)[:, 2]
    if (depth <= 1e-3).all():
        return None
    if (depth <= 1e-3).any():  # straddles the camera plane: its projection is unbounded
        return slice(0, h), slice(0, w)
    px, _ = camera.project(pts)
    x0 = max(int(np.floor(px[:, 0].min())) - _MARGIN_PX, 0)
    x1 = min(int(np.ceil(px[:, 0].max())) + _MARGIN_PX + 1, w)
    y0 = max(int(np.floor(px[:, 1].min())) - _MARGIN_PX, 0)
    y1 = min(int(np.ceil(px[:, 1].max())) + _MARGIN_PX + 1, h)
    if x0 >= x1 or y0 >= y1:
        return None
    return slice(y0, y1), slice(x0, x1)


def _box_hits(box: Box, origin: np.ndarray, inv: np.ndarray) -> np.ndarray:
    """Slab test for a camera outside the box; inv is (3, ...) inverse ray directions."""
    t_near = t_far = None
    for k in range(3):
        a = np.float32(box.lo[k] - origin[k]) * inv[k]
        b = np.float32(box.hi[k] - origin[k]) * inv[k]
        near, far = np.minimum(a, b), np.maximum(a, b)
        t_near = near if t_near is None else np.maximum(t_near, near)
        t_far = far if t_far is None else np.minimum(t_far, far)
    assert t_near is not None and t_far is not None  # set on the loop's first pass
    return np.where((t_far >= t_near) & (t_near > _EPS), t_near, np.float32(np.inf))


def _quad_hits(quad: Quad, origin, dirs: np.ndarray, inv: np.ndarray, eps: float = _EPS) -> np.ndarray:
    """Plane test; origin is one point (3,) or one per ray (3, ...), for shadow rays."""
    a = quad.axis
    t = np.float32(quad.lo[a] - origin[a]) * inv[a]
    hit = t > eps
    for k in range(3):
        if k != a:
            c = np.float32(origin[k]) + t * dirs[k]
            hit &= (c >= quad.lo[k]) & (c <= quad.hi[k])
    return np.where(hit, t, np.float32(np.inf))


class ShadowMap:
    """Depth of the goats seen from the light, on a grid across the light direction."""

    def __init__(self, shapes: Sequence[Shape], light_dir: np.ndarray, texel_cm: float = 0.5):
        L = np.asarray(light_dir, float)
        helper = np.array([0.0, 0.0, 1.0]) if abs(L[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        u = np.cross(L, helper)
        u /= np.linalg.norm(u)
        self.basis = np.stack([u, np.cross(L, u), L])  # rows: u, v, L
        self.texel_cm = texel_cm
        outlines = [_outline(*s.bounds(), steps=1) @ self.basis.T for s in shapes]
        corners = np.concatenate(outlines)
        self.lo = corners[:, :2].min(axis=0) - 2 * texel_cm
        self.top = corners[:, 2].max() + 1.0
        nu, nv = np.ceil((corners[:, :2].max(axis=0) + 2 * texel_cm - self.lo) / texel_cm).astype(int) + 1
        self.depth = np.full((nv, nu), np.inf, np.float32)
        for shape, c in zip(shapes, outlines):
            i0, j0 = np.floor((c[:, :2].min(axis=0) - self.lo) / texel_cm).astype(int)
            i1, j1 = np.ceil((c[:, :2].max(axis=0) - self.lo) / texel_cm).astype(int) + 1
            jj, ii = np.mgrid[j0:j1, i0:i1]
            cu = self.lo[0] + (ii.ravel() + 0.5) * texel_cm
            cv = self.lo[1] + (jj.ravel() + 0.5) * texel_cm
            origins = np.outer(cu, u) + np.outer(cv, self.basis[1]) + self.top * L
            t = shape.intersect(origins, np.tile(-L, (len(cu), 1))).reshape(ii.shape)
            block = self.depth[j0:j1, i0:i1]
            np.minimum(block, t.astype(np.float32), out=block)

    def lit(self, points: np.ndarray, bias_cm: float = 1.0) -> np.ndarray:
        """1 where a point (3, ...) sees the light past the goats, 0 where it lies in their shadow."""
        b = self.basis.astype(np.float32)
        q = [b[r, 0] * points[0] + b[r, 1] * points[1] + b[r, 2] * points[2] for r in range(3)]
        i = np.floor((q[0] - np.float32(self.lo[0])) * np.float32(1 / self.texel_cm)).astype(np.int32)
        j = np.floor((q[1] - np.float32(self.lo[1])) * np.float32(1 / self.texel_cm)).astype(np.int32)
        nv, nu = self.depth.shape
        inside = (i >= 0) & (i < nu) & (j >= 0) & (j < nv)
        lit = np.ones(i.shape, np.float32)
        if inside.any():
            occluder = self.depth[j[inside], i[inside]]
            lit[inside] = occluder >= (np.float32(self.top) - q[2][inside]) - np.float32(bias_cm)
        return lit


class Renderer:
    """Renders one capture's scene and goats through any number of cameras.

    Object ids: 0-5 the room's faces, then the scene's items, then every goat part in order.
    Flat surfaces (room faces, quads) have one normal each, so their lighting is a table
    lookup; boxes and goat parts get per-pixel normals on their own pixels only.
    """

    def __init__(self, scene: Scene, goats: tuple[Goat, ...] | list[Goat]):
        self.scene, self.goats = scene, tuple(goats)
        self.parts = [p for g in self.goats for p in g.parts]
        self.shapes = [it.shape for it in scene.items] + [p.shape for p in self.parts]
        self.goat_start = 6 + len(scene.items)
        n = self.goat_start + len(self.parts)
        self.light_dir = scene.light_dir.astype(np.float32)

        normal = np.zeros((n, 3), np.float32)
        normal[:6] = Room.face_normals()
        self.axis = np.zeros(n, np.int8)
        self.axis[:6] = np.arange(6) // 2
        material = np.zeros(n, np.int64)
        material[:6] = scene.room_materials
        for k, it in enumerate(scene.items):
            material[6 + k] = it.material
            if isinstance(it.shape, Quad):
                normal[6 + k, it.shape.axis] = it.shape.facing
                self.axis[6 + k] = it.shape.axis
        self.ambient, self.direct = self._lighting(normal)

        self.owner = np.zeros(n, np.uint8)
        self.part_rgb = np.zeros((len(self.parts), 3), np.float32)
        self.first_part: list[int] = []
        k = 0
        for gi, goat in enumerate(self.goats):
            self.first_part.append(k)
            coat = goat.params.coat
            for part in goat.parts:
                self.owner[self.goat_start + k] = gi + 1
                if part.region == "gear" and goat.params.collar_rgb is not None:
                    self.part_rgb[k] = goat.params.collar_rgb
                else:
                    self.part_rgb[k] = _FIXED_RGB.get(part.region) or (
                        coat.head_rgb if part.region in ("head", "ear") else coat.body_rgb
                    )
                k += 1

        # The light's colour is folded into every albedo once, rather than into every pixel.
        self.light_rgb = np.asarray(scene.light_rgb, np.float32)
        self.part_rgb *= self.light_rgb
        tiles = np.stack(
            [scene.tiles[m.tile] * (np.asarray(m.tint, np.float32) * self.light_rgb) for m in scene.materials]
        )
        self.tile_px = tiles.shape[1]
        self.texels = tiles.reshape(-1, 3)
        self.tile_base = (material * self.tile_px * self.tile_px).astype(np.int32)
        self.inv_texel = np.array([1 / m.texel_cm for m in scene.materials], np.float32)[material]
        self.shadow = ShadowMap([p.shape for p in self.parts], scene.light_dir) if self.parts else None
        # The chute's far panel is the one large thing that must throw a shadow too, or the
        # goat's shadow would show on the floor behind it.
        self.shadow_quads = [it.shape for it in scene.items if isinstance(it.shape, Quad)]

    def _lighting(self, normals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ambient (brighter on faces turned up) and unshadowed direct light for normals (..., 3)."""
        s = self.scene
        ambient = np.float32(s.ambient) * (np.float32(0.8) + np.float32(0.2) * normals[..., 2])
        direct = np.float32(s.diffuse) * np.maximum(normals @ self.light_dir, 0)
        return ambient.astype(np.float32), direct.astype(np.float32)

    def render(self, camera: Lens) -> RenderedView:
        grid = ray_grid(camera)
        dirs, inv = grid.dirs, grid.inv
        origin = camera.center_cm
        t, obj = self._room_hits(origin, dirs, inv)
        boxes = []
        for k, shape in enumerate(self.shapes):
            win = image_window(camera, *shape.bounds())
            if win is None:
                continue
            w3 = (slice(None),) + win
            if isinstance(shape, Box):
                tt = _box_hits(shape, origin, inv[w3])
                boxes.append((6 + k, win))
            elif isinstance(shape, Quad):
                tt = _quad_hits(shape, origin, dirs[w3], inv[w3])
            else:
                d = dirs[w3]
                tt = shape.intersect(origin, d.reshape(3, -1).T).reshape(d.shape[1:])
            t_win, obj_win = t[win], obj[win]
            closer = tt < t_win
            t_win[closer] = tt[closer]
            obj_win[closer] = 6 + k

        points = np.asarray(origin, np.float32)[:, None, None] + t * dirs
        ambient, direct, axis = self.ambient[obj], self.direct[obj], self.axis[obj]
        for k, win in boxes:
            here = obj[win] == k
            if here.any():
                n = self.shapes[k - 6].normal(points[(slice(None),) + win][:, here].T).astype(np.float32)
                ambient[win][here], direct[win][here] = self._lighting(n)
                axis[win][here] = np.abs(n).argmax(axis=-1)
        albedo = self._background_albedo(points, obj, axis)

        goat_mask = self.owner[obj]
        on_goat = np.flatnonzero(goat_mask)
        if len(on_goat):
            parts = obj.ravel()[on_goat]
            p = points.reshape(3, -1)[:, on_goat].T
            n = np.empty_like(p)
            order = np.argsort(parts, kind="stable")
            bounds = np.flatnonzero(np.diff(parts[order])) + 1
            for group in np.split(order, bounds):
                n[group] = self.shapes[parts[group[0]] - 6].normal(p[group])
            ambient.ravel()[on_goat], direct.ravel()[on_goat] = self._lighting(n)
            albedo.reshape(-1, 3)[on_goat] = self._goat_albedo(p, parts)

        if self.shadow is not None:
            direct *= self.shadow.lit(points)
        to_light = np.broadcast_to(self.light_dir[:, None, None], points.shape)
        with np.errstate(divide="ignore"):
            inv_light = np.float32(1) / self.light_dir[:, None, None]
        for quad in self.shadow_quads:
            direct *= _quad_hits(quad, points, to_light, inv_light, eps=0.05) == np.inf
        ambient += direct
        albedo *= ambient[..., None]
        return RenderedView(albedo, goat_mask)

    def _room_hits(self, origin, dirs, inv):
        room = self.scene.room
        t = obj = None
        for k in range(3):
            forward = dirs[k] > 0
            tk = np.where(forward, np.float32(room.hi[k] - origin[k]), np.float32(room.lo[k] - origin[k]))
            tk *= inv[k]
            tk[dirs[k] == 0] = np.inf
            face = 2 * k + forward.view(np.uint8)
            if t is None:
                t, obj = tk, face.astype(np.int32)
            else:
                assert obj is not None  # set with t on the loop's first pass
                closer = tk < t
                t[closer] = tk[closer]
                obj[closer] = face[closer]
        return t, obj

    def _background_albedo(self, points: np.ndarray, obj: np.ndarray, axis: np.ndarray) -> np.ndarray:
        """(h, w, 3) texture colour; the tile plane is the one across the surface normal."""
        u = np.where(axis == 0, points[1], points[0])
        v = np.where(axis == 2, points[1], points[2])
        scale = self.inv_texel[obj]
        size = self.tile_px
        # The offset keeps texel coordinates positive, so truncation is floor.
        iu = (u * scale + _TEXEL_OFFSET).astype(np.int32) & (size - 1)
        # Rows grow downward in a tile image and upward in the world.
        iv = (v * scale + _TEXEL_OFFSET).astype(np.int32) & (size - 1)
        flat = self.tile_base[obj] + (size - 1 - iv) * size + iu
        return np.take(self.texels, flat, axis=0)

    def _goat_albedo(self, points: np.ndarray, obj: np.ndarray) -> np.ndarray:
        part = obj - self.goat_start
        rgb = self.part_rgb[part]
        owner = self.owner[obj]
        fur = self.scene.fur_tile
        for gi, goat in enumerate(self.goats):
            mine = owner == gi + 1
            if not mine.any():
                continue
            body = goat.to_body(points[mine]).astype(np.float32)
            sub = rgb[mine]
            coat = goat.params.coat
            if coat.spots:
                regions = np.array([p.region in _SPOTTED_REGIONS for p in goat.parts])
                spotable = regions[part[mine] - self.first_part[gi]]
                in_spot = np.zeros(len(body), bool)
                for centre, radius in coat.spots:
                    d = body - np.asarray(centre, np.float32)
                    # Squashed across the body so spots reach the flanks from a centre inside.
                    in_spot |= d[:, 0] ** 2 + d[:, 2] ** 2 + (0.3 * d[:, 1]) ** 2 < radius**2
                sub[in_spot & spotable] = np.asarray(coat.spot_rgb, np.float32) * self.light_rgb
            # Hair streaks run down from a parting along the spine, seamlessly around the body.
            u = body[:, 0]
            v = body[:, 2] + np.abs(body[:, 1])
            size = fur.shape[0]
            iu = (u / _FUR_TEXEL_CM + _TEXEL_OFFSET).astype(np.int32) & (size - 1)
            iv = (v / _FUR_TEXEL_CM + _TEXEL_OFFSET).astype(np.int32) & (size - 1)
            hair = fur[iv, iu]
            if coat.pattern != "plain" or coat.mud_line_cm > 0:
                coated = np.array([p.region in _SPOTTED_REGIONS or p.region == "hair" for p in goat.parts])
                on_coat = coated[part[mine] - self.first_part[gi]]
                self._pattern(sub, body, hair, on_coat, coat)
            rgb[mine] = sub * hair[:, None]
        return rgb

    def _pattern(self, rgb: np.ndarray, body: np.ndarray, hair: np.ndarray, on_coat: np.ndarray, coat) -> None:
        """Patterned and muddy coats, painted in place over the coat's colour (body frame, cm)."""
        second = np.asarray(coat.spot_rgb, np.float32) * self.light_rgb
        if coat.pattern == "roan":
            # Single hairs of the second colour, as many as the first, fine as the fur texture.
            mixed = on_coat & (hair > 1.0)
            rgb[mixed] = 0.5 * rgb[mixed] + 0.5 * second
        elif coat.pattern == "belted":
            x = body[:, 0]
            rgb[on_coat & (x > coat.belt_x_cm[0]) & (x < coat.belt_x_cm[1])] = second
        elif coat.pattern == "brindle":
            # Stripes down the flanks that wander along the body, broken up by the hair.
            a, b, _ = coat.pattern_phase
            x, z = body[:, 0], body[:, 2]
            wander = 0.35 * coat.pattern_cm * np.sin(z / 7.0 + a) + 0.2 * coat.pattern_cm * np.sin(x / 11.0 + b)
            stripe = np.sin(2 * np.pi * (x + wander) / coat.pattern_cm) > 0.1
            streaky = on_coat & stripe & (hair > 0.95)
            rgb[streaky] = 0.25 * rgb[streaky] + 0.75 * second
        elif coat.pattern == "pied":
            # Large patches: a smooth field of a few waves, thresholded; the hair frays the edge.
            a, b, c = coat.pattern_phase
            x, y, z = body[:, 0], body[:, 1], body[:, 2]
            size = coat.pattern_cm
            field = np.sin(x / size + a) * np.sin(z / (0.8 * size) + b) + 0.6 * np.sin((x + 1.3 * y) / (0.7 * size) + c)
            rgb[on_coat & (field + 0.3 * (hair - 1) > 0.25)] = second
        elif coat.pattern == "random":
            waves = np.asarray(coat.pattern_waves, np.float32)
            field = np.sin(body @ waves[:, :3].T + waves[:, 3]).mean(axis=1)
            patch = on_coat & (field + 0.3 * (hair - 1) > coat.pattern_level)
            rgb[patch] = (1 - coat.pattern_blend) * rgb[patch] + coat.pattern_blend * second
        if coat.mud_line_cm > 0:
            # A ragged edge: the fur texture moves the line up and down by a few centimetres.
            line = coat.mud_line_cm * (1 + 2.0 * (hair - 1))
            muddy = on_coat & (body[:, 2] < line)
            rgb[muddy] = np.asarray(coat.mud_rgb, np.float32) * self.light_rgb
