"""Export the pose models' weights (.pt) to NCNN for the Pi, with a model card.

    .venv/bin/python scripts/export_models.py                 # models/<view>/best.pt
    .venv/bin/python scripts/export_models.py --weights side=/farm/side/best.pt

The models are the three views' and the close-up model (edge/detect/closeup.py). Writes
models/<view>/model.ncnn.param, model.ncnn.bin and metadata.yaml (Ultralytics'
NCNN export at half precision, offline with the pnnx and ncnn packages) and records each
model's training data, input size and file hashes in models/<view>/card.yaml. A farm's
own best.pt drops in the same way, as long as it finds this view's keypoints.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")

import yaml  # noqa: E402
from pose_weights import WeightsError, load_pose_weights  # noqa: E402

from edge.argtypes import models, view_path  # noqa: E402
from edge.detect.ncnn_pose import MODEL_FILES  # noqa: E402
from edge.keypoints import MODEL_KEYPOINTS, MODELS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def dataset_names(data_yaml: Path) -> str | list[str] | None:
    """The dataset's folder name; for the yaml train_models.py writes to mix several
    (`<view>-mixed.yaml`, listing each one's image folders), every mixed dataset's name."""
    if data_yaml.name.endswith("-mixed.yaml") and data_yaml.is_file():
        train = yaml.safe_load(data_yaml.read_text()).get("train") or []
        # <dataset>/images/train
        return list(dict.fromkeys(Path(d).parent.parent.name for d in train))
    return data_yaml.parent.name or None


def training_record(model, train_args: dict) -> dict:
    """What the card says about training: the dataset by name (scripts/train_models.py names
    simulated ones <view>-seed<S>-n<images>-s<render scale>), the settings (`model` is the
    yaml, or the .pt it was fine-tuned from), the final validation metrics."""
    record = {k: train_args.get(k) for k in ("epochs", "imgsz", "batch", "seed", "model", "fliplr")}
    if train_args.get("time"):
        record["time_h"] = train_args["time"]  # a time budget, which set the epochs above
    if isinstance(train_args.get("pretrained"), str):
        record["started_from"] = train_args["pretrained"]  # weights carried over from another model
    record["device"] = "cpu" if str(train_args.get("device", "cpu")) == "cpu" else "gpu"
    record["data"] = dataset_names(Path(str(train_args.get("data", ""))))
    if train_args.get("optimizer") not in (None, "auto"):
        record["optimizer"] = train_args["optimizer"]
        record["lr0"] = train_args.get("lr0")
    metrics = (getattr(model, "ckpt", None) or {}).get("train_metrics") or {}
    record["validation"] = {k: round(float(v), 4) for k, v in metrics.items() if k.startswith("metrics/")}
    return record


def export_view(view: str, weights: Path, out_dir: Path, imgsz: int | None) -> dict:
    model = load_pose_weights(view, weights)
    train_args = (getattr(model, "ckpt", None) or {}).get("train_args", {}) or {}
    # The close-up model reads crops of the size it was trained on (edge/training/closeup_crops.py).
    size = imgsz if imgsz and view != "closeup" else int(train_args.get("imgsz", 640))
    exported = Path(model.export(format="ncnn", imgsz=size, half=True, verbose=False))
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        shutil.copyfile(exported / name, out_dir / name)
    shutil.rmtree(exported)  # Ultralytics' own folder beside the weights; the copies are what ship
    card = {
        "view": view,
        "keypoints": list(MODEL_KEYPOINTS[view]),
        "input_px": size,
        "precision": "fp16 weights (NCNN, half=True)",
        "source_weights": {"path": str(weights), "sha256": sha256(weights)},
        "training": training_record(model, train_args),
        "files": {name: sha256(out_dir / name) for name in MODEL_FILES},
    }
    (out_dir / "card.yaml").write_text(yaml.safe_dump(card, sort_keys=False))
    return card


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--views", type=models, default=MODELS, help="comma-separated models: side,top,front,closeup (default: all)"
    )
    p.add_argument(
        "--weights",
        type=view_path,
        action="append",
        default=[],
        metavar="VIEW=best.pt",
        help="weights for a view (default: models/<view>/best.pt)",
    )
    p.add_argument(
        "--imgsz",
        type=int,
        help="the views' input size (default: the size each was trained at; the close-up model keeps its own)",
    )
    p.add_argument("--models", type=Path, default=ROOT / "models", help="output root, one folder per view")
    args = p.parse_args(argv)
    given = dict(args.weights)
    try:
        for view in args.views:
            card = export_view(view, given.get(view, args.models / view / "best.pt"), args.models / view, args.imgsz)
            print(
                f"{view}: {args.models / view} (input {card['input_px']} px, "
                f"bin sha256 {card['files']['model.ncnn.bin'][:12]})"
            )
    except WeightsError as exc:
        print(f"export_models: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
