"""`goat-edge labels dataset`: the imported labels as YOLO-pose datasets, one per view.

Split by goat, never by photo: all of a goat's captures land in one of train, val or test,
so a model is judged on goats it has not seen, as it will meet them. Captures with no goat
named go to train (they could be any goat, so they may not judge). Each view's folder is
what `scripts/train_models.py --real-data <view>=<folder>/data.yaml` reads, and the top and
side ones are what `scripts/make_dataset.py --view closeup --from-top ... --from-side ...`
cuts the close-up model's crops from.

Each photo is written as the models see it: a camera mounted turned, on the other side of
the chute or well off its place is read turned, mirrored or re-projected
(edge/detect/viewpoint.py), so its photos and points are turned, mirrored or re-projected
the same way here. A model then learns the farm's goats in the frame it reads them in. A
capture taken with another calibration than the one in use cannot be brought into that
frame and is left out.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from edge.detect.orientation import Orientation
from edge.detect.viewpoint import Viewpoint, model_frame
from edge.errors import GoatEdgeError
from edge.geometry.calibration import Calibration, default_calibration
from edge.jpeg import decode_jpeg, encode_jpeg
from edge.keypoints import VIEW_KEYPOINTS, VIEWS, flip_idx, mirror_name
from edge.store.db import Store
from edge.training.dataset import write_example

SPLITS = ("train", "val", "test")
# The box around the labelled points, grown on each side (left, right, top, bottom) by
# these shares of the points' extent: the box the simulator draws around the whole goat
# (ears and head above the withers in the side view, the shoulders beside the front view's
# points), as medians over 16 simulated captures of both training looks. A farm's boxes
# drawn any other way would teach the models a new box while they learn the farm's points.
BOX_MARGINS = {
    "side": (0.015, 0.015, 0.24, 0.0),
    "top": (0.015, 0.015, 0.06, 0.06),
    "front": (0.12, 0.12, 0.18, 0.01),
}
VISIBLE = 2
# A re-projected photo is encoded again; at this quality its JPEG noise stays below the
# camera's own.
REPROJECTED_JPEG_QUALITY = 95


class LabelDatasetError(GoatEdgeError):
    """A dataset that cannot be written: no labels, bad fractions, a folder already used."""


@dataclass(frozen=True)
class LabelDatasetSummary:
    out_dir: Path
    photos: dict[str, dict[str, int]] = field(default_factory=dict)  # view -> split -> photos
    goats: dict[str, list[str]] = field(default_factory=dict)  # split -> goat tags
    other_calibration: int = 0  # labelled photos left out: taken with another calibration


def split_goats(tags: list[str], val_fraction: float, test_fraction: float, seed: int) -> dict[str, str]:
    """Each goat's split: a seeded shuffle, test first, then val, the rest train; at least one
    goat in val and in test whenever there are three goats or more."""
    order = sorted(tags)
    np.random.default_rng(seed).shuffle(order)
    n = len(order)
    n_test = max(round(n * test_fraction), 1 if n >= 3 and test_fraction > 0 else 0)
    n_val = max(round(n * val_fraction), 1 if n >= 3 and val_fraction > 0 else 0)
    split = {tag: "test" for tag in order[:n_test]}
    split.update({tag: "val" for tag in order[n_test : n_test + n_val]})
    split.update({tag: "train" for tag in order[n_test + n_val :]})
    return split


def label_line(view: str, points: dict[str, list[float]], width: int, height: int) -> str:
    """One YOLO-pose line: class, box and every keypoint of the view, normalised; a keypoint
    nobody placed is 0 0 0. Pixel centres sit at integers (docs/keypoints.md)."""
    xs = [p[0] + 0.5 for p in points.values()]
    ys = [p[1] + 0.5 for p in points.values()]
    left, right, top, bottom = BOX_MARGINS[view]
    span_x, span_y = max(xs) - min(xs), max(ys) - min(ys)
    x0, x1 = max(min(xs) - left * span_x, 0.0), min(max(xs) + right * span_x, float(width))
    y0, y1 = max(min(ys) - top * span_y, 0.0), min(max(ys) + bottom * span_y, float(height))
    values = [0, (x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height]
    for name in VIEW_KEYPOINTS[view]:
        point = points.get(name)
        values += [0.0, 0.0, 0] if point is None else [(point[0] + 0.5) / width, (point[1] + 0.5) / height, VISIBLE]
    return " ".join(f"{v:.6f}" if isinstance(v, float) else str(v) for v in values)


def write_label_datasets(
    store: Store,
    out_dir: Path,
    calibration: Calibration,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> LabelDatasetSummary:
    """calibration: the one in use, which says how the models see each camera's photos."""
    out_dir = Path(out_dir)
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise LabelDatasetError("--val-fraction and --test-fraction must lie in [0, 1) and leave goats to train on")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise LabelDatasetError(f"{out_dir} is not empty; choose a new folder")
    labels = store.get_labels()
    if not labels:
        raise LabelDatasetError("no labels stored yet: `goat-edge labels import` them first")
    captures = {capture_id: store.get_capture(capture_id) for capture_id in {row["capture_id"] for row in labels}}
    tags = sorted({c["goat_tag"] for c in captures.values() if c["goat_tag"]})
    goat_split = split_goats(tags, val_fraction, test_fraction, seed)
    canonical = default_calibration()
    frames = {v: model_frame(calibration[v], canonical[v], mirrored_chute=calibration.mirrored_chute) for v in VIEWS}

    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    counts = {view: dict.fromkeys(SPLITS, 0) for view in VIEWS}
    other_calibration = 0
    for row in labels:
        capture = captures[row["capture_id"]]
        if not row["keypoints"]:
            continue
        if capture["calibration_hash"] not in (None, calibration.hash):
            other_calibration += 1
            continue
        split = goat_split.get(capture["goat_tag"], "train")
        raw = next(im for im in capture["images"] if im["view"] == row["view"] and im["kind"] == "raw")
        jpeg, points = as_the_models_see_it(frames[row["view"]], store.image_path(raw).read_bytes(), row["keypoints"])
        folder = partial / row["view"]
        for kind in ("images", "labels"):
            (folder / kind / split).mkdir(parents=True, exist_ok=True)
        height, width = decode_jpeg(jpeg, colour=False).shape[:2]
        line = label_line(row["view"], points, width, height)
        write_example(folder, split, f"{capture['id']}_{row['view']}", jpeg, [line])
        counts[row["view"]][split] += 1
    for view in VIEWS:
        if sum(counts[view].values()):
            _write_data_yaml(partial / view, view, counts[view])
    if out_dir.exists():
        out_dir.rmdir()
    partial.rename(out_dir)
    by_split = {s: sorted(t for t, sp in goat_split.items() if sp == s) for s in SPLITS}
    photos = {v: c for v, c in counts.items() if sum(c.values())}
    return LabelDatasetSummary(out_dir, photos, by_split, other_calibration)


def as_the_models_see_it(
    frame: Orientation | Viewpoint, jpeg: bytes, points: dict[str, list[float]]
) -> tuple[bytes, dict[str, list[float]]]:
    """A photo and its placed points (the goat's own names) turned, mirrored or re-projected
    as the detector reads that camera; in a mirrored photo the goat's left points are the
    model's right ones. A point the re-projected image does not show is left unplaced."""
    if frame.is_identity:
        return jpeg, points
    image = frame.to_canonical(decode_jpeg(jpeg))
    height, width = image.shape[:2]
    names = list(points)
    moved = frame.canonical_px(np.array([points[n][:2] for n in names], float))
    out = {}
    for name, (x, y) in zip(names, moved, strict=True):
        if -0.5 <= x < width - 0.5 and -0.5 <= y < height - 0.5:
            out[mirror_name(name) if frame.mirrored else name] = [float(x), float(y)]
    return encode_jpeg(image, REPROJECTED_JPEG_QUALITY), out


def _write_data_yaml(folder: Path, view: str, counts: dict[str, int]) -> None:
    names = VIEW_KEYPOINTS[view]
    # No `path`: the folder is written under another name and renamed when complete, and
    # without one Ultralytics reads the splits beside data.yaml, wherever the folder is moved.
    data = {
        **{split: f"images/{split}" for split in SPLITS if counts[split]},
        "names": {0: "goat"},
        "kpt_shape": [len(names), 3],
        "flip_idx": flip_idx(view),
    }
    header = f"# The farm's labelled {view} photos (goat-edge labels dataset), split by goat. Keypoints:\n"
    header += "".join(f"#   {i}: {n}\n" for i, n in enumerate(names))
    (folder / "data.yaml").write_text(header + yaml.safe_dump(data, sort_keys=False, default_flow_style=None))
