"""What /metrics tells Prometheus: counters the capture pipeline moves, and gauges read from
the store and the disk at each scrape.

One registry per daemon (not prometheus_client's global one), made with the context, so
tests and the daemon never share counters.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from edge.detect.types import Detector, ViewDetections

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Retake reasons by what the associate sees (edge/pipeline/gate.py), a short fixed set for labels.
RETAKE_KINDS = (
    ("no goat in view", "no_goat"),
    ("more than one goat", "second_goat"),
    ("not fully in view", "cut_off"),
    ("head is turned", "head_turned"),
    ("legs are hidden", "legs_hidden"),
    ("unsure where", "landmarks_hidden"),
)


def retake_kinds(reason: str | None) -> set[str]:
    """The kinds of problem in a capture's reason ("; "-separated, one per problem)."""
    kinds = set()
    for problem in (reason or "").split("; "):
        kinds.add(next((kind for words, kind in RETAKE_KINDS if words in problem), "other"))
    return kinds


class Metrics:
    """The daemon's counters and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.captures = Counter(
            "goat_captures",
            "Captures by outcome: ok, retake, or failed (cameras, disk)",
            ["outcome"],
            registry=self.registry,
        )
        self.capture_seconds = Histogram(
            "goat_capture_seconds",
            "From the trigger to the stored capture",
            buckets=(0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 15, 30),
            registry=self.registry,
        )
        self.inference_seconds = Histogram(
            "goat_inference_seconds",
            "One view's detection (its pose model and refinements)",
            ["model"],
            buckets=(0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2, 5),
            registry=self.registry,
        )
        self.retakes = Counter("goat_retakes", "Retakes by kind of problem", ["reason"], registry=self.registry)
        for outcome in ("ok", "retake", "failed"):
            self.captures.labels(outcome)  # present at 0 from the start, so rates work at once

    @contextmanager
    def capture(self) -> Iterator[dict]:
        """Time one capture; the caller sets result["status"] and result["reason"] once stored."""
        result: dict = {}
        start_s = time.perf_counter()
        try:
            yield result
        except BaseException:
            self.captures.labels("failed").inc()
            raise
        finally:
            self.capture_seconds.observe(time.perf_counter() - start_s)
        status = result.get("status", "failed")
        self.captures.labels(status).inc()
        if status == "retake":
            for kind in retake_kinds(result.get("reason")):
                self.retakes.labels(kind).inc()

    def watch(self, store, data_dir: Path) -> None:
        """Read the outbox, sync errors, disk and last capture at each scrape."""
        self.registry.register(_StoreGauges(store, data_dir))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class TimedDetector:
    """A Detector that times each view's detection into inference_seconds."""

    def __init__(self, detector: Detector, metrics: Metrics):
        self.detector, self.metrics = detector, metrics
        self.versions = detector.versions  # the same dict: a reload updates both

    def detect(self, view: str, image_bgr: np.ndarray, lens=None, *, mirrored_chute: bool = False) -> ViewDetections:
        with self.metrics.inference_seconds.labels(view).time():
            return self.detector.detect(view, image_bgr, lens, mirrored_chute=mirrored_chute)

    def close(self) -> None:
        self.detector.close()


class _StoreGauges(Collector):
    def __init__(self, store, data_dir: Path):
        self.store, self.data_dir = store, data_dir

    def collect(self):
        counts = self.store.outbox_counts()
        depth = GaugeMetricFamily("goat_outbox_entries", "Outbox entries by state", labels=["state"])
        for state in ("pending", "parked"):
            depth.add_metric([state], counts.get(state, 0))
        yield depth
        oldest = self.store.oldest_pending_at()
        age = (datetime.now(UTC) - datetime.fromisoformat(oldest)).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "goat_outbox_oldest_pending_seconds", "Age of the oldest entry waiting to sync (0: none)", value=age
        )
        errors = GaugeMetricFamily(
            "goat_sync_errors",
            "Entries still to send whose last try failed, by state and kind of error",
            labels=["state", "kind"],
        )
        for (state, kind), n in sorted(self.store.outbox_errors().items()):
            errors.add_metric([state, kind], n)
        yield errors
        usage = shutil.disk_usage(self.data_dir)
        yield GaugeMetricFamily("goat_disk_free_bytes", "Free space on the data disk", value=usage.free)
        yield GaugeMetricFamily(
            "goat_disk_free_ratio", "Free share of the data disk", value=usage.free / usage.total if usage.total else 0
        )
