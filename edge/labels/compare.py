"""`goat-edge labels compare`: two sets of models on the farm's held-out goats, side by side.

Each model set reads the photos of the held-out split that `goat-edge labels dataset`
wrote (the goats no model trained or validated on), as the daemon reads them (in the
models' frame, as the dataset holds them; close-ups, outline), and each keypoint is measured
against where the person placed it. The report gives, per view and landmark, the median
and 90th-percentile miss in pixels and how often the goat was found, and a verdict: the new
set is better when on no view it finds the goat less often or misses the placed keypoints
by more on average, and on at least one it surely misses them by less: the 95 % interval
of the mean difference per photo (a paired bootstrap over the held-out photos) lies below
zero. A handful of held-out goats seldom tells two sets apart; the report then says so,
with the interval, rather than calling noise an improvement. The misses are counted on
the photos where both sets found the goat. Where the farm taped a held-out goat within
TAPE_WITHIN_DAYS of its capture (edge/store/tape.py), each set also measures that capture
from its three raw photos, and the report gives each set's MAPE against the tape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from edge.config import ModelsConfig
from edge.detect.detector import NcnnDetector
from edge.errors import GoatEdgeError
from edge.geometry.calibration import Calibration, default_calibration
from edge.jpeg import decode_jpeg
from edge.keypoints import VIEW_KEYPOINTS, VIEWS, ViewKeypoints
from edge.pipeline.from_images import measure_images
from edge.store.errors import CaptureNotFoundError, PhotoUnavailableError
from edge.store.tape import TAPED

SETS = ("old", "new")
BOOTSTRAP = 2000
TAPE_WITHIN_DAYS = 3.0  # a goat grows little in three days


class CompareError(GoatEdgeError):
    """No held-out photos to compare on, or a dataset that is not the farm's labels."""


@dataclass
class ViewComparison:
    view: str
    photos: int = 0
    found: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SETS, 0))
    errors_px: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # set -> landmark -> misses
    photo_px: dict[str, list[float]] = field(default_factory=dict)  # set -> mean miss per photo both read

    def mean_error_px(self, which: str) -> float:
        every = [e for errors in self.errors_px.get(which, {}).values() for e in errors]
        return float(np.mean(every)) if every else float("nan")

    def difference_px(self) -> tuple[float, float, float]:
        """New minus old mean miss per photo, with its 95 % interval (paired bootstrap over
        the photos both sets read; seeded, so a report reads the same every time)."""
        new, old = (np.array(self.photo_px.get(which, [])) for which in ("new", "old"))
        if len(new) == 0:
            return (float("nan"),) * 3
        diffs = new - old
        picks = np.random.default_rng(0).integers(0, len(diffs), (BOOTSTRAP, len(diffs)))
        means = diffs[picks].mean(axis=1)
        return float(diffs.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def held_out_photos(datasets: Path, view: str, split: str = "test") -> list[tuple[Path, dict[str, list[float]]]]:
    """(photo, placed keypoints in the photo's pixels) of one view's held-out split."""
    folder = Path(datasets) / view
    data_yaml = folder / "data.yaml"
    if not data_yaml.is_file():
        return []
    data = yaml.safe_load(data_yaml.read_text())
    if data.get("kpt_shape") != [len(VIEW_KEYPOINTS[view]), 3]:
        raise CompareError(f"{data_yaml}: kpt_shape {data.get('kpt_shape')} is not the {view} view's")
    if split not in data:
        return []
    out = []
    for image in sorted((folder / data[split]).glob("*.jpg")):
        label = folder / "labels" / split / f"{image.stem}.txt"
        values = label.read_text().split() if label.is_file() else []
        if not values:
            continue
        height, width = decode_jpeg(image.read_bytes(), colour=False).shape[:2]
        numbers = [float(v) for v in values[5:]]
        placed = {
            name: [numbers[3 * k] * width - 0.5, numbers[3 * k + 1] * height - 0.5]
            for k, name in enumerate(VIEW_KEYPOINTS[view])
            if numbers[3 * k + 2] > 0
        }
        out.append((image, placed))
    return out


def compare_models(old_dir: Path, new_dir: Path, datasets: Path, threads: int = 2) -> list[ViewComparison]:
    photos = {view: held_out_photos(datasets, view) for view in VIEWS}
    if not any(photos.values()):
        raise CompareError(f"{datasets}: no held-out (test) photos; write them with `goat-edge labels dataset`")
    comparisons = {view: ViewComparison(view, len(photos[view])) for view in VIEWS if photos[view]}
    read = {which: read_held_out(models_dir, photos, threads) for which, models_dir in zip(SETS, (old_dir, new_dir))}
    for view, comparison in comparisons.items():
        for which in SETS:
            comparison.found[which] = sum(found is not None for found in read[which][view])
        # The misses are counted on the photos where both sets found the goat, so that a set
        # which also finds it in harder photos is not judged on more of them.
        for i, (_, placed) in enumerate(photos[view]):
            both = [read[which][view][i] for which in SETS]
            if any(found is None for found in both):
                continue
            for which, keypoints in zip(SETS, both):
                errors = comparison.errors_px.setdefault(which, {})
                photo = []
                for name, (x, y) in placed.items():
                    if name in keypoints:
                        photo.append(float(np.hypot(keypoints[name][0] - x, keypoints[name][1] - y)))
                        errors.setdefault(name, []).append(photo[-1])
                comparison.photo_px.setdefault(which, []).append(float(np.mean(photo)) if photo else 0.0)
    return list(comparisons.values())


def read_held_out(models_dir: Path, photos: dict, threads: int) -> dict[str, list]:
    """Per view, each held-out photo's keypoints {name: (x, y)} as one model set reads them,
    or None where it found no goat."""
    return {
        view: [None if found is None else {name: (kp.x_px, kp.y_px) for name, kp in found.items()} for found in read]
        for view, read in read_dataset_photos(models_dir, photos, threads).items()
    }


def read_dataset_photos(models_dir: Path, photos: dict, threads: int) -> dict[str, list[ViewKeypoints | None]]:
    """Per view, each labels-dataset photo's keypoints as one model set reads them (with
    their confidences), or None where it found no goat. The dataset's photos are already as
    the models see them (turned, mirrored or re-projected: edge/labels/dataset.py), so they
    are read as the standard cameras' photos."""
    canonical = default_calibration()
    # A set without the close-up model reads the regions from the view models alone.
    settings = ModelsConfig(dir=models_dir, threads=threads, closeups=(Path(models_dir) / "closeup").is_dir())
    out: dict[str, list[ViewKeypoints | None]] = {}
    with NcnnDetector(settings) as detector:
        for view, view_photos in photos.items():
            out[view] = []
            for image_path, _ in view_photos:
                found = detector.detect(view, decode_jpeg(image_path.read_bytes()), canonical[view])
                out[view].append(found.keypoints() if found.goats else None)
    return out


@dataclass
class TapedComparison:
    """Each set's measurements of the held-out captures against the farm's tape."""

    captures: int = 0  # held-out captures with a tape near them, raw photos still on the Pi
    errors_pct: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # set -> name -> |error| %

    def mape(self, which: str, name: str) -> float:
        errors = self.errors_pct.get(which, {}).get(name, [])
        return float(np.mean(errors)) if errors else float("nan")

    def names(self) -> list[str]:
        return [n for n in TAPED if any(self.errors_pct.get(w, {}).get(n) for w in SETS)]


def held_out_capture_ids(datasets: Path) -> list[str]:
    """The captures whose photos are in a view's held-out split (files are <capture id>_<view>.jpg)."""
    ids = {image.stem.rsplit("_", 1)[0] for view in VIEWS for image, _ in held_out_photos(datasets, view)}
    return sorted(ids)


def compare_taped(
    old_dir: Path, new_dir: Path, datasets: Path, store, calibration: Calibration, threads: int = 2
) -> TapedComparison:
    """Both sets measure each held-out capture the farm taped near its day; MAPE per measurement."""
    cases = []
    for capture_id in held_out_capture_ids(datasets):
        try:
            capture = store.get_capture(capture_id)
        except CaptureNotFoundError:
            continue  # a dataset written from another Pi's store
        if not capture["goat_tag"]:
            continue
        taped = store.taped_near(store.get_goat(capture["goat_tag"])["id"], capture["captured_at"], TAPE_WITHIN_DAYS)
        if not taped:
            continue
        try:
            photos = {view: decode_jpeg(store.raw_photo(capture, view)) for view in VIEWS}
        except PhotoUnavailableError:
            continue  # pruned after reaching the cloud: nothing to measure again
        cases.append((photos, taped))
    result = TapedComparison(captures=len(cases))
    for which, models_dir in zip(SETS, (old_dir, new_dir)):
        settings = ModelsConfig(dir=models_dir, threads=threads, closeups=(Path(models_dir) / "closeup").is_dir())
        errors = result.errors_pct.setdefault(which, {})
        with NcnnDetector(settings) as detector:
            for photos, taped in cases:
                measured = measure_images(photos, calibration, detector)
                values = measured.result.measurements if measured.result else {}
                for name, truth_cm in taped.items():
                    if values.get(name) is not None:
                        errors.setdefault(name, []).append(100 * abs(values[name] - truth_cm) / truth_cm)
    return result


def judge(old_dir: Path, new_dir: Path, datasets: Path, config) -> tuple[list[ViewComparison], TapedComparison]:
    """Both comparisons for one daemon's config: keypoints on the held-out photos, and
    measurements against the tape from its store."""
    from edge.pipeline.context import calibration_of
    from edge.store.db import Store

    calibration = calibration_of(config)
    comparisons = compare_models(old_dir, new_dir, datasets, config.models.threads)
    with Store.open(config.storage.data_dir) as store:
        taped = compare_taped(old_dir, new_dir, datasets, store, calibration, config.models.threads)
    return comparisons, taped


def verdict(comparisons: list[ViewComparison]) -> tuple[bool, str]:
    """Whether the new set is better, and why (or why not): worse on no view (the goat found
    as often, the placed keypoints not surely missed by more) and surely better on at least
    one. A view whose model was not retrained reads the same and judges nothing."""
    reasons, worse, gained = [], False, False
    for c in comparisons:
        old, new = c.mean_error_px("old"), c.mean_error_px("new")
        diff, low, high = c.difference_px()
        interval = f"new - old {diff:+.1f} px per photo, 95 % interval {low:+.1f} to {high:+.1f}"
        if c.found["new"] < c.found["old"]:
            worse = True
            reasons.append(
                f"{c.view}: the new models found the goat in {c.found['new']} of {c.photos} photos, "
                f"the old in {c.found['old']}"
            )
        elif low > 0:
            worse = True
            reasons.append(f"{c.view}: mean miss {new:.1f} px, worse than the old models' {old:.1f} px ({interval})")
        elif high < 0:
            gained = True
            reasons.append(f"{c.view}: mean miss {new:.1f} px against {old:.1f} px ({interval})")
        elif new == old:
            reasons.append(f"{c.view}: the same as the old models ({old:.1f} px)")
        else:
            photos = len(c.photo_px.get("new", []))
            reasons.append(
                f"{c.view}: mean miss {new:.1f} px against {old:.1f} px, too close to tell on {photos} "
                f"held-out photos ({interval}): label more goats"
            )
    if not worse and not gained:
        reasons.append("no view surely better")
    return not worse and gained, "; ".join(reasons)


def report_markdown(
    comparisons: list[ViewComparison], old_dir: Path, new_dir: Path, taped: TapedComparison | None = None
) -> str:
    better, why = verdict(comparisons)
    lines = [
        "# Models compared on the farm's held-out goats",
        "",
        f"old: `{old_dir}`, new: `{new_dir}`.",
        f"Verdict: **{'new is better' if better else 'new is not better'}** ({why}).",
    ]
    for c in comparisons:
        lines += [
            "",
            f"## {c.view}: {c.photos} photos; goat found: old {c.found['old']}, new {c.found['new']}",
            "",
            "| landmark | placed | old median px | old p90 px | new median px | new p90 px |",
            "|---|---|---|---|---|---|",
        ]
        for name in VIEW_KEYPOINTS[c.view]:
            old, new = (c.errors_px.get(which, {}).get(name, []) for which in SETS)
            if old or new:
                cells = [_stat(old, 50), _stat(old, 90), _stat(new, 50), _stat(new, 90)]
                lines.append(f"| {name} | {max(len(old), len(new))} | " + " | ".join(cells) + " |")
        lines.append(f"| mean of all | | {c.mean_error_px('old'):.1f} | | {c.mean_error_px('new'):.1f} | |")
        diff, low, high = c.difference_px()
        lines += [
            "",
            f"New minus old, mean miss per photo: {diff:+.1f} px (95 % interval {low:+.1f} to {high:+.1f}, "
            f"paired bootstrap over the {len(c.photo_px.get('new', []))} photos both sets read).",
        ]
    lines += _taped_lines(taped)
    return "\n".join(lines) + "\n"


def _taped_lines(taped: TapedComparison | None) -> list[str]:
    if taped is None or not taped.captures:
        return ["", "No held-out goat was taped within 3 days of its capture, so no MAPE against the tape."]
    lines = [
        "",
        f"## Against the tape: {taped.captures} held-out captures taped within {TAPE_WITHIN_DAYS:g} days",
        "",
        "| measurement | old: measured | old MAPE % | new: measured | new MAPE % |",
        "|---|---|---|---|---|",
    ]
    for name in taped.names():
        old, new = (taped.errors_pct.get(which, {}).get(name, []) for which in SETS)
        old_mape, new_mape = taped.mape("old", name), taped.mape("new", name)
        lines.append(f"| {name} | {len(old)} | {old_mape:.2f} | {len(new)} | {new_mape:.2f} |")
    return lines


def _stat(errors: list[float], percentile: float) -> str:
    return f"{np.percentile(errors, percentile):.1f}" if errors else "—"


def plot(comparisons: list[ViewComparison], path: Path) -> bool:
    """Median miss per landmark, old beside new, one panel per view; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(len(comparisons), 1, figsize=(9, 3 * len(comparisons)), squeeze=False)
    for ax, c in zip(axes[:, 0], comparisons):
        names = [n for n in VIEW_KEYPOINTS[c.view] if any(c.errors_px.get(w, {}).get(n) for w in SETS)]
        x = np.arange(len(names))
        for offset, which in ((-0.2, "old"), (0.2, "new")):
            medians = [float(np.median(c.errors_px.get(which, {}).get(n) or [np.nan])) for n in names]
            ax.bar(x + offset, medians, width=0.4, label=which)
        ax.set_xticks(x, names, rotation=30, ha="right")
        ax.set_ylabel("median miss, px")
        ax.set_title(f"{c.view} ({c.photos} held-out photos)")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
