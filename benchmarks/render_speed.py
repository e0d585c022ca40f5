"""Simulator speed: per-view render time by resolution, and dataset images per second.

Prints a markdown table. The ray grids (one undistortion per pixel, once per camera) are
built before timing, as a dataset run or the daemon does once at start-up.

    python -m benchmarks.render_speed --captures 10 --dataset-images 100
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from edge.geometry.calibration import default_calibration
from edge.keypoints import VIEWS
from edge.sim.capture import simulate_capture
from edge.sim.render import ray_grid
from edge.training.dataset import make_dataset


def view_times_ms(scale: float, captures: int) -> dict[str, float]:
    calibration = default_calibration().scaled(scale)
    for view in VIEWS:
        ray_grid(calibration[view])
    times = {view: [] for view in VIEWS}
    times["capture"] = []
    for seed in range(captures):
        start = time.perf_counter()
        for view in VIEWS:
            t0 = time.perf_counter()
            simulate_capture(seed, scale=scale, views=(view,))
            times[view].append(1000 * (time.perf_counter() - t0))
        times["capture"].append(1000 * (time.perf_counter() - start))
    whole = [0.0] * captures
    for seed in range(captures):
        t0 = time.perf_counter()
        simulate_capture(seed, scale=scale)
        whole[seed] = 1000 * (time.perf_counter() - t0)
    result = {view: statistics.median(times[view]) for view in VIEWS}
    result["capture"] = statistics.median(whole)
    return result


def dataset_rate(images: int, workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        summary = make_dataset(f"{tmp}/ds", "side", images, seed=99, scale=0.5, workers=workers)
    return summary.images_per_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captures", type=int, default=10)
    ap.add_argument("--dataset-images", type=int, default=100)
    args = ap.parse_args()
    print("| resolution | side ms | top ms | front ms | whole capture (3 views) ms |")
    print("|---|---|---|---|---|")
    for scale in (1.0, 0.5, 0.25):
        t = view_times_ms(scale, args.captures)
        w, h = round(1280 * scale), round(960 * scale)
        print(f"| {w}x{h} | {t['side']:.0f} | {t['top']:.0f} | {t['front']:.0f} | {t['capture']:.0f} |")
    print()
    print("| dataset (side view, 640x480) | images/s | 3,000 images take |")
    print("|---|---|---|")
    for workers in (1, 2):
        rate = dataset_rate(args.dataset_images, workers)
        print(f"| {workers} worker{'s' if workers > 1 else ''} | {rate:.1f} | {3000 / rate / 60:.1f} min |")


if __name__ == "__main__":
    main()
