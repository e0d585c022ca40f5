"""Training crops for the rump model (edge/detect/rump.py), from full-resolution top photos.

Each example is the square that the daemon would crop around the rump, placed from the
true keypoints and then shifted and resized a little, as the top model's misses would
place it, so that the rump model learns to read any such square. A label line has the
layout of edge/sim/dataset.py: `0 cx cy w h` and `x y v` for each of RUMP_KEYPOINTS,
normalised by the crop's size; a keypoint outside the crop is `0 0 0`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from edge.detect.rump import TOP_RUMP_INDEX, RumpWindow, crop, rump_window
from edge.keypoints import VIEW_KEYPOINTS
from edge.sim.truth import NOT_IN_IMAGE

RUMP_INPUT_PX = 256
# How far the top model's rump keypoints, and so its crop, miss: their mean is about 4
# photo px off at the median and 9 at p90 (benchmarks/RESULTS.md); trained a little wider.
CENTRE_SHIFT_SIGMA = 0.03  # of the crop's side
SIDE_JITTER = 0.08  # the side varies by up to this fraction either way
# The rump's box: its keypoints' box grown by this fraction of the crop. Kept tight because
# Ultralytics' keypoint loss measures a miss against the box's size: a box grown to most of
# the crop (0.12) let a first model settle 8 px off in its own val crops.
BOX_MARGIN = 0.02
JPEG_QUALITY = 92


@dataclass(frozen=True)
class RumpExample:
    jpeg: bytes
    label_line: str
    window: RumpWindow  # where in the photo the crop was taken


def rump_example(image_bgr: np.ndarray, top_keypoints: np.ndarray, rng: np.random.Generator,
                 input_px: int = RUMP_INPUT_PX) -> RumpExample | None:
    """One crop and its label, from a top photo and its labelled keypoints (K, 3) in
    calibration pixels; None when a rump keypoint is out of the photo."""
    rump = top_keypoints[TOP_RUMP_INDEX]
    if (rump[:, 2] == NOT_IN_IMAGE).any():
        return None
    points = rump[:, :2] + 0.5  # calibration pixels to the crop's convention (edge/detect/rump.py)
    window = rump_window(points, input_px, shift=rng.normal(0.0, CENTRE_SHIFT_SIGMA, 2),
                         side_factor=rng.uniform(1 - SIDE_JITTER, 1 + SIDE_JITTER))
    ok, jpeg = cv2.imencode(".jpg", crop(image_bgr, window), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding of a rump crop failed")
    return RumpExample(jpeg.tobytes(), _label_line(window.to_crop(points), rump[:, 2], input_px), window)


def _label_line(crop_points_px: np.ndarray, flags: np.ndarray, input_px: int) -> str:
    inside = ((crop_points_px >= 0) & (crop_points_px <= input_px)).all(axis=1)
    lo = np.clip(crop_points_px[inside].min(axis=0) - BOX_MARGIN * input_px, 0, input_px)
    hi = np.clip(crop_points_px[inside].max(axis=0) + BOX_MARGIN * input_px, 0, input_px)
    values = [f"{v / input_px:.6f}" for v in (*((lo + hi) / 2), *(hi - lo))]
    for (x, y), flag, seen in zip(crop_points_px, flags, inside):
        values += [f"{x / input_px:.6f}", f"{y / input_px:.6f}", str(int(flag))] if seen else ["0", "0", "0"]
    return "0 " + " ".join(values)


def crops_from_top_dataset(data_yaml: Path, out_dir: Path, seed: int = 0) -> int:
    """Rump crops, for the rump model, from a labelled YOLO-pose dataset of top photos (a
    farm's own): one crop per labelled goat whose rump is in the photo. Writes the layout
    of edge/sim/dataset.py and returns the number of crops."""
    data = yaml.safe_load(Path(data_yaml).read_text())
    want = [len(VIEW_KEYPOINTS["top"]), 3]
    if not isinstance(data, dict) or data.get("kpt_shape") != want:
        raise ValueError(f"{data_yaml}: kpt_shape is {data.get('kpt_shape') if isinstance(data, dict) else None}, "
                         f"but top photos have {want} (docs/keypoints.md)")
    base = Path(data.get("path") or Path(data_yaml).parent)
    base = base if base.is_absolute() else (Path(data_yaml).parent / base).resolve()
    rng = np.random.default_rng([seed, 0x7275])
    written = 0
    for split in ("train", "val"):
        (out_dir / "images" / split).mkdir(parents=True, exist_ok=True)
        (out_dir / "labels" / split).mkdir(parents=True, exist_ok=True)
        folders = data.get(split) or []
        for folder in [folders] if isinstance(folders, str) else folders:
            for image_path in sorted((base / folder).glob("*.jpg")):
                written += _crop_labelled_photo(image_path, out_dir, split, rng)
    return written


def _crop_labelled_photo(image_path: Path, out_dir: Path, split: str, rng: np.random.Generator) -> int:
    # Ultralytics finds a photo's labels by swapping its last 'images' folder for 'labels'.
    parts = list(image_path.parts)
    at = len(parts) - 1 - parts[::-1].index("images")
    label_path = Path(*parts[:at], "labels", *parts[at + 1:]).with_suffix(".txt")
    if not label_path.is_file():
        return 0
    image = cv2.imread(str(image_path))
    h, w = image.shape[:2]
    written = 0
    for i, line in enumerate(label_path.read_text().splitlines()):
        values = np.array(line.split()[5:], float).reshape(-1, 3)
        keypoints = np.column_stack([values[:, 0] * w - 0.5, values[:, 1] * h - 0.5, values[:, 2]])
        keypoints[values[:, 2] == 0] = (0.0, 0.0, NOT_IN_IMAGE)
        example = rump_example(image, keypoints, rng)
        if example is None:
            continue
        stem = f"rump_{image_path.stem}_{i}"
        (out_dir / "images" / split / f"{stem}.jpg").write_bytes(example.jpeg)
        (out_dir / "labels" / split / f"{stem}.txt").write_text(example.label_line + "\n")
        written += 1
    return written
