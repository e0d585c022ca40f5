"""Rebuild a model's trainable best.pt from its NCNN export, to fine-tune a shipped model.

    .venv/bin/python scripts/weights_from_ncnn.py --views top      # models/top/best.pt

The repository ships each view's model as NCNN (models/<view>/model.ncnn.*), not the
PyTorch weights it was exported from, and the export is one way. Fine-tuning the shipped
models on more simulated captures or on a farm's own photos (scripts/train_models.py
--fine-tune top=models/top/best.pt) needs those weights back:

1. Read every convolution's weights and bias from model.ncnn.bin, in the order of
   model.ncnn.param.
2. Build yolo11n-pose with the view's keypoints and put them into its convolutions, in
   the order the network runs them (the export folded each batch norm into the
   convolution before it, so each batch norm starts as the identity plus that bias).
3. Give each batch norm the mean and spread of its input over simulated captures, scaled
   so the network computes the same as before: training normalises by those, so the first
   training steps start from the shipped model instead of from a rescaled one.
4. Check that the rebuilt weights read the same captures as the NCNN model (keypoints
   within --tolerance-px in the model's input) and write best.pt.

An existing best.pt (a farm's own, or one trained here) is not overwritten without --force.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")

import numpy as np  # noqa: E402
from pose_weights import MODEL_YAML  # noqa: E402

from edge.argtypes import models, positive_int  # noqa: E402
from edge.detect.closeup import REGIONS, closeup_window, crop  # noqa: E402
from edge.detect.letterbox import letterbox  # noqa: E402
from edge.detect.ncnn_pose import ModelFileError, NcnnPoseModel, read_metadata  # noqa: E402
from edge.keypoints import MODEL_KEYPOINTS, MODELS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# ncnn's tags in front of a weight blob (src/modelbin.cpp): fp16 values, or plain fp32.
_FP16_TAG, _FP32_TAG = 0x01306B47, 0
CALIBRATION_SEED = 7_000_000_000  # simulated captures for the batch norms' statistics


class RecoveryError(Exception):
    pass


@dataclass(frozen=True)
class NcnnConv:
    name: str
    weight: np.ndarray  # (out, in / groups, kh, kw)
    bias: np.ndarray | None
    groups: int


class _BlobReader:
    def __init__(self, path: Path):
        self.path, self.data, self.pos = path, path.read_bytes(), 0

    def _take(self, nbytes: int) -> int:
        if self.pos + nbytes > len(self.data):
            raise RecoveryError(f"{self.path}: ends early; the param file describes more weights")
        start, self.pos = self.pos, self.pos + nbytes
        return start

    def tagged(self, count: int) -> np.ndarray:
        tag = struct.unpack_from("<I", self.data, self._take(4))[0]
        if tag == _FP16_TAG:
            start = self._take((2 * count + 3) // 4 * 4)  # blobs are padded to 4 bytes
            return np.frombuffer(self.data, np.float16, count, start).astype(np.float32)
        if tag == _FP32_TAG:
            return self.raw(count)
        raise RecoveryError(f"{self.path}: weights stored as {tag:#x} (quantised?); only fp16 and fp32 are read")

    def raw(self, count: int) -> np.ndarray:
        return np.frombuffer(self.data, np.float32, count, self._take(4 * count))


def _layer_params(fields: list[str]) -> tuple[str, str, dict[str, str]]:
    kind, name, n_in, n_out = fields[0], fields[1], int(fields[2]), int(fields[3])
    params = dict(kv.split("=", 1) for kv in fields[4 + n_in + n_out :])
    return kind, name, params


def read_ncnn_convs(param_path: Path, bin_path: Path) -> list[NcnnConv]:
    """Every convolution of an NCNN model, in the param file's order."""
    blobs = _BlobReader(bin_path)
    convs = []
    for line in param_path.read_text().splitlines()[2:]:
        if not line.strip():
            continue
        kind, name, p = _layer_params(line.split())
        if kind in ("Convolution", "ConvolutionDepthWise"):
            out, kw = int(p["0"]), int(p["1"])
            kh = int(p.get("11", kw))
            weight = blobs.tagged(int(p["6"]))
            bias = blobs.raw(out) if p.get("5", "0") == "1" else None
            convs.append(NcnnConv(name, weight.reshape(out, -1, kh, kw), bias, int(p.get("7", 1))))
        elif kind == "MemoryData":  # constants such as the anchor grid: skipped, but they take bytes
            w, h, c = (max(int(p.get(k, 0)), 1) for k in ("0", "1", "2"))
            blobs.raw(w * h * c)
        elif kind not in _LAYERS_WITHOUT_WEIGHTS:
            raise RecoveryError(f"{param_path}: layer {name} of type {kind} is not one yolo11n-pose exports")
    if blobs.pos != len(blobs.data):
        raise RecoveryError(
            f"{bin_path}: {len(blobs.data) - blobs.pos} bytes left over; the param file does not describe this bin file"
        )
    return convs


_LAYERS_WITHOUT_WEIGHTS = {
    "Input",
    "Swish",
    "Sigmoid",
    "Softmax",
    "Slice",
    "Split",
    "Concat",
    "BinaryOp",
    "Pooling",
    "Interp",
    "Reshape",
    "Permute",
    "MatMul",
}


def build_model(view: str):
    from ultralytics.nn.tasks import PoseModel

    model = PoseModel(MODEL_YAML, nc=1, data_kpt_shape=(len(MODEL_KEYPOINTS[view]), 3), verbose=False)
    model.names = {0: "goat"}
    return model.eval()


def convs_in_running_order(model, input_px: int) -> list:
    """(Conv2d, the BatchNorm2d after it or None), in the order the network runs them."""
    import torch

    norms = {id(m.conv): m.bn for m in model.modules() if hasattr(m, "conv") and hasattr(m, "bn")}
    order = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: order.append(m))
        for m in model.modules()
        if isinstance(m, torch.nn.Conv2d)
    ]
    with torch.no_grad():
        model(torch.zeros(1, 3, input_px, input_px))
    for h in hooks:
        h.remove()
    return [(conv, norms.get(id(conv))) for conv in order]


def load_folded(pairs: list, convs: list[NcnnConv]) -> None:
    """Each NCNN convolution into its PyTorch one; a batch norm becomes the identity plus the
    folded bias."""
    import torch

    if len(pairs) != len(convs):
        raise RecoveryError(f"the NCNN model has {len(convs)} convolutions, {MODEL_YAML} {len(pairs)}")
    for k, ((conv, bn), exported) in enumerate(zip(pairs, convs)):
        if tuple(conv.weight.shape) != exported.weight.shape or conv.groups != exported.groups:
            raise RecoveryError(
                f"convolution {k} ({exported.name}) is {exported.weight.shape} in NCNN but "
                f"{tuple(conv.weight.shape)} in {MODEL_YAML}: not a yolo11n-pose export"
            )
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(exported.weight.copy()))
            bias = (
                torch.from_numpy(exported.bias.copy()) if exported.bias is not None else torch.zeros(conv.out_channels)
            )
            if bn is not None:
                bn.weight.fill_(1.0)
                bn.bias.copy_(bias)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
            elif conv.bias is not None:
                conv.bias.copy_(bias)


def calibrate_norms(model, pairs: list, batch) -> None:
    """Each batch norm's running statistics from its input on `batch`, with its scale and
    shift changed to match, so the network still computes the same."""
    import torch

    stats = {}

    def record(conv, _inputs, output):
        flat = output.detach().transpose(0, 1).reshape(output.shape[1], -1)
        stats[id(conv)] = (flat.mean(1), flat.var(1))

    hooks = [conv.register_forward_hook(record) for conv, bn in pairs if bn is not None]
    with torch.no_grad():
        model(batch)
    for h in hooks:
        h.remove()
    with torch.no_grad():
        for conv, bn in pairs:
            if bn is None:
                continue
            mean, var = stats[id(conv)]
            # y = bn.weight * (x - mean) / sqrt(var + eps) + bn.bias = x + folded bias
            bn.bias.add_(mean)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)


def calibration_images(view: str, count: int, input_px: int) -> list[np.ndarray]:
    """Letterboxed BGR renders of simulated captures, as the training data is rendered; for
    the close-up model, crops around each of its regions (the top photo's rump and chest, the
    side photo's chest) of full-resolution photos, in turn."""
    from edge.sim.capture import simulate_capture

    if view != "closeup":
        return [
            letterbox(simulate_capture(CALIBRATION_SEED + i, scale=0.5).images[view], input_px)[0] for i in range(count)
        ]
    crops = []
    for i in range(count):
        region = REGIONS[i % len(REGIONS)]
        capture = simulate_capture(CALIBRATION_SEED + i, views=(region.view,))
        truth = capture.labels[region.view][0].keypoints.keypoints[region.view_index, :2] + 0.5
        crops.append(crop(capture.images[region.view], closeup_window(truth, input_px)))
    return crops


def as_batch(images: list[np.ndarray]):
    import torch

    rgb = np.stack([im[..., ::-1].transpose(2, 0, 1) for im in images]).astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(rgb))


def keypoint_gap_px(model, ncnn_model: NcnnPoseModel, images: list[np.ndarray], view: str) -> float:
    """The largest gap, in input pixels, between the two models' keypoints at each image's best box."""
    import torch

    k = len(MODEL_KEYPOINTS[view])
    with torch.no_grad():
        ours = model(as_batch(images))[0].numpy()
    worst = 0.0
    for out, image in zip(ours, images):
        theirs = ncnn_model.raw_output(image)
        best = int(np.argmax(theirs[4]))
        a = out[5:, best].reshape(k, 3)[:, :2]
        b = theirs[5:, best].reshape(k, 3)[:, :2]
        worst = max(worst, float(np.abs(a - b).max()))
    return worst


def save(model, path: Path, input_px: int, source: Path) -> None:
    import torch
    from ultralytics import __version__

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "model": model,
            "train_args": {"task": "pose", "model": MODEL_YAML, "imgsz": input_px},
            "version": __version__,
            "recovered_from": str(source),
        },
        path,
    )


def recover(view: str, model_dir: Path, out: Path, images: int, tolerance_px: float) -> float:
    input_px = read_metadata(model_dir / "metadata.yaml").input_px
    model = build_model(view)
    pairs = convs_in_running_order(model, input_px)
    load_folded(pairs, read_ncnn_convs(model_dir / "model.ncnn.param", model_dir / "model.ncnn.bin"))
    renders = calibration_images(view, images, input_px)
    calibrate_norms(model, pairs, as_batch(renders))
    ncnn_model = NcnnPoseModel(model_dir, threads=2)
    try:
        gap_px = keypoint_gap_px(model, ncnn_model, renders, view)
    finally:
        ncnn_model.close()
    if gap_px > tolerance_px:
        raise RecoveryError(
            f"{view}: rebuilt weights read keypoints up to {gap_px:.2f} px from the NCNN "
            f"model's (allowed {tolerance_px}); not written"
        )
    save(model, out, input_px, model_dir)
    return gap_px


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--views", type=models, default=MODELS, help="models to rebuild: side,top,front,closeup")
    p.add_argument("--models", type=Path, default=ROOT / "models", help="folder with <view>/model.ncnn.*")
    p.add_argument(
        "--images", type=positive_int, default=32, help="simulated captures for the batch norms and the check"
    )
    p.add_argument(
        "--tolerance-px",
        type=float,
        default=0.5,
        help="largest keypoint gap to the NCNN model allowed, in input pixels",
    )
    p.add_argument("--force", action="store_true", help="replace an existing best.pt")
    args = p.parse_args(argv)
    for view in args.views:
        out = args.models / view / "best.pt"
        if out.exists() and not args.force:
            print(f"{out} exists (a farm's own or a trained one?); --force replaces it", file=sys.stderr)
            return 2
        try:
            gap_px = recover(view, args.models / view, out, args.images, args.tolerance_px)
        except (RecoveryError, ModelFileError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{view}: {out} (keypoints within {gap_px:.4f} input px of the NCNN model's)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
