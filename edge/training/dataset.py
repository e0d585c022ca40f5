"""Training sets for one view's pose model, in the Ultralytics YOLO-pose layout.

    DIR/images/{train,val}/<view>_<seed>.jpg   the simulator's JPEG, byte for byte
    DIR/labels/{train,val}/<view>_<seed>.txt   one line per goat, empty for an empty chute
    DIR/data.yaml                              path, train, val, names, kpt_shape, flip_idx
    DIR/seeds.txt                              every capture seed used, so that held-out
                                               seeds can be kept disjoint later

A label line is `0 cx cy w h` then `x y v` per keypoint in the order of
edge/keypoints.py, all normalised by the image size. The calibration puts pixel centres
at integer coordinates, so a coordinate x in pixels is written as (x + 0.5) / width: 0 and
1 are the image's outer edges, as Ultralytics expects. Keypoints out of frame are `0 0 0`.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from edge.detect.closeup import CLOSEUP_VIEWS
from edge.errors import GoatEdgeError
from edge.keypoints import MODEL_KEYPOINTS, MODELS, flip_idx
from edge.sim.capture import SimCapture, simulate_capture
from edge.sim.looks import look_named
from edge.sim.render import ray_grid
from edge.sim.truth import NOT_IN_IMAGE
from edge.training.camera_jitter import CAMERA_VARIANTS, camera_variant, dataset_calibration
from edge.training.closeup_crops import closeup_examples

SEED_STRIDE = 1_000_003
CLASS_GOAT = 0
# A simulated dataset's folder: <view>-seed<S>-n<images>-s<render scale>[-<look>], no suffix
# for the standard look.
_SIMULATED_NAME = re.compile(r"^[a-z]+-seed\d+-n\d+-s[\d.]+(?:-(?P<look>[a-z_]+))?$")


def simulated_dataset_name(view: str, seed: int, count: int, scale: float, look: str = "standard") -> str:
    return f"{view}-seed{seed}-n{count}-s{scale:g}" + ("" if look == "standard" else f"-{look}")


def look_of_dataset(name: str) -> str | None:
    """The look a simulated dataset's folder name says it drew; None for any other dataset
    (a farm's own)."""
    match = _SIMULATED_NAME.match(name)
    return None if match is None else match["look"] or "standard"


class DatasetExistsError(GoatEdgeError):
    """The output folder already holds a dataset; mixing two would corrupt both."""


def capture_seeds(seed: int, count: int) -> list[int]:
    """The capture seeds of a dataset: disjoint for different dataset seeds below 1,000,003 images."""
    return [seed * SEED_STRIDE + i for i in range(count)]


def label_lines(capture: SimCapture, view: str) -> list[str]:
    """One YOLO-pose line per goat that shows in the view."""
    camera = capture.calibration[view]
    w, h = camera.width_px, camera.height_px
    lines = []
    for entry in capture.labels[view]:
        if entry.box_px is None:
            continue
        x0, y0, x1, y1 = entry.box_px
        values = [((x0 + x1) / 2 + 0.5) / w, ((y0 + y1) / 2 + 0.5) / h, (x1 - x0) / w, (y1 - y0) / h]
        for x, y, flag in entry.keypoints.keypoints:
            if flag == NOT_IN_IMAGE:
                values += [0.0, 0.0]
            else:
                values += [min(max((x + 0.5) / w, 0.0), 1.0), min(max((y + 0.5) / h, 0.0), 1.0)]
            values.append(int(flag))
        lines.append(f"{CLASS_GOAT} " + " ".join(f"{v:.6f}" if isinstance(v, float) else str(v) for v in values))
    return lines


@dataclass(frozen=True)
class Plan:
    """Which capture is which: computed up front so workers need nothing but an index."""

    out_dir: Path
    view: str
    scale: float
    seeds: tuple[int, ...]
    split: tuple[str, ...]  # "train" or "val" per capture
    goats: tuple[int, ...]  # goats in the chute: 0 (empty), 1, or 2
    look: str = "standard"  # edge/sim/looks.py; never a held-out one


def plan_dataset(
    out_dir: Path,
    view: str,
    count: int,
    seed: int,
    *,
    scale: float = 0.5,
    val_fraction: float = 0.1,
    empty_fraction: float = 0.05,
    two_goat_fraction: float = 0.03,
    look: str = "standard",
) -> Plan:
    kept = look_named(look).kept_from_training
    if kept:
        raise ValueError(f"look {look!r} is {kept} and may never be trained on")
    if view not in MODELS:
        raise ValueError(f"unknown view {view!r}; expected one of {', '.join(MODELS)}")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if not 0 <= val_fraction < 1 or not 0 <= empty_fraction < 1 or not 0 <= two_goat_fraction < 1:
        raise ValueError("val_fraction, empty_fraction and two_goat_fraction must lie in [0, 1)")
    if empty_fraction + two_goat_fraction >= 1:
        raise ValueError("empty_fraction and two_goat_fraction leave no single-goat images")
    if view == "closeup":  # crops are taken around a goat the view models found, one goat each
        if scale != 1.0:
            raise ValueError(
                f"the close-up model reads crops of the full-resolution photos: scale must be 1, got {scale:g}"
            )
        empty_fraction = two_goat_fraction = 0.0
    rng = np.random.default_rng([seed, 0x5EED])
    n_val = int(round(count * val_fraction))
    if val_fraction > 0 and count >= 2:
        n_val = max(n_val, 1)  # Ultralytics refuses to train without a validation image
    split = np.full(count, "train", dtype=object)
    split[rng.choice(count, n_val, replace=False)] = "val"
    # Mostly one goat; some empty chutes (learn "no goat") and some with a second goat
    # queued behind (learn to find both, so the quality gate can ask for a retake).
    goats = np.ones(count, int)
    order = rng.permutation(count)
    n_empty, n_two = int(round(count * empty_fraction)), int(round(count * two_goat_fraction))
    goats[order[:n_empty]] = 0
    goats[order[n_empty : n_empty + n_two]] = 2
    return Plan(Path(out_dir), view, scale, tuple(capture_seeds(seed, count)), tuple(split), tuple(goats), look)


def cameras_of(model: str) -> tuple[str, ...]:
    """The cameras whose photos a model's training set is cut from."""
    return CLOSEUP_VIEWS if model == "closeup" else (model,)


def _write_one(plan: Plan, index: int) -> int:
    seed = plan.seeds[index]
    capture = simulate_capture(
        seed,
        dataset_calibration(seed),
        scale=plan.scale,
        goats=plan.goats[index],
        views=cameras_of(plan.view),
        look=plan.look,
    )
    if plan.view == "closeup":  # a region cut off by the frame gives no crop to learn from
        files = [
            (f"closeup_{e.region}_{seed}", e.jpeg, [e.label_line])
            for view in cameras_of(plan.view)
            for e in closeup_examples(view, capture.images[view], capture.labels[view][0].keypoints.keypoints, seed)
        ]
    else:
        files = [(f"{plan.view}_{seed}", capture.jpegs[plan.view], label_lines(capture, plan.view))]
    for stem, jpeg, lines in files:
        write_example(plan.out_dir, plan.split[index], stem, jpeg, lines)
    return sum(len(lines) for _, _, lines in files)


def write_example(out_dir: Path, split: str, stem: str, jpeg: bytes, label_lines: list[str]) -> None:
    (out_dir / "images" / split / f"{stem}.jpg").write_bytes(jpeg)
    (out_dir / "labels" / split / f"{stem}.txt").write_text("".join(line + "\n" for line in label_lines))


_WORKER_PLAN: Plan | None = None


def _init_worker(plan: Plan) -> None:
    global _WORKER_PLAN
    _WORKER_PLAN = plan


def _work(index: int) -> int:
    assert _WORKER_PLAN is not None  # set by _init_worker in every pool worker
    return _write_one(_WORKER_PLAN, index)


def write_data_yaml(out_dir: Path, view: str) -> Path:
    names = MODEL_KEYPOINTS[view]
    data = {
        "path": str(Path(out_dir).resolve()),
        "train": "images/train",
        "val": "images/val",
        "names": {CLASS_GOAT: "goat"},
        "kpt_shape": [len(names), 3],
        "flip_idx": flip_idx(view),
    }
    header = f"# Simulated goat chute, {view} view (edge/training/dataset.py). Keypoints in order:\n" + "".join(
        f"#   {i}: {n}\n" for i, n in enumerate(names)
    )
    path = Path(out_dir) / "data.yaml"
    path.write_text(header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None))
    return path


@dataclass(frozen=True)
class DatasetSummary:
    out_dir: Path
    images: int
    train: int
    val: int
    empty: int
    goat_labels: int
    seconds: float

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("inf")


def make_dataset(
    out_dir: str | Path,
    view: str,
    count: int,
    seed: int,
    *,
    scale: float = 0.5,
    workers: int | None = None,
    val_fraction: float = 0.1,
    empty_fraction: float = 0.05,
    look: str = "standard",
) -> DatasetSummary:
    """Render `count` captures of one view and write them as a YOLO-pose dataset."""
    out_dir = Path(out_dir)
    if (out_dir / "data.yaml").exists() or (out_dir / "images").exists():
        raise DatasetExistsError(f"{out_dir} already holds a dataset; choose another --out or delete it")
    if out_dir.exists() and not out_dir.is_dir():
        raise DatasetExistsError(f"{out_dir} exists and is not a folder")
    # Built beside the target and renamed at the end, so a stopped run leaves no
    # half-dataset behind under the real name; its leftovers are cleared on the next run.
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    plan = plan_dataset(
        partial, view, count, seed, scale=scale, val_fraction=val_fraction, empty_fraction=empty_fraction, look=look
    )
    for kind in ("images", "labels"):
        for split in ("train", "val"):
            (partial / kind / split).mkdir(parents=True, exist_ok=True)
    workers = max(1, min(workers or os.cpu_count() or 1, count))

    started = time.perf_counter()
    # Worker processes forked from here inherit the cameras' ray grids instead of each
    # spending a second undistorting every pixel.
    for variant in range(CAMERA_VARIANTS):
        for camera in cameras_of(view):
            ray_grid(camera_variant(variant).scaled(scale)[camera])
    if workers == 1:
        goat_labels = [_write_one(plan, i) for i in range(count)]
    else:
        with multiprocessing.Pool(workers, initializer=_init_worker, initargs=(plan,)) as pool:
            goat_labels = list(pool.imap_unordered(_work, range(count), chunksize=4))
    seconds = time.perf_counter() - started

    with open(partial / "seeds.txt", "w") as f:
        f.write(f"# look {plan.look}\n# capture_seed split goats\n")
        for s, sp, g in zip(plan.seeds, plan.split, plan.goats):
            f.write(f"{s} {sp} {g}\n")
    if out_dir.exists():
        out_dir.rmdir()  # an empty folder the user made for it
    partial.rename(out_dir)
    write_data_yaml(out_dir, view)
    n_val = sum(s == "val" for s in plan.split)
    return DatasetSummary(out_dir, count, count - n_val, n_val, plan.goats.count(0), sum(goat_labels), seconds)


def split_dirs(data_yaml: Path, data: dict, split: str) -> list[str]:
    """The image folders a YOLO dataset yaml lists for a split, as absolute paths."""
    base = Path(data.get("path") or data_yaml.parent)
    if not base.is_absolute():
        base = (data_yaml.parent / base).resolve()
    entries = data.get(split) or []
    return [str(base / e) for e in ([entries] if isinstance(entries, str) else entries)]
