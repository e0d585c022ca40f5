"""A YOLO pose model exported to NCNN, run with the `ncnn` package alone (no PyTorch).

A model folder holds what Ultralytics' NCNN export writes: model.ncnn.param,
model.ncnn.bin and metadata.yaml (input size, kpt_shape, class names).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from edge.detect.decode import decode_pose
from edge.detect.letterbox import letterbox
from edge.detect.types import PoseDetection
from edge.errors import GoatEdgeError

MODEL_FILES = ("model.ncnn.param", "model.ncnn.bin", "metadata.yaml")


class ModelFileError(GoatEdgeError):
    """A model folder is missing a file or holds a corrupt one; the message names it."""


@dataclass(frozen=True)
class ModelInfo:
    input_px: int
    num_keypoints: int
    names: dict[int, str]


def read_metadata(path: Path) -> ModelInfo:
    try:
        meta = yaml.safe_load(path.read_text())
        imgsz = meta["imgsz"]
        input_px = int(imgsz[0] if isinstance(imgsz, list) else imgsz)
        num_keypoints = int(meta["kpt_shape"][0])
        names = {int(k): str(v) for k, v in meta["names"].items()}
    except FileNotFoundError:
        raise ModelFileError(f"{path}: model metadata not found") from None
    except (yaml.YAMLError, KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ModelFileError(f"{path}: not a pose model's metadata ({type(exc).__name__}: {exc})") from None
    return ModelInfo(input_px, num_keypoints, names)


class NcnnPoseModel:
    """Loads once, then predicts pose detections in the original image's pixels."""

    def __init__(self, model_dir: str | Path, threads: int = 2, allocators=None, *, winograd: bool = False):
        """allocators: an optional (blob, workspace) pair of ncnn allocators shared with
        other models; whoever made them must close every model before freeing them.

        winograd: ncnn's Winograd convolutions keep a transformed copy of every 3x3 kernel,
        trading memory for inference time. Off by default: the daemon's memory budget is
        the tighter of the two (benchmarks/RESULTS.md)."""
        import ncnn  # imported here so that tools which never run a model need not load it

        self.model_dir = Path(model_dir)
        for name in MODEL_FILES:
            if not (self.model_dir / name).is_file():
                raise ModelFileError(f"{self.model_dir / name}: model file not found")
        self.info = read_metadata(self.model_dir / "metadata.yaml")
        self._ncnn = ncnn
        self._net = ncnn.Net()
        self._net.opt.use_vulkan_compute = False
        self._net.opt.num_threads = threads
        self._net.opt.use_winograd_convolution = winograd
        if allocators is not None:
            self._net.opt.blob_allocator, self._net.opt.workspace_allocator = allocators
        # ncnn returns non-zero (and prints) instead of raising on a bad file.
        if self._net.load_param(str(self.model_dir / "model.ncnn.param")) != 0:
            raise ModelFileError(f"{self.model_dir / 'model.ncnn.param'}: corrupt NCNN param file")
        if self._net.load_model(str(self.model_dir / "model.ncnn.bin")) != 0:
            raise ModelFileError(f"{self.model_dir / 'model.ncnn.bin'}: corrupt NCNN weights file")
        self._input_name = self._net.input_names()[0]
        self._output_name = sorted(self._net.output_names())[0]
        self._check_output_shape()

    def close(self) -> None:
        """Free the network (its weights and any memory it holds from shared allocators)."""
        self._net.clear()

    def _check_output_shape(self) -> None:
        out = self.raw_output(np.full((self.info.input_px, self.info.input_px, 3), 114, np.uint8))
        rows = 5 + 3 * self.info.num_keypoints
        if out.ndim != 2 or out.shape[0] != rows:
            raise ModelFileError(
                f"{self.model_dir}: output shape {out.shape} does not match "
                f"{self.info.num_keypoints} keypoints in metadata.yaml"
            )

    def raw_output(self, padded_bgr: np.ndarray) -> np.ndarray:
        """The network's out0 for an already letterboxed BGR image."""
        chw = np.ascontiguousarray(padded_bgr[..., ::-1].transpose(2, 0, 1), dtype=np.float32) / 255.0
        with self._net.create_extractor() as ex:
            ex.input(self._input_name, self._ncnn.Mat(chw))
            ret, out = ex.extract(self._output_name)
        if ret != 0:
            raise ModelFileError(f"{self.model_dir}: inference failed (ncnn error {ret})")
        return np.array(out)

    def predict(
        self,
        image_bgr: np.ndarray,
        *,
        conf_threshold: float = 0.25,
        iou_threshold: float = 0.7,
        max_detections: int = 10,
        fuse_iou: float | None = None,
    ) -> list[PoseDetection]:
        """fuse_iou: see decode_pose; None gives Ultralytics' own keypoints."""
        padded, placement = letterbox(image_bgr, self.info.input_px)
        detections = decode_pose(
            self.raw_output(padded),
            self.info.num_keypoints,
            conf_threshold=conf_threshold,
            iou_threshold=iou_threshold,
            max_detections=max_detections,
            fuse_iou=fuse_iou,
        )
        h, w = image_bgr.shape[:2]
        mapped = []
        for d in detections:
            box = placement.to_image(d.box_px.reshape(2, 2)).reshape(4)
            box = np.clip(box, 0, [w, h, w, h])
            kpts = d.keypoints.copy()
            # Clipped to the frame as Ultralytics does; a point on the border means "cut off".
            kpts[:, :2] = np.clip(placement.to_image(kpts[:, :2]), 0, [w, h])
            mapped.append(PoseDetection(box, d.score, kpts))
        return mapped
