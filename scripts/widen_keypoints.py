"""Give a trained YOLO-pose model more keypoints without forgetting the ones it knows.

    .venv/bin/python scripts/widen_keypoints.py models/closeup/best.pt --keypoints 10 \
        --copy-from 6,7 --out start10.pt

The new model predicts its first K keypoints exactly as the old one did (checked on a
random image before saving); the new keypoints' output rows start as copies of the
keypoints named by --copy-from, so that training starts from a guess of the right kind
(a point on the outline, say) instead of from noise. Train the result with
scripts/train_models.py --fine-tune VIEW=start.pt, on data labelled with the new keypoint list
(edge/keypoints.py). This is how the close-up model grew from the rump model (6 -> 8
keypoints: the shoulders) and then took the side photo's chest (8 -> 10: withers and
sternum); see models/README.md.

The pose head's last layers (cv4) end in a 1x1 convolution with 3 rows per keypoint;
its hidden width is max(channels / 4, 3 K), so it widens too: the old channels keep
their weights, the new ones start as Ultralytics initialises them, and the output rows
ignore them until training has moved them.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")


def widen(old, keypoints: int, copy_from: list[int]):
    """A PoseModel like `old` with `keypoints` keypoints; see the module docstring."""
    import torch
    from ultralytics.nn.tasks import PoseModel

    k_old = old.model[-1].kpt_shape[0]
    cfg = copy.deepcopy(old.yaml)
    cfg["kpt_shape"] = [keypoints, 3]
    new = PoseModel(cfg, ch=3, nc=1, verbose=False)
    new_state = new.state_dict()
    for name, value in old.state_dict().items():
        if name in new_state and new_state[name].shape == value.shape:
            new_state[name] = value.clone()
    new.load_state_dict(new_state)
    rows_old = 3 * k_old
    with torch.no_grad():
        for head_old, head_new in zip(old.model[-1].cv4, new.model[-1].cv4):
            for conv_old, conv_new in ((head_old[0], head_new[0]), (head_old[1], head_new[1])):
                hidden, inputs = conv_old.conv.weight.shape[:2]
                conv_new.conv.weight[:hidden, :inputs] = conv_old.conv.weight
                conv_new.conv.weight[:hidden, inputs:] = 0  # the old channels ignore the new ones
                for attr in ("weight", "bias", "running_mean", "running_var"):
                    getattr(conv_new.bn, attr)[:hidden] = getattr(conv_old.bn, attr)
            out_old, out_new = head_old[2], head_new[2]
            hidden = out_old.weight.shape[1]
            out_new.weight.zero_()
            out_new.weight[:rows_old, :hidden] = out_old.weight
            out_new.bias[:rows_old] = out_old.bias
            for i, source in enumerate(copy_from):
                rows_to, rows_from = slice(rows_old + 3 * i, rows_old + 3 * i + 3), slice(3 * source, 3 * source + 3)
                out_new.weight[rows_to, :hidden] = out_old.weight[rows_from]
                out_new.bias[rows_to] = out_old.bias[rows_from]
    return new


def max_difference(old, new, input_px: int) -> float:
    """How far the widened model's boxes, scores and old keypoints drift from the old model's."""
    import torch

    old.eval()
    new.eval()
    x = torch.rand(1, 3, input_px, input_px)
    with torch.no_grad():
        y_old, y_new = old(x)[0], new(x)[0]
    return float((y_old - y_new[:, : y_old.shape[1]]).abs().max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", type=Path, help="a trained YOLO-pose .pt")
    parser.add_argument("--keypoints", type=int, required=True, help="the new model's keypoint count")
    parser.add_argument(
        "--copy-from",
        required=True,
        help="comma-separated indices of old keypoints whose rows each new keypoint starts from",
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--input-px", type=int, default=256, help="image size of the check")
    args = parser.parse_args(argv)

    import torch

    try:
        copy_from = [int(i) for i in args.copy_from.split(",")]
    except ValueError:
        parser.error(f"--copy-from: {args.copy_from!r} is not a comma-separated list of keypoint indices")
    if not args.weights.is_file():
        parser.error(f"{args.weights}: no such file")
    checkpoint = torch.load(args.weights, map_location="cpu", weights_only=False)
    old = (checkpoint.get("ema") or checkpoint["model"]).float()
    k_old = old.model[-1].kpt_shape[0]
    if args.keypoints - k_old != len(copy_from):
        parser.error(
            f"{args.weights} has {k_old} keypoints: widening to {args.keypoints} adds "
            f"{args.keypoints - k_old}, but --copy-from names {len(copy_from)}"
        )
    if any(not 0 <= i < k_old for i in copy_from):
        parser.error(f"--copy-from: indices must lie in 0..{k_old - 1}")
    new = widen(old, args.keypoints, copy_from)
    drift = max_difference(old, new, args.input_px)
    if drift > 1e-3:
        print(f"widen_keypoints: error: the old outputs moved by {drift:.3g}", file=sys.stderr)
        return 1
    # Ultralytics takes a checkpoint's task from its train_args, and without one trains a
    # detector: the keypoints would not learn at all.
    torch.save(
        {
            "model": new,
            "ema": None,
            "train_args": {"task": "pose"},
            "date": checkpoint.get("date"),
            "version": checkpoint.get("version"),
        },
        args.out,
    )
    print(f"{args.out}: {k_old} -> {args.keypoints} keypoints; old outputs unchanged (max drift {drift:.2g})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
