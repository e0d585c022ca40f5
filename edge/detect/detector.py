"""The three views' pose models, loaded once, turning photos into named keypoints.

Keypoints come out in the calibration's pixel convention (pixel centres at integers),
ready for edge/measure.
"""

from __future__ import annotations

import atexit
import hashlib
from pathlib import Path

import numpy as np

from edge.config import ModelsConfig
from edge.detect.closeup import CLOSEUP_VIEWS, refine
from edge.detect.mirror import average_with_mirror, flip_image, mirror_axis, unflip
from edge.detect.ncnn_pose import MODEL_FILES, ModelFileError, NcnnPoseModel
from edge.detect.orientation import Orientation, orientation_of
from edge.detect.outline import CLOSEUP_SETTINGS, snap_view
from edge.detect.types import ULTRALYTICS_TO_CALIBRATION_PX, PoseDetection, ViewDetections
from edge.detect.viewpoint import Viewpoint, model_frame
from edge.geometry.calibration import default_calibration
from edge.geometry.lens import Lens
from edge.keypoints import MODEL_KEYPOINTS, VIEWS, flip_idx

# Anchors whose boxes overlap this much found the same goat (with fuse_anchors on).
FUSE_IOU = 0.8


def _to_calibration_pixels(det: PoseDetection) -> PoseDetection:
    kpts = det.keypoints.copy()
    kpts[:, :2] += ULTRALYTICS_TO_CALIBRATION_PX
    return PoseDetection(det.box_px + ULTRALYTICS_TO_CALIBRATION_PX, det.score, kpts)


def model_version(model_dir: Path) -> str:
    """A short hash of the model's files, recorded with every result it produces."""
    return files_hash([model_dir / name for name in MODEL_FILES])


def files_hash(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class NcnnDetector:
    """One NCNN pose model per view, from models/<view>/, and the close-up model
    (models/closeup/) that reads the top photo's rump and chest and the side photo's chest
    again (edge/detect/closeup.py).

    The models run one after another, so they share one set of ncnn memory pools instead
    of holding one each. Close it (or use `with`) when done; it also closes itself at
    exit, because ncnn aborts if a pool goes first.
    """

    def __init__(self, settings: ModelsConfig):
        """settings: models.* of the config (docs/configuration.md): the models' folder,
        threads, and which refinements run (close-ups, mirror average, outline, fused anchors)."""
        import ncnn

        self.models_dir = Path(settings.dir)
        self.conf_threshold = settings.conf_threshold
        self.mirror_average = settings.mirror_average
        self.snap_to_outline = settings.snap_to_outline
        self.fuse_iou = FUSE_IOU if settings.fuse_anchors else None
        self.models: dict[str, NcnnPoseModel] = {}
        self.versions: dict[str, str] = {}
        # How the models were trained to see each view (edge/detect/orientation.py).
        self._canonical = default_calibration()
        self._frames: dict[str, tuple[tuple, Orientation | Viewpoint]] = {}
        # Off for comparison only (benchmarks/mounting.py): photos from cameras mounted
        # well off their places then go to the models as taken (turned, mirrored).
        self.reproject = True
        self._allocators = (ncnn.UnlockedPoolAllocator(), ncnn.PoolAllocator())
        atexit.register(self.close)
        for name in VIEWS + (("closeup",) if settings.closeups else ()):
            self._load(name, settings.threads, settings.winograd)

    def _load(self, name: str, threads: int, winograd: bool) -> None:
        folder = self.models_dir / name
        if name == "closeup" and not folder.is_dir():
            raise ModelFileError(f"{folder}: close-up model not found; without it, turn models.closeups off")
        model = NcnnPoseModel(folder, threads=threads, allocators=self._allocators, winograd=winograd)
        want = len(MODEL_KEYPOINTS[name])
        if model.info.num_keypoints != want:
            raise ModelFileError(f"{folder}: finds {model.info.num_keypoints} keypoints, the {name} model needs {want}")
        self.models[name] = model
        self.versions[name] = model_version(folder)

    def close(self) -> None:
        for model in self.models.values():
            model.close()
        self.models.clear()
        self.release_pools()
        atexit.unregister(self.close)

    def __enter__(self) -> NcnnDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def detect(
        self, view: str, image_bgr: np.ndarray, lens: Lens | None = None, *, mirrored_chute: bool = False
    ) -> ViewDetections:
        """The goats in one photo. With mirror_average on and the view's calibrated camera
        given, the top and front views also run on the photo's mirror image and average
        the two (edge/detect/mirror.py). With the close-up model loaded, the top view's
        rump and shoulder keypoints and the side view's withers and sternum are read again
        from crops (edge/detect/closeup.py).
        With snap_to_outline on, the keypoints that lie on the animal's outline move onto
        it (edge/detect/outline.py).
        With the lens given, a photo from a camera mounted turned, or in a chute built the
        other way round (mirrored_chute: Calibration.mirrored_chute), is read turned to the
        models' orientation (edge/detect/orientation.py); one from a camera mounted further
        off its nominal place than the models learnt, re-projected to that place
        (edge/detect/viewpoint.py). Either way the goats found come back in the photo's own
        pixels."""
        try:
            if lens is None:
                return self._detect_canonical(view, image_bgr, None)
            canonical = self._canonical[view]
            frame = self._model_frame(lens, canonical, mirrored_chute)
            if frame.is_identity:
                return self._detect_canonical(view, image_bgr, lens)
            return frame.to_photo(self._detect_canonical(view, frame.to_canonical(image_bgr), canonical))
        finally:
            self.release_pools()

    def _model_frame(self, lens: Lens, canonical: Lens, mirrored_chute: bool) -> Orientation | Viewpoint:
        """How the models see this camera's photos, worked out once: a daemon's calibration
        stays put."""
        if not self.reproject:
            return orientation_of(lens, canonical, mirrored_chute=mirrored_chute)
        key = (mirrored_chute, *(a.tobytes() for a in (lens.K, lens.dist, lens.R, lens.t)), lens.size_px)
        if self._frames.get(lens.name, (None,))[0] != key:
            self._frames[lens.name] = (key, model_frame(lens, canonical, mirrored_chute=mirrored_chute))
        return self._frames[lens.name][1]

    def release_pools(self) -> None:
        """Give back the memory the models' layers worked in. The pools would otherwise
        keep the largest working set any model ever needed through the rest of the capture
        (the photos, their copies, the JPEGs) and while idle; taking it afresh for each
        photo costs little beside inference (benchmarks/RESULTS.md)."""
        for allocator in self._allocators:
            allocator.clear()

    def _detect_canonical(self, view: str, image_bgr: np.ndarray, lens: Lens | None) -> ViewDetections:
        """detect() on a photo in the models' orientation; lens: one that sees it that way."""
        model = self.models[view]
        found = model.predict(image_bgr, conf_threshold=self.conf_threshold, fuse_iou=self.fuse_iou)
        h, w = image_bgr.shape[:2]
        axis = mirror_axis(lens, view) if self.mirror_average and lens is not None else None
        if axis is not None and found:
            mirrored = model.predict(
                flip_image(image_bgr, axis), conf_threshold=self.conf_threshold, fuse_iou=self.fuse_iou
            )
            swap = flip_idx(view)
            found = average_with_mirror(found, [unflip(d, axis, (w, h), swap) for d in mirrored])
        if self._reads_closeups(view):
            found = [
                refine(
                    self.models["closeup"],
                    view,
                    image_bgr,
                    d,
                    conf_threshold=self.conf_threshold,
                    fuse_iou=self.fuse_iou,
                )
                for d in found
            ]
        detections = ViewDetections(view, (w, h), tuple(_to_calibration_pixels(d) for d in found))
        return self.snap(image_bgr, detections) if self.snap_to_outline else detections

    def snap(self, image_bgr: np.ndarray, found: ViewDetections) -> ViewDetections:
        """The detections with their outline keypoints moved onto the outline, searching as
        far as the model that placed them misses (edge/detect/outline.py)."""
        return snap_view(image_bgr, found, CLOSEUP_SETTINGS if self._reads_closeups(found.view) else None)

    def _reads_closeups(self, view: str) -> bool:
        """Whether some of this view's keypoints come from the close-up model."""
        return view in CLOSEUP_VIEWS and "closeup" in self.models
