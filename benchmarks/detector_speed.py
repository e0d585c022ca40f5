"""Speed, memory and start-up of the lean NCNN runtime against Ultralytics, in one run.

    python -m benchmarks.detector_speed --models models --captures 10

Prints markdown tables:
- one capture from three JPEG files to measurements with annotated images (the lean path),
  median and 90th percentile, as configured by default, with keypoints left off the outline,
  with the close-up regions from the view models alone (no close-ups), with Winograd convolutions,
  and with the top and front photos also read mirrored;
- each model's inference alone (the three views' on their photos, the close-up model on its
  crops): the lean runtime, Ultralytics predict on the .pt and on the same NCNN export,
  with ratios;
- a fresh process's peak RSS and its time from start to first result, lean vs Ultralytics.
Needs the `train` extra for the Ultralytics columns. Timings depend on the models' input
size (models/<view>/card.yaml), not on how well they were trained.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2

from edge.config import ModelsConfig
from edge.detect.closeup import REGIONS, crop_region
from edge.detect.detector import NcnnDetector
from edge.geometry.calibration import default_calibration
from edge.keypoints import VIEWS
from edge.measure.estimate import MeasureSettings, measure
from edge.measure.uncertainty import uncertainty_for
from edge.pipeline.from_images import measure_images
from edge.sim.capture import simulate_capture
from tests.support.daemon_helpers import free_port, write_config

os.environ.setdefault("YOLO_OFFLINE", "1")


def write_captures(folder: Path, count: int) -> list[dict[str, Path]]:
    captures = []
    for seed in range(count):
        capture = simulate_capture(50_000 + seed)
        paths = {}
        for view, jpeg in capture.jpegs.items():
            paths[view] = folder / f"{seed}_{view}.jpg"
            paths[view].write_bytes(jpeg)
        captures.append(paths)
    return captures


def time_lean_path(detector: NcnnDetector, settings: MeasureSettings, paths: dict[str, Path]) -> float:
    """JPEG files -> detections -> gate -> measurements -> annotated JPEGs, one capture, ms."""
    calibration = default_calibration()
    start = time.perf_counter()
    images = {v: cv2.imread(str(p)) for v, p in paths.items()}
    found = measure_images(images, calibration, detector, settings=settings)
    if found.result is None:  # time the geometry too, even when the gate says retake
        measure({v: d.keypoints() for v, d in found.detections.items() if d.goats}, calibration, settings=settings)
    return 1000 * (time.perf_counter() - start)


def time_lean_paths(setups: dict[str, tuple[NcnnDetector, MeasureSettings]], captures) -> dict[str, list[float]]:
    """Each setup on each capture in turn, after one warm-up each, so that the machine's
    drift during the run falls on all of them alike."""
    for detector, settings in setups.values():
        time_lean_path(detector, settings, captures[0])
    times_ms: dict[str, list[float]] = {label: [] for label in setups}
    for paths in captures:
        for label, (detector, settings) in setups.items():
            times_ms[label].append(time_lean_path(detector, settings, paths))
    return times_ms


def closeup_crops(detector: NcnnDetector, photos: dict, input_px: int) -> list:
    """The crops the close-up model reads, around each region (edge/detect/closeup.py) that
    the view models find in each capture's photos."""
    crops = []
    for region in REGIONS:
        for photo in photos[region.view]:
            goats = detector.models[region.view].predict(photo)
            if goats:
                crops.append(crop_region(photo, goats[0], region, input_px)[0])
    return crops


def time_inference(predict, images) -> float:
    predict(images[0])  # warm-up
    times = []
    for image in images:
        start = time.perf_counter()
        predict(image)
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


LEAN_CHILD = """
import time, sys
t0 = time.perf_counter()
import cv2
from edge.config import ModelsConfig
from edge.detect.detector import NcnnDetector
from edge.geometry.calibration import default_calibration
from edge.pipeline.from_images import measure_images
d = NcnnDetector(ModelsConfig(dir=sys.argv[1], winograd=sys.argv[2] == "winograd"))
images = {v: cv2.imread(p) for v, p in zip(("side", "top", "front"), sys.argv[3:6])}
measure_images(images, default_calibration(), d)
print(time.perf_counter() - t0, peak_rss_mb())
"""

ULTRALYTICS_CHILD = """
import time, sys
t0 = time.perf_counter()
from ultralytics import YOLO
models = [YOLO(p, task="pose") for p in sys.argv[1:4]]
for m, image in zip(models, sys.argv[4:7]):
    m.predict(image, verbose=False)
print(time.perf_counter() - t0, peak_rss_mb())
"""

# VmHWM, not getrusage: ru_maxrss survives fork and exec, so a child of this process
# (which has PyTorch loaded) would report the parent's peak.
PEAK_RSS = """
def peak_rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""


def child(code: str, *args: str) -> tuple[float, float]:
    """(wall seconds from process start to first result, peak RSS MB) of a fresh process."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK_RSS + code, *args], capture_output=True, text=True, check=True)
    wall_s = time.perf_counter() - start
    _, rss_mb = (float(v) for v in done.stdout.split()[-2:])
    return wall_s, rss_mb


# How `goat-edge run` is set up (edge/daemon/run.py tune_malloc; NcnnDetector.release_pools
# after each photo), and the alternatives it is measured against: the same daemon, with one
# of those replaced first.
DAEMON_SETUPS = {
    "shipped: 2 malloc arenas, 1 MB mmap threshold, ncnn pools given back after each photo": None,
    "ncnn pools kept between photos": (
        "from edge.detect import detector; "
        "detector.NcnnDetector.release_pools = lambda self: None if self.models else "
        "[a.clear() for a in self._allocators]"
    ),
    "2 arenas, glibc's moving mmap threshold": (
        "run.tune_malloc = functools.partial(run.tune_malloc, mmap_threshold_bytes=None)"
    ),
    "glibc's malloc defaults": "run.tune_malloc = lambda: None",
}


def daemon_command(setup: str | None) -> list[str]:
    if setup is None:
        return [sys.executable, "-m", "edge.cli", "run"]
    prelude = (
        f"import functools, sys; from edge.daemon import run; {setup}; from edge.cli import main; sys.exit(main())"
    )
    return [sys.executable, "-c", prelude, "run"]


def daemon_run(
    models: Path, captures, tmp: Path, count: int = 20, setup: str | None = None
) -> tuple[float, float, dict]:
    """`goat-edge run` on replayed photos: (s from process start to the first stored capture
    through the API, median ms of the later captures through the API, {VmHWM, RssAnon,
    RssFile} in MB after `count` captures).

    RssFile is mostly the pages of OpenCV's and ncnn's libraries that the process has
    touched; how many count depends on the page cache (a just-installed library is wholly
    cached and maps more), so RssAnon, the process's own memory, is shown beside it."""
    tmp = Path(tempfile.mkdtemp(dir=tmp))
    replay = tmp / "replay"
    for i, paths in enumerate(captures):
        (replay / f"{i:03d}").mkdir(parents=True)
        for view, path in paths.items():
            shutil.copyfile(path, replay / f"{i:03d}" / f"{view}.jpg")
    port = free_port()
    config = write_config(
        tmp / "edge.toml", tmp / "data", replay, port, extra=f'[models]\ndir = "{models.resolve()}"\n'
    )
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*daemon_command(setup), "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        first_s = None
        while first_s is None:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/captures", b"{}", {"Content-Type": "application/json"}, method="POST"
                )
                urllib.request.urlopen(request, timeout=60).read()
                first_s = time.perf_counter() - start
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None:
                    raise RuntimeError("goat-edge run exited") from None
                time.sleep(0.02)
        later_ms = []
        for _ in range(count - 1):
            t0 = time.perf_counter()
            urllib.request.urlopen(request, timeout=60).read()
            later_ms.append(1000 * (time.perf_counter() - t0))
        status = dict(line.split(":", 1) for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines())
        mb = {k: int(status[k].split()[0]) / 1024 for k in ("VmHWM", "RssAnon", "RssFile")}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    return first_s, statistics.median(later_ms), mb


def print_daemon_table(models: Path, captures, tmp: Path) -> None:
    print(
        "\n| the daemon, goat-edge run (API, store, replay cameras), 20 captures: set up | "
        "start to first result s | later captures, median ms | peak RSS MB | "
        "at the end: own + library pages MB |"
    )
    print("|---|---|---|---|---|")
    for label, setup in DAEMON_SETUPS.items():
        daemon_s, later_ms, mb = daemon_run(models, captures, tmp, setup=setup)
        print(
            f"| {label} | {daemon_s:.2f} | {later_ms:.0f} | {mb['VmHWM']:.0f} | "
            f"{mb['RssAnon']:.0f} + {mb['RssFile']:.0f} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=Path("models"))
    ap.add_argument("--captures", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--daemon-only", action="store_true", help="only the daemon's table (its set-ups side by side)")
    args = ap.parse_args()
    if args.daemon_only:
        with tempfile.TemporaryDirectory() as tmp:
            print_daemon_table(args.models, write_captures(Path(tmp), args.captures), Path(tmp))
        return
    from ultralytics import YOLO

    default = ModelsConfig(dir=args.models, threads=args.threads)
    detector = NcnnDetector(default)
    mirrored = NcnnDetector(default.model_copy(update={"mirror_average": True}))
    fast = NcnnDetector(default.model_copy(update={"winograd": True}))
    off_outline = NcnnDetector(default.model_copy(update={"snap_to_outline": False}))
    no_closeups = NcnnDetector(default.model_copy(update={"closeups": False}))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        captures = write_captures(tmp, args.captures)
        print(f"| lean path, {args.captures} captures of 3 JPEGs (1280x960) | median ms | p90 ms |")
        print("|---|---|---|")
        # As the daemon measures: with the fitted uncertainty, where there is one for these models.
        measuring = MeasureSettings(uncertainty=uncertainty_for(args.models / "uncertainty.yaml", detector.versions))
        setups = {
            "default": (detector, measuring),
            "no uncertainty (no models/uncertainty.yaml)": (detector, MeasureSettings()),
            "keypoints not moved onto the outline": (off_outline, measuring),
            "close-up regions from the view models alone (models.closeups off)": (no_closeups, measuring),
            "winograd on": (fast, measuring),
            "top and front also read mirrored (models.mirror_average)": (mirrored, measuring),
        }
        for label, path_ms in time_lean_paths(setups, captures).items():
            path_ms = sorted(path_ms)
            print(
                f"| JPEGs -> measurements + annotated images, {label} | {statistics.median(path_ms):.0f} | "
                f"{path_ms[int(0.9 * (len(path_ms) - 1))]:.0f} |"
            )
        print()

        print(
            "| model | input px | lean NCNN ms | lean, winograd on ms | Ultralytics NCNN ms | "
            "Ultralytics .pt ms | .pt / lean | Ultralytics NCNN / lean |"
        )
        print("|---|---|---|---|---|---|---|---|")
        photos = {v: [cv2.imread(str(c[v])) for c in captures] for v in VIEWS}
        inputs = {**photos, "closeup": closeup_crops(no_closeups, photos, detector.models["closeup"].info.input_px)}
        for name, images in inputs.items():
            lean = time_inference(detector.models[name].predict, images)
            lean_fast = time_inference(fast.models[name].predict, images)
            size = detector.models[name].info.input_px
            ncnn_dir = tmp / f"{name}_ncnn_model"  # Ultralytics knows NCNN by this folder name
            shutil.copytree(args.models / name, ncnn_dir)
            theirs_ncnn = YOLO(str(ncnn_dir), task="pose")
            ult_ncnn = time_inference(lambda im, m=theirs_ncnn, s=size: m.predict(im, imgsz=s, verbose=False), images)
            pt_path = args.models / name / "best.pt"
            if pt_path.exists():
                theirs_pt = YOLO(str(pt_path), task="pose")
                ult_pt = time_inference(lambda im, m=theirs_pt, s=size: m.predict(im, imgsz=s, verbose=False), images)
                pt_cells = f"{ult_pt:.1f} | {ult_pt / lean:.2f}"
            else:
                pt_cells = "— | —"
            print(
                f"| {name} | {size} | {lean:.1f} | {lean_fast:.1f} | {ult_ncnn:.1f} | {pt_cells} | "
                f"{ult_ncnn / lean:.2f} |"
            )

        fast.close()
        mirrored.close()
        off_outline.close()
        no_closeups.close()
        first = [str(captures[0][v]) for v in VIEWS]
        ncnn_dirs = [str(tmp / f"{v}_ncnn_model") for v in VIEWS]
        ult_s, ult_mb = child(ULTRALYTICS_CHILD, *ncnn_dirs, *first)
        print(
            "\n| fresh process, first capture (lean: the 4 models; Ultralytics: the 3 views') | "
            "start to first result s | peak RSS MB |"
        )
        print("|---|---|---|")
        for label, mode in (("default", "default"), ("winograd on", "winograd")):
            lean_s, lean_mb = child(LEAN_CHILD, str(args.models), mode, *first)
            print(f"| lean (ncnn + numpy + OpenCV), {label} | {lean_s:.2f} | {lean_mb:.0f} |")
        print(f"| Ultralytics on the same NCNN files | {ult_s:.2f} | {ult_mb:.0f} |")

        print_daemon_table(args.models, captures, tmp)
    print(json.dumps({"threads": args.threads, "models": str(args.models)}))


if __name__ == "__main__":
    main()
