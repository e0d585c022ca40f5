"""How close-up models read labelled crops: each pair's distance against its label, side by side.

    python -m benchmarks.closeup_crops --models models,runs/cand/models \
        --crops datasets/closeup-seed13-n200-s1

A width is measured between a pair of keypoints (hip width between the hooks, chest width
between the shoulders, chest depth from the withers to the sternum), so a model that
places a pair too far apart widens that measurement by as much, in every capture. This
reads candidates on crops that none of them trained on (`scripts/make_dataset.py --view
closeup`, every split), in under a minute where benchmarks/unseen_look.py takes an hour, and
prints per pair the median of (found distance - labelled distance), in crop pixels and in
% of the labelled distance, with 95 % bootstrap brackets over crops, and the median miss
of the pair's keypoints.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.unseen_look import bootstrap
from edge.detect.closeup import CLOSEUP_KEYPOINTS
from edge.detect.detector import FUSE_IOU
from edge.detect.ncnn_pose import NcnnPoseModel
from edge.jpeg import decode_jpeg

PAIRS = {
    "hooks (hip width)": ("hook_left", "hook_right"),
    "pins": ("pin_left", "pin_right"),
    "shoulders (chest width)": ("shoulder_left", "shoulder_right"),
    "withers-sternum (chest depth)": ("withers", "sternum"),
}


@dataclass(frozen=True)
class LabelledCrop:
    image_bgr: np.ndarray
    keypoints_px: np.ndarray  # (K, 3): x, y in crop pixels and the label's flag (0: not in this crop)


def labelled_crops(dataset: Path) -> list[LabelledCrop]:
    """Every crop of a close-up dataset, all splits."""
    crops = []
    for label in sorted(dataset.glob("labels/*/*.txt")):
        image = decode_jpeg((dataset / "images" / label.parent.name / f"{label.stem}.jpg").read_bytes())
        for line in label.read_text().splitlines():
            values = np.array(line.split()[5:], float).reshape(len(CLOSEUP_KEYPOINTS), 3)
            values[:, :2] *= image.shape[1]
            crops.append(LabelledCrop(image, values))
    return crops


def pair_misses(model: NcnnPoseModel, crops: list[LabelledCrop]) -> dict[str, dict[str, np.ndarray]]:
    """For each pair: the found distance minus the labelled one (px), the same in % of the
    labelled one, and each keypoint's distance from its label (px), over the crops that show
    both and in which the model found a goat."""
    index = {name: CLOSEUP_KEYPOINTS.index(name) for pair in PAIRS.values() for name in pair}
    found: dict[str, dict[str, list[float]]] = {p: {"px": [], "pct": [], "miss_px": []} for p in PAIRS}
    for crop in crops:
        detections = model.predict(crop.image_bgr, max_detections=1, fuse_iou=FUSE_IOU)
        if not detections:
            continue
        points = detections[0].keypoints[:, :2]
        for pair, (a, b) in PAIRS.items():
            i, j = index[a], index[b]
            if crop.keypoints_px[i, 2] == 0 or crop.keypoints_px[j, 2] == 0:
                continue
            labelled = float(np.linalg.norm(crop.keypoints_px[j, :2] - crop.keypoints_px[i, :2]))
            gap = float(np.linalg.norm(points[j] - points[i])) - labelled
            found[pair]["px"].append(gap)
            found[pair]["pct"].append(100 * gap / labelled)
            found[pair]["miss_px"] += [float(np.linalg.norm(points[k] - crop.keypoints_px[k, :2])) for k in (i, j)]
    return {p: {k: np.array(v) for k, v in rows.items()} for p, rows in found.items()}


def _median(values: np.ndarray, rng: np.random.Generator) -> str:
    if len(values) == 0:
        return "—"
    low, high = bootstrap(values, np.median, rng)
    return f"{np.median(values):+.2f} [{low:+.2f}, {high:+.2f}]"


def table(results: dict[str, dict[str, dict[str, np.ndarray]]], dataset: Path) -> str:
    rng = np.random.default_rng(0)
    lines = [
        f"crops: {dataset}",
        "",
        "| pair | models | crops | distance miss, px | distance miss, % | keypoint miss, px (median) |",
        "|---|---|---|---|---|---|",
    ]
    for pair in PAIRS:
        for name, misses in results.items():
            row = misses[pair]
            miss = f"{np.median(row['miss_px']):.2f}" if len(row["miss_px"]) else "—"
            cells = [pair, name, str(len(row["px"])), _median(row["px"], rng), _median(row["pct"], rng), miss]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", required=True, help="comma-separated folders, each with closeup/model.ncnn.*")
    p.add_argument("--crops", required=True, help="comma-separated close-up datasets")
    args = p.parse_args()
    models = {name: NcnnPoseModel(Path(name) / "closeup") for name in args.models.split(",")}
    for dataset in (Path(d) for d in args.crops.split(",")):
        crops = labelled_crops(dataset)
        print(table({name: pair_misses(model, crops) for name, model in models.items()}, dataset))
        print()


if __name__ == "__main__":
    main()
