"""Retrain the Pi's models on the farm's labels, then judge old and new on its held-out goats.

    .venv/bin/python scripts/retrain.py --config /etc/goatdev/edge.toml \\
        --datasets /data/farm-sets --out /data/candidate

One command for part 3 of the farm's loop (docs/farm-data.md). For each view that has the
farm's labels (the folders `goat-edge labels dataset` wrote):

1. Start from the models the daemon uses now (a promoted version, or the installed
   release's): their best.pt where it is the one the NCNN files were exported from (its
   card names the sha256), otherwise weights rebuilt from the NCNN files
   (scripts/weights_from_ncnn.py).
2. Fine-tune on the farm's train and validation goats mixed with simulated captures
   (scripts/train_models.py; --sim-count 0 for the farm's photos alone), at the input
   size the models use now.
3. Export to NCNN with a model card (scripts/export_models.py).

Views without labels, the close-up model and uncertainty.yaml are copied unchanged, so
--out is a complete set; the copied uncertainty.yaml names the old versions, so the new
set measures without a ± until --fit-uncertainty N (or scripts/fit_uncertainty.py) fits
one for it. Then both sets read the held-out goats' photos and the report
(comparison.md, comparison.png) says whether the new one is better; promote it with
`goat-edge models promote --config edge.toml --datasets ... <out>`, which judges again.

Uses the GPU when PyTorch finds one (--device auto), else the CPU, slowly. Everything it
makes while training lives in <out>.work, so running the same command again after an
interruption resumes; a finished run deletes it, so the next run starts afresh. Needs
the `train` extra (Ultralytics, PyTorch).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")  # before Ultralytics is imported anywhere

import export_models  # noqa: E402
import fit_uncertainty  # noqa: E402
import train_models  # noqa: E402
import weights_from_ncnn  # noqa: E402
import yaml  # noqa: E402

from edge.argtypes import non_negative_int, positive_float, positive_int, views  # noqa: E402
from edge.config import load_config  # noqa: E402
from edge.errors import GoatEdgeError  # noqa: E402
from edge.keypoints import MODELS, VIEWS  # noqa: E402
from edge.labels.compare import judge, plot, report_markdown, verdict  # noqa: E402
from edge.registry import Registry  # noqa: E402

EXTRAS = ("uncertainty.yaml",)


class RetrainError(GoatEdgeError):
    pass


def refuse_writing_over(out: Path, current: Path, registry_root: Path) -> None:
    out = out.resolve()
    for kept in (current.resolve(), registry_root.resolve()):
        if out == kept or out.is_relative_to(kept) or kept.is_relative_to(out):
            raise RetrainError(f"--out {out} would replace models kept in {kept}; choose a new folder")


def labelled_views(datasets: Path, chosen: tuple[str, ...]) -> list[str]:
    found = [v for v in chosen if (datasets / v / "data.yaml").is_file()]
    if not found:
        raise RetrainError(f"{datasets}: no <view>/data.yaml for {', '.join(chosen)}; write them with `labels dataset`")
    for view in found:
        data = yaml.safe_load((datasets / view / "data.yaml").read_text())
        for split, role in (("train", "train on"), ("val", "validate on")):
            if split not in data:
                raise RetrainError(f"{datasets / view}: no goats to {role}; write the dataset with more goats")
    return found


def starting_weights(view: str, current: Path, work: Path) -> Path:
    """The trainable weights of the model in use: its own best.pt, or rebuilt from NCNN."""
    own = current / view / "best.pt"
    card_path = current / view / "card.yaml"
    card = yaml.safe_load(card_path.read_text()) if card_path.is_file() else {}
    wanted = ((card or {}).get("source_weights") or {}).get("sha256")
    if own.is_file() and wanted == hashlib.sha256(own.read_bytes()).hexdigest():
        return own
    rebuilt = work / "start" / view / "best.pt"
    if not rebuilt.is_file():
        rebuilt.parent.mkdir(parents=True, exist_ok=True)
        gap_px = weights_from_ncnn.recover(view, current / view, rebuilt, images=16, tolerance_px=0.5)
        print(f"{view}: weights rebuilt from {current / view} (within {gap_px:.3f} input px)")
    return rebuilt


def input_px(model_dir: Path) -> int:
    return weights_from_ncnn.read_metadata(model_dir / "metadata.yaml").input_px


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def fine_tune(view: str, start: Path, args, work: Path, device: str, imgsz: int) -> Path:
    looks = ["--looks", ",".join(args.looks), "--count", str(args.sim_count)] if args.sim_count else ["--real-only"]
    code = train_models.main(
        [
            "--views", view, *looks,
            "--real-data", f"{view}={args.datasets / view / 'data.yaml'}",
            "--fine-tune", f"{view}={start}",
            "--epochs", str(args.epochs), "--imgsz", str(imgsz), "--batch", str(args.batch),
            "--patience", str(args.epochs), "--device", device, "--workers", str(args.workers),
            "--seed", str(args.seed), "--lr0", str(args.lr0), "--freeze", str(args.freeze),
            "--datasets", str(args.sim_datasets), "--runs", str(work / "runs"), "--models", str(work / "weights"),
            *(["--time-h", str(args.time_h)] if args.time_h else []),
        ]
    )  # fmt: skip
    if code:
        raise RetrainError(f"{view}: training failed (train_models exit {code})")
    return work / "weights" / view / "best.pt"


def assemble(current: Path, out: Path, retrained: dict[str, Path]) -> None:
    """The complete new set: retrained views exported, everything else as it is now."""
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for model in MODELS:
        if model not in retrained and (current / model).is_dir():
            shutil.copytree(current / model, partial / model)
    for extra in EXTRAS:
        if (current / extra).is_file():
            # The uncertainty was fitted for the old models' versions; the new ones do not
            # match it, so the daemon leaves it unused until it is fitted again.
            shutil.copy2(current / extra, partial / extra)
    for view, weights in retrained.items():
        card = export_models.export_view(view, weights, partial / view, None)
        print(f"{view}: exported ({card['input_px']} px)")
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)


def fit_new_sets_uncertainty(out: Path, datasets: Path, count: int, work: Path) -> None:
    """The ± of the new set, fitted for its own versions (docs/farm-data.md, step 4)."""
    argv = ["--models", str(out), "--farm", str(datasets), "--count", str(count)]
    code = fit_uncertainty.main([*argv, "--records", str(work / "tuning.jsonl")])
    if code:
        raise RetrainError(f"fitting the new set's ± failed (fit_uncertainty exit {code})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, required=True, help="the daemon's edge.toml")
    p.add_argument("--datasets", type=Path, required=True, help="the folder `goat-edge labels dataset` wrote")
    p.add_argument("--out", type=Path, required=True, help="where the new model set goes (replaced if it exists)")
    p.add_argument("--views", type=views, default=VIEWS, help="views to retrain, where labelled (default: all)")
    p.add_argument("--epochs", type=positive_int, default=30)
    p.add_argument("--time-h", type=positive_float, help="training time per view in hours; overrides --epochs")
    p.add_argument("--sim-count", type=non_negative_int, default=200, help="simulated images per view and look")
    p.add_argument("--looks", type=train_models.looks, default=("standard", "varied"), help="simulated looks")
    p.add_argument("--sim-datasets", type=Path, help="where simulated datasets are kept (default: <out>.work/sim)")
    p.add_argument("--batch", type=positive_int, default=8)
    p.add_argument("--lr0", type=positive_float, default=0.0005, help="AdamW's learning rate")
    p.add_argument(
        "--freeze",
        type=non_negative_int,
        default=0,
        help="layers kept as they are (10: the backbone); a farm's coats and light differ from the "
        "simulator's in what the backbone reads, so by default it learns too (docs/farm-data.md)",
    )
    p.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu, or a GPU index")
    p.add_argument("--workers", type=positive_int, default=min(8, os.cpu_count() or 1))
    p.add_argument("--seed", type=non_negative_int, default=1)
    p.add_argument(
        "--fit-uncertainty",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="fit the new set's ± on N simulated tuning captures of each learnt look, scaled to the "
        "farm's validation photos (scripts/fit_uncertainty.py --farm); 0 (default): the new set "
        "measures without a ± until one is fitted",
    )
    args = p.parse_args(argv)
    work = args.out.with_name(args.out.name + ".work")
    args.sim_datasets = args.sim_datasets or work / "sim"
    try:
        config = load_config(args.config)
        registry = Registry(Path(config.storage.data_dir) / "models")
        current = registry.active_dir(config.models.dir)
        refuse_writing_over(args.out, current, registry.root)
        device = resolve_device(args.device)
        retrained = {}
        for view in labelled_views(args.datasets, args.views):
            start = starting_weights(view, current, work)
            retrained[view] = fine_tune(view, start, args, work, device, input_px(current / view))
        assemble(current, args.out, retrained)
        comparisons, taped = judge(current, args.out, args.datasets, config)
        if args.fit_uncertainty:
            fit_new_sets_uncertainty(args.out, args.datasets, args.fit_uncertainty, work)
    except (
        GoatEdgeError,
        train_models.TrainingError,
        weights_from_ncnn.RecoveryError,
        export_models.WeightsError,
        OSError,
    ) as exc:
        print(f"retrain: error: {exc}", file=sys.stderr)
        return 2
    # The run is complete: the next one (more labels, other settings) starts afresh.
    shutil.rmtree(work, ignore_errors=True)
    (args.out / "comparison.md").write_text(report_markdown(comparisons, current, args.out, taped))
    plot(comparisons, args.out / "comparison.png")
    better, why = verdict(comparisons)
    print(f"{'new is better' if better else 'new is not better'}: {why}")
    print(f"report: {args.out / 'comparison.md'}")
    if better:
        print(f"promote it: goat-edge models promote --config {args.config} --datasets {args.datasets} {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
