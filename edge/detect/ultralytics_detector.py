"""The Detector protocol run by Ultralytics itself, for benchmarks and parity checks.

It reads each view's photo with that view's model alone (no close-up crops, no outline
step, no fused anchors), as Ultralytics' own predict does, so it is the reference the lean
NCNN detector is compared with. Needs the `train` extra; importing this module loads
nothing heavy, making a detector loads torch and Ultralytics. The daemon never uses it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from edge.detect.detector import files_hash
from edge.detect.ncnn_pose import MODEL_FILES, ModelFileError, read_metadata
from edge.detect.types import ULTRALYTICS_TO_CALIBRATION_PX, PoseDetection, ViewDetections
from edge.geometry.lens import Lens
from edge.keypoints import VIEWS

SOURCES = ("pt", "ncnn")


class UltralyticsDetector:
    def __init__(
        self,
        models_dir: str | Path,
        *,
        source: str = "pt",
        conf_threshold: float = 0.25,
        views: tuple[str, ...] = VIEWS,
    ):
        """source: "pt" reads models/<view>/best.pt; "ncnn" the NCNN export beside it, through
        Ultralytics' own NCNN backend."""
        if source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
        os.environ.setdefault("YOLO_OFFLINE", "1")
        from ultralytics import YOLO

        self.conf_threshold = conf_threshold
        self.models: dict = {}
        self.input_px: dict[str, int] = {}
        self.versions: dict[str, str] = {}
        # Ultralytics recognises an NCNN model by its folder's name ending in _ncnn_model.
        self._links = tempfile.TemporaryDirectory(prefix="ultralytics-ncnn-") if source == "ncnn" else None
        for view in views:
            folder = Path(models_dir) / view
            files = [folder / "best.pt"] if source == "pt" else [folder / name for name in MODEL_FILES]
            missing = [str(f) for f in files if not f.is_file()]
            if missing:
                raise ModelFileError(f"{', '.join(missing)}: not found")
            path = files[0]
            if self._links is not None:
                path = Path(self._links.name) / f"{view}_ncnn_model"
                path.symlink_to(folder.resolve(), target_is_directory=True)
            self.models[view] = YOLO(str(path), task="pose")
            self.input_px[view] = read_metadata(folder / "metadata.yaml").input_px
            self.versions[view] = files_hash(files)

    def detect(
        self, view: str, image_bgr: np.ndarray, lens: Lens | None = None, *, mirrored_chute: bool = False
    ) -> ViewDetections:
        """The goats in one photo, best first, in calibration pixels, read as they are (the
        lens and the chute's side are not used: no turning, edge/detect/orientation.py)."""
        model = self.models[view]
        result = model.predict(image_bgr, conf=self.conf_threshold, imgsz=self.input_px[view], verbose=False)[0]
        boxes = result.boxes.xyxy.cpu().numpy()
        scores = result.boxes.conf.cpu().numpy()
        keypoints = result.keypoints.data.cpu().numpy()
        goats = tuple(
            PoseDetection(
                box + ULTRALYTICS_TO_CALIBRATION_PX,
                float(score),
                np.column_stack([kpts[:, :2] + ULTRALYTICS_TO_CALIBRATION_PX, kpts[:, 2]]),
            )
            for box, score, kpts in zip(boxes, scores, keypoints, strict=True)
        )
        h, w = image_bgr.shape[:2]
        return ViewDetections(view, (w, h), goats)

    def close(self) -> None:
        self.models.clear()
        if self._links is not None:
            self._links.cleanup()

    def __enter__(self) -> UltralyticsDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
