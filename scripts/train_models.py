"""Train the three per-view YOLO pose models, from the chute simulator and/or real photos.

    .venv/bin/python scripts/train_models.py --views side,top,front --count 2000 --epochs 40

For each view: make (or reuse) a simulated dataset, train yolo11n-pose from its yaml (no
download, YOLO_OFFLINE=1), and copy the best weights to models/<view>/best.pt, where
scripts/export_models.py picks them up. Training resumes where it stopped: run the same
command again after an interruption. A farm's own labelled photos (a YOLO-pose dataset
yaml with the view's keypoints, docs/keypoints.md) train instead of the simulated data
(--real-only) or mixed with it, from scratch or fine-tuning existing weights (--fine-tune).

Needs the `train` extra (Ultralytics, PyTorch); the daemon never imports them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")  # before Ultralytics is imported anywhere

import yaml  # noqa: E402
from pose_weights import MODEL_YAML, WeightsError, load_pose_weights  # noqa: E402

from edge.argtypes import models, non_negative_int, positive_float, positive_int, scale, view_path  # noqa: E402
from edge.keypoints import MODEL_KEYPOINTS, MODELS, flip_idx  # noqa: E402
from edge.sim.looks import look_named, training_looks  # noqa: E402
from edge.training.closeup_crops import CLOSEUP_INPUT_PX  # noqa: E402
from edge.training.dataset import make_dataset, simulated_dataset_name, split_dirs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Goats in the chute always face the front gate, so a left-right mirror of the side or top
# view shows an animal the cameras never see (head on the wrong side). A first side model
# trained with mirroring (800 images, 20 epochs, 320 px) confused the two ends of the
# animal in many held-out captures (nose at the tail end, or tail head and hind hoof at the
# head end). Trained again without mirroring, it made no such mistake (pose mAP50-95 0.97
# against 0.53; benchmarks/RESULTS.md). The front view's mirror is a real goat with
# left and right swapped (flip_idx), so it keeps the augmentation.
FLIP_LR = {"side": 0.0, "top": 0.0, "front": 0.5, "closeup": 0.0}
# The close-up model reads one rump or chest per crop, always at about the photo's own
# scale (edge/detect/closeup.py): a mosaic of four crops, or a goat at half or twice its size, is
# nothing it will see; and its keypoints are all it is for, so their loss counts double
# (Ultralytics' pose gain, 12 by default). The views' models keep Ultralytics' defaults.
MODEL_SETTINGS = {"closeup": {"mosaic": 0.0, "scale": 0.15, "translate": 0.05, "pose": 24.0}}


class TrainingError(Exception):
    pass


def simulated_dataset(view: str, args, look: str = "standard") -> Path:
    """The simulated dataset for this view, seed and look, made once and reused after."""
    scale = 1.0 if view == "closeup" else args.scale  # close-ups come from the full-resolution photo
    out = args.datasets / simulated_dataset_name(view, args.seed, args.count, scale, look)
    if not (out / "data.yaml").exists():
        summary = make_dataset(out, view, args.count, args.seed, scale=scale, workers=args.workers, look=look)
        print(f"{view}: simulated {summary.images} images ({look} look) in {summary.seconds:.0f} s")
    return out / "data.yaml"


def check_real_dataset(view: str, data_yaml: Path) -> dict:
    """A farm's dataset must label exactly this view's keypoints, in this order."""
    if not data_yaml.is_file():
        raise TrainingError(f"{data_yaml}: dataset yaml not found")
    try:
        data = yaml.safe_load(data_yaml.read_text())
    except yaml.YAMLError as exc:
        raise TrainingError(f"{data_yaml}: not valid YAML ({exc})") from None
    k = len(MODEL_KEYPOINTS[view])
    if not isinstance(data, dict) or data.get("kpt_shape") != [k, 3]:
        got = data.get("kpt_shape") if isinstance(data, dict) else None
        raise TrainingError(
            f"{data_yaml}: kpt_shape is {got}, but the {view} model needs [{k}, 3] "
            f"(keypoints in the order of docs/keypoints.md)"
        )
    for split in ("train", "val"):
        missing = [d for d in split_dirs(data_yaml, data, split) if not Path(d).exists()]
        if missing:
            raise TrainingError(f"{data_yaml}: {split} folder {missing[0]} not found")
    return data


def training_yaml(view: str, args, run_dir: Path) -> Path:
    """The dataset yaml Ultralytics trains on: simulated, real, or both listed together."""
    sources = []
    if not args.real_only:
        for look in args.looks:
            sim = simulated_dataset(view, args, look)
            sources.append((sim, yaml.safe_load(sim.read_text())))
    for real_view, path in args.real_data:
        if real_view == view:
            sources.append((path, check_real_dataset(view, path)))
    if not sources:
        raise TrainingError(f"{view}: --real-only needs a --real-data {view}=data.yaml")
    if len(sources) == 1:
        return sources[0][0]
    merged = {
        "train": [d for p, data in sources for d in split_dirs(p, data, "train")],
        "val": [d for p, data in sources for d in split_dirs(p, data, "val")],
        "names": {0: "goat"},
        "kpt_shape": [len(MODEL_KEYPOINTS[view]), 3],
        "flip_idx": flip_idx(view),
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / f"{view}-mixed.yaml"
    path.write_text(yaml.safe_dump(merged, sort_keys=False))
    return path


def optional_settings(args) -> dict:
    """Optional Ultralytics settings: a time budget per view (it then fits the epochs and the
    learning-rate schedule to the hours given), image caching in RAM, which matters on a
    GPU, where decoding JPEGs for the augmentation is what limits the speed, and, for
    fine-tuning on a few photos, a lower learning rate and a frozen backbone."""
    extra = {}
    if args.time_h is not None:
        extra["time"] = args.time_h
    if args.cache != "none":
        extra["cache"] = args.cache
    if args.lr0 is not None:
        # Ultralytics starts the biases' warm-up at 0.1 for an optimizer it did not choose
        # itself, which in a few steps undoes what the --fine-tune weights knew; and it adds
        # up the gradients of 64 images before each step, which leaves a farm's few dozen
        # photos a handful of steps in all (nbs: every batch is a step).
        extra.update(optimizer="AdamW", lr0=args.lr0, warmup_bias_lr=0.0, nbs=args.batch)
    if args.freeze:
        extra["freeze"] = args.freeze
    return extra


def starting_model(view: str, args):
    """The model to train and Ultralytics' `pretrained`: the --fine-tune weights; for the close-up
    model without them, the top model's (models/top/best.pt), of which all but the keypoint
    head carries over, as it already knows a goat seen from above; else from scratch."""
    from ultralytics import YOLO

    start = dict(args.fine_tune).get(view)
    if start is not None:
        print(f"{view}: fine-tuning {start}")
        return load_pose_weights(view, start), True
    top = args.models / "top" / "best.pt"
    if view == "closeup" and top.is_file():
        load_pose_weights("top", top)  # names the problem if it is not a top model
        print(f"{view}: starting from {top} (all but its keypoint head)")
        return YOLO(MODEL_YAML), str(top)
    return YOLO(MODEL_YAML), False


def train_view(view: str, args) -> Path:
    from ultralytics import YOLO  # the train extra; imported only when training

    run = args.runs / view
    last = run / "weights" / "last.pt"
    done = run / "finished"
    if done.exists():
        print(f"{view}: already trained ({run}); delete {done} to train again")
    elif last.exists():
        print(f"{view}: resuming from {last}")
        YOLO(str(last)).train(resume=True)
        done.write_text("ok\n")
    else:
        data = training_yaml(view, args, args.runs)
        model, pretrained = starting_model(view, args)
        # amp=False: Ultralytics' mixed-precision self-check downloads a model, which an
        # offline machine cannot, and a nano model at 320 px does not need it even on a GPU.
        settings = {"fliplr": FLIP_LR[view], "mosaic": 1.0, **MODEL_SETTINGS.get(view, {}), **optional_settings(args)}
        if pretrained is True:  # fine-tuning trained weights: three epochs of warm-up would mostly undo them
            settings["warmup_epochs"] = 1
        model.train(
            data=str(data),
            epochs=args.epochs,
            imgsz=CLOSEUP_INPUT_PX if view == "closeup" else args.imgsz,
            batch=args.batch,
            device=args.device,
            workers=args.workers,
            project=str(args.runs.resolve()),
            name=view,
            exist_ok=True,
            pretrained=pretrained,
            amp=False,
            plots=False,
            seed=args.seed,
            deterministic=True,
            patience=args.patience,
            verbose=False,
            **settings,
        )
        done.write_text("ok\n")
    best = run / "weights" / "best.pt"
    target = args.models / view / "best.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(best, target)
    print(f"{view}: {target}")
    return target


def looks(text: str) -> tuple[str, ...]:
    """Comma-separated looks; the held-out and tuning looks are never trained on."""
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    for name in names:
        try:
            look = look_named(name)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if look.kept_from_training:
            raise argparse.ArgumentTypeError(f"look {name!r} is {look.kept_from_training} and may not train them")
    if not names:
        raise argparse.ArgumentTypeError("name at least one look")
    return names


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--views",
        type=models,
        default=MODELS,
        help="models to train, in this order: side,top,front,closeup (default: all)",
    )
    p.add_argument("--count", type=positive_int, default=2000, help="simulated images per view")
    p.add_argument("--seed", type=non_negative_int, default=1, help="simulated dataset seed")
    p.add_argument(
        "--looks",
        type=looks,
        default=("standard",),
        help="simulated looks to train on, --count images of each (edge/sim/looks.py): " + ", ".join(training_looks()),
    )
    p.add_argument("--scale", type=scale, default=0.5, help="render scale of the 1280x960 cameras")
    p.add_argument("--epochs", type=positive_int, default=40)
    p.add_argument(
        "--imgsz",
        type=positive_int,
        default=640,
        help=f"the views' model input size, a multiple of 32 (the close-up model reads {CLOSEUP_INPUT_PX}-px crops)",
    )
    p.add_argument("--batch", type=positive_int, default=16)
    p.add_argument("--patience", type=positive_int, default=20)
    p.add_argument("--device", default="cpu", help="cpu, or a GPU index such as 0")
    p.add_argument(
        "--time-h",
        type=positive_float,
        default=None,
        help="training time per view in hours; overrides --epochs (default: train --epochs)",
    )
    p.add_argument(
        "--cache",
        choices=("none", "ram", "disk"),
        default="none",
        help="cache decoded images (ram is fastest on a GPU)",
    )
    p.add_argument(
        "--lr0",
        type=positive_float,
        help="AdamW's learning rate (default: Ultralytics' choice); lower keeps more of --fine-tune weights",
    )
    p.add_argument(
        "--freeze",
        type=non_negative_int,
        default=0,
        help="layers kept as they are (10: the backbone, for a small farm dataset)",
    )
    p.add_argument("--workers", type=positive_int, default=min(8, os.cpu_count() or 1))
    p.add_argument(
        "--real-data",
        type=view_path,
        action="append",
        default=[],
        metavar="VIEW=DATA.yaml",
        help="a farm's labelled YOLO-pose dataset for a view (repeat per view)",
    )
    p.add_argument(
        "--fine-tune",
        type=view_path,
        action="append",
        default=[],
        metavar="VIEW=best.pt",
        help="start a view from these weights (such as the shipped or the farm's best.pt) instead of from scratch",
    )
    p.add_argument("--real-only", action="store_true", help="train on --real-data alone, no simulated images")
    p.add_argument("--datasets", type=Path, default=ROOT / "datasets", help="where simulated datasets are kept")
    p.add_argument("--runs", type=Path, default=ROOT / "runs" / "pose", help="Ultralytics run folders")
    p.add_argument("--models", type=Path, default=ROOT / "models", help="where best.pt is copied, per view")
    args = p.parse_args(argv)
    if args.imgsz % 32:
        p.error(f"--imgsz must be a multiple of 32, got {args.imgsz}")
    try:
        for view in args.views:
            train_view(view, args)
    except (TrainingError, WeightsError) as exc:
        print(f"train_models: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
