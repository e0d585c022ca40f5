"""The three views' pose models, loaded once, turning photos into named keypoints.

Keypoints come out in the calibration's pixel convention (pixel centres at integers),
ready for edge/measure.
"""
from __future__ import annotations

import atexit
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.detect.closeup import CLOSEUP_VIEWS, refine
from edge.detect.decode import PoseDetection
from edge.detect.mirror import average_with_mirror, flip_image, mirror_axis, unflip
from edge.detect.ncnn_pose import MODEL_FILES, ModelFileError, NcnnPoseModel
from edge.detect.outline import CLOSEUP_SETTINGS, snap_view
from edge.geometry.camera import VIEWS, Camera
from edge.keypoints import MODEL_KEYPOINTS, VIEW_KEYPOINTS, Keypoint, ViewKeypoints, flip_idx

# Ultralytics measures pixels from the image's outer edge (a pixel centre at +0.5); the
# calibration puts pixel centres at integers. Without this shift every ray is biased.
_ULTRALYTICS_TO_CALIBRATION_PX = -0.5
# Anchors whose boxes overlap this much found the same goat (with fuse_anchors on); 0.6
# and 0.8 chose the same anchors on the tuning captures.
FUSE_IOU = 0.8


@dataclass(frozen=True)
class ViewDetections:
    view: str
    image_size_px: tuple[int, int]  # width, height
    goats: tuple[PoseDetection, ...]  # best first, in calibration pixels

    def keypoints(self, index: int = 0) -> ViewKeypoints:
        goat = self.goats[index]
        found = {}
        for i, (name, (x, y, c)) in enumerate(zip(VIEW_KEYPOINTS[self.view], goat.keypoints)):
            across = goat.across_outline
            on_outline = across is not None and not np.isnan(across[i, 0])
            found[name] = Keypoint(float(x), float(y), float(c),
                                   (float(across[i, 0]), float(across[i, 1])) if on_outline else None)
        return found


def _to_calibration_pixels(det: PoseDetection) -> PoseDetection:
    kpts = det.keypoints.copy()
    kpts[:, :2] += _ULTRALYTICS_TO_CALIBRATION_PX
    return PoseDetection(det.box_px + _ULTRALYTICS_TO_CALIBRATION_PX, det.score, kpts)


def model_version(model_dir: Path) -> str:
    """A short hash of the model's files, recorded with every result it produces."""
    digest = hashlib.sha256()
    for name in MODEL_FILES:
        digest.update((model_dir / name).read_bytes())
    return digest.hexdigest()[:16]


class PoseDetector:
    """One NCNN pose model per view, from models/<view>/, and the close-up model
    (models/closeup/) that reads the top photo's rump and chest and the side photo's chest
    again (edge/detect/closeup.py).

    The models run one after another, so they share ncnn's memory pools: about 40 MB
    less than three separate pools (benchmarks/RESULTS.md). Close it (or use `with`) when
    done; it also closes itself at exit, because ncnn aborts if a pool goes first.
    """

    def __init__(self, models_dir: str | Path, *, threads: int = 2, conf_threshold: float = 0.25,
                 winograd: bool = False, mirror_average: bool = False, snap_to_outline: bool = True,
                 closeups: bool = True, fuse_anchors: bool = True):
        """closeups: read the top photo's rump and chest and the side photo's chest again
        with models/closeup (edge/detect/closeup.py).
        fuse_anchors: average each goat's keypoints over the anchors that found it
        (edge/detect/decode.py) instead of taking its best anchor's alone."""
        import ncnn

        self.models_dir = Path(models_dir)
        self.conf_threshold = conf_threshold
        self.mirror_average = mirror_average
        self.snap_to_outline = snap_to_outline
        self.fuse_iou = FUSE_IOU if fuse_anchors else None
        self.models: dict[str, NcnnPoseModel] = {}
        self.versions: dict[str, str] = {}
        self._allocators = (ncnn.UnlockedPoolAllocator(), ncnn.PoolAllocator())
        atexit.register(self.close)
        for name in VIEWS + (("closeup",) if closeups else ()):
            self._load(name, threads, winograd)

    def _load(self, name: str, threads: int, winograd: bool) -> None:
        folder = self.models_dir / name
        if name == "closeup" and not folder.is_dir():
            raise ModelFileError(f"{folder}: close-up model not found; without it, turn models.closeups off")
        model = NcnnPoseModel(folder, threads=threads, allocators=self._allocators, winograd=winograd)
        want = len(MODEL_KEYPOINTS[name])
        if model.info.num_keypoints != want:
            raise ModelFileError(f"{folder}: finds {model.info.num_keypoints} keypoints, "
                                 f"the {name} model needs {want}")
        self.models[name] = model
        self.versions[name] = model_version(folder)

    def close(self) -> None:
        for model in self.models.values():
            model.close()
        self.models.clear()
        for allocator in self._allocators:
            allocator.clear()
        atexit.unregister(self.close)

    def __enter__(self) -> "PoseDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def detect(self, view: str, image_bgr: np.ndarray, camera: Camera | None = None) -> ViewDetections:
        """The goats in one photo. With mirror_average on and the view's calibrated camera
        given, the top and front views also run on the photo's mirror image and average
        the two (edge/detect/mirror.py). With the close-up model loaded, the top view's
        rump and shoulder keypoints and the side view's withers and sternum are read again
        from crops (edge/detect/closeup.py).
        With snap_to_outline on, the keypoints that lie on the animal's outline move onto
        it (edge/detect/outline.py)."""
        model = self.models[view]
        found = model.predict(image_bgr, conf_threshold=self.conf_threshold, fuse_iou=self.fuse_iou)
        h, w = image_bgr.shape[:2]
        axis = mirror_axis(camera, view) if self.mirror_average and camera is not None else None
        if axis is not None and found:
            mirrored = model.predict(flip_image(image_bgr, axis), conf_threshold=self.conf_threshold,
                                     fuse_iou=self.fuse_iou)
            swap = flip_idx(view)
            found = average_with_mirror(found, [unflip(d, axis, (w, h), swap) for d in mirrored])
        if self._reads_closeups(view):
            found = [refine(self.models["closeup"], view, image_bgr, d, conf_threshold=self.conf_threshold,
                            fuse_iou=self.fuse_iou) for d in found]
        found = ViewDetections(view, (w, h), tuple(_to_calibration_pixels(d) for d in found))
        return self.snap(image_bgr, found) if self.snap_to_outline else found

    def snap(self, image_bgr: np.ndarray, found: ViewDetections) -> ViewDetections:
        """The detections with their outline keypoints moved onto the outline, searching as
        far as the model that placed them misses (edge/detect/outline.py)."""
        return snap_view(image_bgr, found, CLOSEUP_SETTINGS if self._reads_closeups(found.view) else None)

    def _reads_closeups(self, view: str) -> bool:
        """Whether some of this view's keypoints come from the close-up model."""
        return view in CLOSEUP_VIEWS and "closeup" in self.models
