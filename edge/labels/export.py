"""`goat-edge labels export`: stored captures out, with the models' keypoints as pre-labels.

A person (the associate, a vet) corrects the points in a labelling tool, and the corrected
file comes back with `goat-edge labels import`. The export folder holds:

    images/<capture id>_<view>.jpg   the raw photos, byte for byte as stored
    <view>.coco.json                 COCO keypoints: names, skeleton, the models' points
    <view>.label-studio.json         Label Studio tasks with the models' points as predictions
    <view>.label-studio.xml          the Label Studio labelling interface for the view
    manifest.json                    which capture each photo is, its sha256, the goat's
                                     scale weights and taped measurements, and the
                                     keypoint schema

A folder that already holds an export is refused; the export is written beside it and
renamed when complete, so a stopped export leaves nothing under the real name.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edge.errors import GoatEdgeError
from edge.jpeg import JpegError, decode_jpeg
from edge.keypoints import VIEW_KEYPOINTS, VIEWS, mirror_name
from edge.labels import formats
from edge.store.db import Store
from edge.store.errors import PhotoUnavailableError
from edge.store.files import sha256_hex
from edge.store.records import STATUSES, as_utc_bound, iso_utc

FORMAT = "goatdev-labels"
FORMAT_VERSION = 1


class LabelExportError(GoatEdgeError):
    """An export that cannot be made: a bad selection, or a folder already used."""


@dataclass(frozen=True)
class Selection:
    since: str | None = None  # a date (the whole day) or an ISO time
    until: str | None = None  # a date (up to the end of that day) or an ISO time, exclusive
    goat_tag: str | None = None
    status: str | None = None  # ok | retake
    least_sure: int | None = None  # the N captures the models were least sure of
    sample: int | None = None  # N captures at random (seeded), after the filters above
    seed: int = 0


@dataclass(frozen=True)
class ExportSummary:
    out_dir: Path
    captures: int
    photos: int
    skipped: dict[str, str] = field(default_factory=dict)  # capture id -> why


def doubt(capture: dict) -> tuple[float, float, float]:
    """How unsure the models were of a capture, most unsure largest: a retake first, then the
    widest ± as a share of its value, then the least confident keypoint."""
    widest = max(
        (
            plus_minus / abs(value)
            for name, plus_minus in capture["measurement_uncertainty"].items()
            if (value := capture["measurements"].get(name))
        ),
        default=0.0,
    )
    confidences = [p[2] for found in capture["keypoints"].values() for p in found.values()]
    return (float(capture["status"] == "retake"), widest, 1.0 - min(confidences, default=0.0))


def select(store: Store, selection: Selection) -> list[dict]:
    if selection.status is not None and selection.status not in STATUSES:
        raise LabelExportError(f"status {selection.status!r} is not one of {', '.join(STATUSES)}")
    for what, n in (("least-sure", selection.least_sure), ("sample", selection.sample)):
        if n is not None and n < 1:
            raise LabelExportError(f"--{what} must be 1 or more, got {n}")
    chosen = store.select_captures(
        as_utc_bound(selection.since, end=False),
        as_utc_bound(selection.until, end=True),
        selection.goat_tag,
        selection.status,
    )
    if selection.least_sure is not None:
        chosen = sorted(chosen, key=doubt, reverse=True)[: selection.least_sure]
    if selection.sample is not None and selection.sample < len(chosen):
        picks = np.random.default_rng(selection.seed).choice(len(chosen), selection.sample, replace=False)
        chosen = [chosen[i] for i in sorted(picks)]
    return chosen


def export_labels(store: Store, out_dir: Path, selection: Selection) -> ExportSummary:
    out_dir = Path(out_dir)
    if (out_dir / "manifest.json").exists():
        raise LabelExportError(f"{out_dir} already holds an export; choose another folder or delete it")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise LabelExportError(f"{out_dir} exists and is not an empty folder")
    captures = select(store, selection)
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "images").mkdir(parents=True)

    entries, skipped = [], {}
    coco = {view: _coco_file(view) for view in VIEWS}
    tasks: dict[str, list[dict]] = {view: [] for view in VIEWS}
    for capture in captures:
        try:
            photos = _copy_photos(store, capture, partial / "images")
        except PhotoUnavailableError as exc:
            skipped[capture["id"]] = str(exc)
            continue
        for view, photo in photos.items():
            found = _view_keypoints(view, capture["keypoints"].get(view, {}))
            _add_coco(coco[view], view, capture, photo, found)
            data = {"capture_id": capture["id"], "view": view, "sha256": photo["sha256"]}
            version = capture["model_versions"].get(view, "")
            tasks[view].append(
                formats.label_studio_task(photo["file"], data, found, photo["width"], photo["height"], version)
            )
        entries.append(_manifest_entry(store, capture, photos))

    for view in VIEWS:
        _write_json(partial / f"{view}.coco.json", coco[view])
        _write_json(partial / f"{view}.label-studio.json", tasks[view])
        (partial / f"{view}.label-studio.xml").write_text(formats.label_studio_config(view))
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "exported_at": iso_utc(),
        "selection": asdict(selection),
        "keypoints": {view: list(VIEW_KEYPOINTS[view]) for view in VIEWS},
        "captures": entries,
        "skipped": skipped,
    }
    _write_json(partial / "manifest.json", manifest)
    if out_dir.exists():
        out_dir.rmdir()  # an empty folder made for it
    partial.rename(out_dir)
    return ExportSummary(out_dir, len(entries), sum(len(e["images"]) for e in entries), skipped)


def _copy_photos(store: Store, capture: dict, images_dir: Path) -> dict[str, dict]:
    photos = {}
    for view in VIEWS:
        data = store.raw_photo(capture, view)
        try:
            height, width = decode_jpeg(data, colour=False).shape[:2]
        except JpegError:
            raise PhotoUnavailableError(f"the raw {view} photo is not a JPEG") from None
        name = f"images/{capture['id']}_{view}.jpg"
        photos[view] = {"file": name, "sha256": sha256_hex(data), "width": width, "height": height, "data": data}
    for photo in photos.values():
        (images_dir.parent / photo["file"]).write_bytes(photo.pop("data"))
    return photos


def _view_keypoints(view: str, found: dict[str, list[float]]) -> dict[str, list[float]]:
    """The view's keypoints under the view's own names: a side camera on the chute's other
    side stores the goat's right flank, which the side view's labels call its left."""
    names = VIEW_KEYPOINTS[view]
    return {name if name in names else mirror_name(name): point for name, point in found.items()}


def _coco_file(view: str) -> dict:
    return {
        "info": {"description": f"goat-edge labels export, {view} camera", "version": str(FORMAT_VERSION)},
        "images": [],
        "annotations": [],
        "categories": [formats.coco_category(view)],
    }


def _add_coco(coco: dict, view: str, capture: dict, photo: dict, found: dict[str, list[float]]) -> None:
    image_id = len(coco["images"]) + 1
    coco["images"].append(
        {
            "id": image_id,
            "file_name": photo["file"],
            "width": photo["width"],
            "height": photo["height"],
            "capture_id": capture["id"],
            "sha256": photo["sha256"],
        }
    )
    if not found:
        return  # no goat found: the person adds one if there is
    flat, labelled = formats.coco_keypoints(view, found)
    bbox = formats.coco_bbox(found, photo["width"], photo["height"])
    coco["annotations"].append(
        {
            "id": len(coco["annotations"]) + 1,
            "image_id": image_id,
            "category_id": 1,
            "keypoints": flat,
            "num_keypoints": labelled,
            "bbox": bbox,
            "area": round(bbox[2] * bbox[3], 2),
            "iscrowd": 0,
            "score": round(float(np.mean([p[2] for p in found.values()])), 4),
        }
    )


def _manifest_entry(store: Store, capture: dict, photos: dict[str, dict]) -> dict:
    return {
        "capture_id": capture["id"],
        "captured_at": capture["captured_at"],
        "goat_tag": capture["goat_tag"],
        "status": capture["status"],
        "reason": capture["reason"],
        "model_versions": capture["model_versions"],
        "measurements": capture["measurements"],
        "images": photos,
        "scale_weights": store.scale_weights(capture["goat_id"]) if capture["goat_id"] else [],
        "taped": store.taped(capture["goat_id"]) if capture["goat_id"] else [],
    }


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False))
