"""`goat-edge labels import`: corrected keypoints back from COCO or Label Studio files.

The labels are checked against the export they came from (its manifest.json) and the store
before anything is written: each photo must be one the export wrote, byte for byte the
photo the store holds (sha256), each file must label one view's keypoints and nothing
else, and each point must lie on its photo. Every problem is named with its file and item;
with any problem, nothing is stored. A clean import is stored in one transaction, and
replaces an earlier import's labels of the same photos.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edge.errors import GoatEdgeError
from edge.keypoints import VIEW_KEYPOINTS, VIEWS
from edge.labels.export import FORMAT, FORMAT_VERSION
from edge.labels.formats import COCO_NOT_LABELLED
from edge.store.db import Store
from edge.store.errors import CaptureNotFoundError
from edge.store.files import sha256_hex
from edge.store.labels import ViewLabels

MAX_PROBLEMS_SHOWN = 10


class LabelImportError(GoatEdgeError):
    """Labels that cannot be imported; the message lists every problem found."""


@dataclass(frozen=True)
class Photo:
    capture_id: str
    view: str
    file: str  # images/<capture id>_<view>.jpg
    sha256: str
    width: int
    height: int


@dataclass
class ImportSummary:
    photos: int = 0  # photos whose labels were stored
    unlabelled: int = 0  # tasks nobody has labelled yet
    by_file: dict[str, int] = field(default_factory=dict)


def read_manifest(folder: Path) -> dict[str, Photo]:
    """The export's photos by file name, from its manifest.json."""
    path = Path(folder) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise LabelImportError(f"{path}: not found; give the folder `goat-edge labels export` wrote") from None
    except json.JSONDecodeError as exc:
        raise LabelImportError(f"{path}: not JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise LabelImportError(f"{path}: not a goat-edge labels export")
    if manifest.get("version") != FORMAT_VERSION:
        raise LabelImportError(
            f"{path}: export version {manifest.get('version')}, this goat-edge reads {FORMAT_VERSION}"
        )
    photos = {}
    for capture in manifest["captures"]:
        for view, image in capture["images"].items():
            photo = Photo(capture["capture_id"], view, image["file"], image["sha256"], image["width"], image["height"])
            photos[Path(photo.file).name] = photo
    return photos


def import_labels(store: Store, folder: Path, files: list[Path]) -> ImportSummary:
    folder = Path(folder)
    photos = read_manifest(folder)
    problems: list[str] = []
    labels: dict[tuple[str, str], ViewLabels] = {}
    summary = ImportSummary()
    for path in files:
        found = list(_read_file(Path(path), photos, problems, summary))
        for item in found:
            labels[item.capture_id, item.view] = item  # a later file's labels of a photo win
        summary.by_file[str(path)] = len(found)
    _check_photos(store, folder, photos, {(i.capture_id, i.view) for i in labels.values()}, problems)
    if problems:
        shown = "\n  ".join(problems[:MAX_PROBLEMS_SHOWN])
        more = f"\n  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more" if len(problems) > MAX_PROBLEMS_SHOWN else ""
        raise LabelImportError(f"nothing imported; {len(problems)} problem(s):\n  {shown}{more}")
    store.put_labels(list(labels.values()))
    summary.photos = len(labels)
    return summary


def _read_file(path: Path, photos: dict[str, Photo], problems: list[str], summary: ImportSummary):
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        problems.append(f"{path}: not found")
        return
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: not JSON ({exc})")
        return
    if isinstance(data, dict) and "categories" in data:
        yield from _from_coco(path, data, photos, problems)
    elif isinstance(data, list):
        yield from _from_label_studio(path, data, photos, problems, summary)
    else:
        problems.append(f"{path}: neither COCO keypoints (no 'categories') nor a Label Studio export (a list of tasks)")


def _coco_view(path: Path, data: dict, problems: list[str]) -> str | None:
    categories = data.get("categories") or []
    if len(categories) != 1:
        problems.append(f"{path}: {len(categories)} categories; a goat label file has one, 'goat'")
        return None
    names = list(categories[0].get("keypoints") or [])
    for view in VIEWS:
        if names == list(VIEW_KEYPOINTS[view]):
            return view
    problems.append(
        f"{path}: keypoints {names} are not those of any camera view (docs/keypoints.md): "
        "a label file from another project, or keypoints renamed or reordered"
    )
    return None


def _from_coco(path: Path, data: dict, photos: dict[str, Photo], problems: list[str]) -> Iterator[ViewLabels]:
    view = _coco_view(path, data, problems)
    if view is None:
        return
    names = VIEW_KEYPOINTS[view]
    images = {image.get("id"): image for image in data.get("images", [])}
    seen: set[int] = set()
    for annotation in data.get("annotations", []):
        image = images.get(annotation.get("image_id"))
        where = f"{path}: annotation {annotation.get('id')}"
        if image is None:
            problems.append(f"{where}: its image {annotation.get('image_id')} is not in the file's images")
            continue
        photo = _photo(f"{where} ({image.get('file_name')})", image.get("file_name"), view, photos, problems)
        if photo is None:
            continue
        if image.get("sha256") not in (None, photo.sha256):
            problems.append(f"{where}: its sha256 is not that of {photo.file} in this export")
            continue
        if image["id"] in seen:
            problems.append(f"{where}: a second goat on {photo.file}; label only the goat in the chute")
            continue
        seen.add(image["id"])
        flat = annotation.get("keypoints") or []
        if len(flat) != 3 * len(names):
            problems.append(f"{where}: {len(flat) // 3} keypoints, the {view} view has {len(names)}")
            continue
        points = {}
        for k, name in enumerate(names):
            x, y, v = flat[3 * k : 3 * k + 3]
            if v != COCO_NOT_LABELLED:
                points[name] = [float(x) - 0.5, float(y) - 0.5]  # COCO measures from the edge
        if _inside(f"{where} ({photo.file})", points, photo, problems):
            yield ViewLabels(photo.capture_id, view, points, path.name)


def _from_label_studio(
    path: Path, tasks: list, photos: dict[str, Photo], problems: list[str], summary: ImportSummary
) -> Iterator[ViewLabels]:
    for number, task in enumerate(tasks, start=1):
        where = f"{path}: task {task.get('id', number)}"
        data = task.get("data") or {}
        image_url = str(data.get("image", ""))
        photo = _photo(f"{where} ({image_url})", image_url.rsplit("/", 1)[-1], data.get("view"), photos, problems)
        if photo is None:
            continue
        done = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        if not done:
            summary.unlabelled += 1
            continue
        names = VIEW_KEYPOINTS[photo.view]
        points = {}
        for result in done[-1].get("result") or []:  # the latest annotation of the task
            if result.get("type") != "keypointlabels":
                continue
            value = result.get("value") or {}
            labels = value.get("keypointlabels") or []
            unknown = [n for n in labels if n not in names]
            if len(labels) != 1 or unknown:
                problems.append(
                    f"{where}: keypoint label {labels} is not one of the {photo.view} view's ({', '.join(names)})"
                )
                continue
            points[labels[0]] = [
                float(value["x"]) / 100 * photo.width - 0.5,
                float(value["y"]) / 100 * photo.height - 0.5,
            ]
        if _inside(f"{where} ({photo.file})", points, photo, problems):
            yield ViewLabels(photo.capture_id, photo.view, points, path.name)


def _photo(where: str, file_name, view: str | None, photos: dict[str, Photo], problems: list[str]) -> Photo | None:
    photo = photos.get(Path(str(file_name or "")).name)
    if photo is None:
        problems.append(f"{where}: not a photo of this export (manifest.json)")
        return None
    if view is not None and view != photo.view:
        problems.append(f"{where}: a {photo.view} photo, labelled with the {view} view's keypoints")
        return None
    return photo


def _inside(where: str, points: dict[str, list[float]], photo: Photo, problems: list[str]) -> bool:
    ok = True
    for name, (x, y) in points.items():
        if not (-0.5 <= x <= photo.width - 0.5 and -0.5 <= y <= photo.height - 0.5):
            problems.append(
                f"{where}: keypoint '{name}' at ({x:.1f}, {y:.1f}) lies outside the {photo.width}x{photo.height} photo"
            )
            ok = False
    return ok


def _check_photos(
    store: Store, folder: Path, photos: dict[str, Photo], labelled: set[tuple[str, str]], problems: list[str]
) -> None:
    """Each labelled photo is the one the store holds: in the export folder and in the store."""
    for photo in photos.values():
        if (photo.capture_id, photo.view) not in labelled:
            continue
        try:
            capture = store.get_capture(photo.capture_id)
        except CaptureNotFoundError:
            problems.append(f"{photo.file}: capture {photo.capture_id} is not in this Pi's store")
            continue
        raw = next((im for im in capture["images"] if im["view"] == photo.view and im["kind"] == "raw"), None)
        if raw is None or raw["sha256"] != photo.sha256:
            problems.append(f"{photo.file}: not the {photo.view} photo the store holds for {photo.capture_id} (sha256)")
            continue
        copy = folder / photo.file
        if copy.exists() and sha256_hex(copy.read_bytes()) != photo.sha256:
            problems.append(f"{copy}: changed since the export (sha256); label the photo as exported")
