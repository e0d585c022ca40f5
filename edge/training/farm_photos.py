"""Close-up training crops cut from a farm's own labelled photos (a YOLO-pose dataset of
one view), so the close-up model can be retrained on the farm's goats."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml

from edge.keypoints import VIEW_KEYPOINTS
from edge.sim.truth import NOT_IN_IMAGE
from edge.training.closeup_crops import closeup_examples
from edge.training.dataset import split_dirs, write_example


def crops_from_view_dataset(view: str, data_yaml: Path, out_dir: Path, seed: int = 0) -> int:
    """Close-up crops, for the close-up model, from a labelled YOLO-pose dataset of one
    view's photos (a farm's own): for each labelled goat, a crop of each of the view's
    regions (edge/detect/closeup.py) that is in the photo. Writes the layout above and
    returns the number of crops."""
    data = yaml.safe_load(Path(data_yaml).read_text())
    want = [len(VIEW_KEYPOINTS[view]), 3]
    if not isinstance(data, dict) or data.get("kpt_shape") != want:
        raise ValueError(
            f"{data_yaml}: kpt_shape is {data.get('kpt_shape') if isinstance(data, dict) else None}, "
            f"but {view} photos have {want} (docs/keypoints.md)"
        )
    written = 0
    for split in ("train", "val"):
        (out_dir / "images" / split).mkdir(parents=True, exist_ok=True)
        (out_dir / "labels" / split).mkdir(parents=True, exist_ok=True)
        for folder in split_dirs(Path(data_yaml), data, split):
            for image_path in sorted(Path(folder).glob("*.jpg")):
                written += _crop_labelled_photo(view, image_path, out_dir, split, seed)
    return written


def _crop_labelled_photo(view: str, image_path: Path, out_dir: Path, split: str, seed: int) -> int:
    # Ultralytics finds a photo's labels by swapping its last 'images' folder for 'labels'.
    parts = list(image_path.parts)
    at = len(parts) - 1 - parts[::-1].index("images")
    label_path = Path(*parts[:at], "labels", *parts[at + 1 :]).with_suffix(".txt")
    if not label_path.is_file():
        return 0
    image = cv2.imread(str(image_path))
    if image is None:
        raise ValueError(f"{image_path}: not a readable photo")
    h, w = image.shape[:2]
    written = 0
    for i, line in enumerate(label_path.read_text().splitlines()):
        values = np.array(line.split()[5:], float).reshape(-1, 3)
        keypoints = np.column_stack([values[:, 0] * w - 0.5, values[:, 1] * h - 0.5, values[:, 2]])
        keypoints[values[:, 2] == 0] = (0.0, 0.0, NOT_IN_IMAGE)
        for example in closeup_examples(view, image, keypoints, [seed, *image_path.stem.encode(), i]):
            write_example(
                out_dir, split, f"closeup_{example.region}_{image_path.stem}_{i}", example.jpeg, [example.label_line]
            )
            written += 1
    return written
