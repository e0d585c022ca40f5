"""Sync throughput: a full outbox to S3 and PostgreSQL, batched rows against one row per
transaction and parallel uploads against one at a time, in one run.

    python -m benchmarks.sync_speed --captures 60

Starts a throwaway SeaweedFS (S3) and PostgreSQL on loopback (tests/support/services.py), fills an
edge store with N captures of realistic photos (1280x960 renders of the simulated chute:
3 raw JPEGs at the cameras' quality and 3 annotated ones at the pipeline's), then prints
markdown tables:
- captures synced per second, end to end (photos, measurements.json, rows; from a full
  outbox to empty, each run on a fresh copy of the store, a fresh database and fresh
  buckets), with the default [sync] settings, with one row per transaction
  (batch_rows=1) and with one upload at a time (upload_concurrency=1), with ratios and
  the time of each stage; on loopback, then through proxies that delay every packet by
  half a round trip each way (--rtt-ms; no bandwidth limit);
- rows per second through RowWriter.write alone, batched against one row per
  transaction, on loopback and through the delaying proxy;
- bytes uploaded and rows written per capture.
The photos reuse the bytes of a few rendered captures: sizes are what matter here. The
test PostgreSQL runs with fsync=off, so a commit costs less than on a real server.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import socket
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from cloud_sync.cli import close_worker, make_worker
from cloud_sync.migrate import migrate
from cloud_sync.rows import Row, RowWriter
from cloud_sync.worker import PassReport
from edge.config import CameraConfig, SyncConfig, config_from_dict
from edge.jpeg import decode_jpeg, encode_jpeg
from edge.measurements import MEASUREMENTS
from edge.pipeline.from_images import ANNOTATED_JPEG_QUALITY
from edge.sim.capture import simulate_capture
from edge.store import Store
from edge.store.ids import new_id
from edge.store.records import CaptureRecord, ImageFile
from tests.support.services import PostgresServer, SeaweedS3
from tests.support.sync_helpers import DEVICE_ID, VIEWS, aws_test_env, row_counts

WARM_KEY = "bench-warm-up"
TABLES = ("devices", "goats", "captures", "measurements", "scale_weights")


# -- the edge store ---------------------------------------------------------------------------


def annotated_jpeg(raw: bytes, seed: int) -> bytes:
    """The raw photo with a box, keypoints and labelled lines drawn on, as the pipeline encodes it."""
    image = decode_jpeg(raw)
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    x0, y0 = int(w * 0.2), int(h * 0.25)
    cv2.rectangle(image, (x0, y0), (int(w * 0.8), int(h * 0.85)), (80, 200, 80), 2)
    for _ in range(12):
        cv2.circle(image, (int(rng.uniform(x0, w * 0.8)), int(rng.uniform(y0, h * 0.85))), 5, (60, 60, 230), -1)
    for n in range(3):
        p = (int(rng.uniform(x0, w * 0.8)), int(rng.uniform(y0, h * 0.85)))
        q = (int(rng.uniform(x0, w * 0.8)), int(rng.uniform(y0, h * 0.85)))
        cv2.line(image, p, q, (0, 215, 255), 3, cv2.LINE_AA)
        text = f"{MEASUREMENTS[n].removesuffix('_cm').replace('_', ' ')} {rng.uniform(40, 90):.1f} cm"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.6, 2)
        cv2.rectangle(image, (p[0], p[1] - th - base), (p[0] + tw + 4, p[1] + base), (0, 0, 0), -1)
        cv2.putText(image, text, (p[0] + 2, p[1]), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
    return encode_jpeg(image, ANNOTATED_JPEG_QUALITY)


def photo_sets(renders: int) -> list[tuple[ImageFile, ...]]:
    """Six photos (3 views x raw, annotated) per rendered capture. The raw photos are encoded
    at the cameras' default quality (cameras.jpeg_quality, 92), as the picamera2 and OpenCV
    backends store them; the simulator's own JPEGs use a random 70-95 and come out smaller."""
    quality = CameraConfig().jpeg_quality
    sets = []
    for seed in range(renders):
        rendered = simulate_capture(70_000 + seed)
        raw = {v: encode_jpeg(rendered.images[v], quality) for v in VIEWS}
        sets.append(
            tuple(
                ImageFile(v, k, raw[v] if k == "raw" else annotated_jpeg(raw[v], seed))
                for v in VIEWS
                for k in ("raw", "annotated")
            )
        )
    return sets


def fill_store(data_dir: Path, captures: int, photos: list[tuple[ImageFile, ...]]) -> None:
    """`captures` captures as the daemon stores them, for a herd of captures // 10 goats, each
    with one scale weight: everything in the outbox, nothing sent."""
    base = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    tags = [f"G{n:03d}" for n in range(max(1, captures // 10))]
    with Store.open(data_dir) as store:
        for tag in tags:
            store.add_goat(tag, sex="female")
        for i in range(captures):
            at = base + timedelta(seconds=37 * i, milliseconds=i)
            ok = i % 5 != 4
            store.record_capture(
                CaptureRecord(
                    capture_id=new_id(at),
                    captured_at=at,
                    device_id=DEVICE_ID,
                    status="ok" if ok else "retake",
                    reason=None if ok else "top camera: goat not fully in view",
                    trigger="button",
                    images=photos[i % len(photos)],
                    measurements={m: (50.0 + i % 40 + n if ok else None) for n, m in enumerate(MEASUREMENTS)},
                    measurement_reasons={},
                    model_versions={v: "0123456789abcdef" for v in VIEWS},
                    calibration_hash="d3dcda71d9e3e7d2",
                    weight_formula={"divisor_cm3_per_kg": 10838.2},
                    goat_tag=tags[i % len(tags)],
                )
            )
        for n, tag in enumerate(tags):
            store.add_scale_weight(tag, 35.0 + n)


# -- the cloud --------------------------------------------------------------------------------


class Cloud:
    def __init__(self):
        self.postgres = PostgresServer()  # its own dir under /tmp, removed by cleanup()
        self.s3 = SeaweedS3()
        self.client = self.s3.client()
        os.environ.update(aws_test_env(self.s3))
        self._n = 0

    def fresh(self) -> tuple[str, str, str]:
        """A new migrated database and a new pair of buckets: (database url, captures, processed)."""
        self._n += 1
        name = f"bench{self._n:03d}"
        url = self.postgres.create_database(name)
        migrate(url)
        buckets = [self.s3.create_bucket(f"{name}-{kind}") for kind in ("captures", "processed")]
        for bucket in buckets:  # SeaweedFS grows a bucket's first volume on its first PUT; not ours to time
            self.client.put_object(Bucket=bucket, Key=WARM_KEY, Body=b"x")
        return url, *buckets

    def objects(self, bucket: str) -> dict[str, int]:
        sizes = {}
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            sizes.update({o["Key"]: o["Size"] for o in page.get("Contents", []) if o["Key"] != WARM_KEY})
        return sizes

    def cleanup(self) -> None:
        self.s3.cleanup()
        self.postgres.cleanup()


def group_cpu_s(pgid: int) -> float:
    """CPU seconds of a server's process group, its exited children (PostgreSQL backends) included."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / tick


def cpu_now(cloud: Cloud) -> tuple[float, float, float]:
    """(this process, SeaweedFS, PostgreSQL) CPU seconds so far."""
    return time.process_time(), group_cpu_s(cloud.s3.proc.pid), group_cpu_s(cloud.postgres.proc.pid)


def make_config(
    cloud: Cloud,
    data_dir: Path,
    url: str,
    captures_bucket: str,
    processed_bucket: str,
    s3_url: str | None = None,
    **sync,
):
    return config_from_dict(
        {
            "device": {"id": DEVICE_ID},
            "storage": {"data_dir": str(data_dir)},
            "sync": {
                "database_url": url,
                "s3_endpoint_url": s3_url or cloud.s3.endpoint_url,
                "captures_bucket": captures_bucket,
                "processed_bucket": processed_bucket,
                **sync,
            },
        },
        env={},
    )


# -- a WAN on loopback ------------------------------------------------------------------------


class DelayProxy:
    """A TCP proxy on loopback that delivers every chunk rtt/2 after it arrived, each way:
    a WAN round trip without a WAN (no bandwidth limit, no loss)."""

    def __init__(self, port: int, rtt_ms: float):
        self.target, self.one_way_s = ("127.0.0.1", port), rtt_ms / 2000
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for a, b in ((client, server), (server, client)):
                q: queue.Queue = queue.Queue()
                threading.Thread(target=self._read, args=(a, q), daemon=True).start()
                threading.Thread(target=self._deliver, args=(b, q), daemon=True).start()

    def _read(self, src: socket.socket, q: queue.Queue) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            q.put((time.monotonic() + self.one_way_s, data))
            if not data:
                return

    @staticmethod
    def _deliver(dst: socket.socket, q: queue.Queue) -> None:
        while True:
            due, data = q.get()
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
            except OSError:
                return

    def url(self, url: str) -> str:
        return url.replace(f"127.0.0.1:{self.target[1]}", f"127.0.0.1:{self.port}")

    def close(self) -> None:
        self.listener.close()


# -- end to end -------------------------------------------------------------------------------


def timed(fn, into: dict, name: str):
    """`fn` adding its wall time to into[name]."""

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            into[name] = into.get(name, 0.0) + time.perf_counter() - start

    return wrapper


def sync_all(cloud: Cloud, template: Path, work: Path, captures: int, rtt_ms: float = 0.0, **sync) -> dict:
    """One worker, passes until the outbox is empty, on a copy of the template store; with
    rtt_ms, S3 and PostgreSQL are reached through delaying proxies."""
    data_dir = work / f"run{cloud._n + 1:03d}"
    shutil.copytree(template, data_dir)
    url, cap_bucket, proc_bucket = cloud.fresh()
    proxies = [DelayProxy(cloud.postgres.port, rtt_ms), DelayProxy(cloud.s3.s3_port, rtt_ms)] if rtt_ms else []
    config = make_config(
        cloud,
        data_dir,
        proxies[0].url(url) if proxies else url,
        cap_bucket,
        proc_bucket,
        s3_url=proxies[1].url(cloud.s3.endpoint_url) if proxies else None,
        **sync,
    )
    worker = make_worker(config)
    pending0 = worker.store.outbox_counts()["pending"]
    stages: dict[str, float] = {}
    # Instance attributes shadow the methods: run_pass calls these. The row stage runs in
    # one thread, so the time inside RowWriter.write is wall time too.
    worker._send_files = timed(worker._send_files, stages, "files_s")
    worker._send_rows = timed(worker._send_rows, stages, "rows_s")
    worker.rows.write = timed(worker.rows.write, stages, "pg_s")
    passes = 0
    try:
        cpu0 = cpu_now(cloud)
        start = time.perf_counter()
        while True:
            report = worker.run_pass()
            passes += 1
            if report.offline or report.parked or report.errors:
                raise RuntimeError(f"sync failed: {report.to_dict()}")
            if report.pending == 0:
                break
        wall_s = time.perf_counter() - start
        cpu = [b - a for a, b in zip(cpu0, cpu_now(cloud))]
    finally:
        close_worker(worker)
        for proxy in proxies:
            proxy.close()
    rows = row_counts(url)
    objects = {"raw": cloud.objects(cap_bucket)}
    processed = cloud.objects(proc_bucket)
    objects["measurements"] = {k: v for k, v in processed.items() if k.endswith("measurements.json")}
    objects["annotated"] = {k: v for k, v in processed.items() if k not in objects["measurements"]}
    assert rows["captures"] == rows["measurements"] == captures, rows
    assert [len(objects[k]) for k in ("raw", "annotated", "measurements")] == [3 * captures, 3 * captures, captures]
    shutil.rmtree(data_dir)
    return {
        "wall_s": wall_s,
        **stages,
        "cpu": cpu,
        "passes": passes,
        "entries": pending0,
        "rows": rows,
        "objects": objects,
    }


# -- rows alone -------------------------------------------------------------------------------


def prepared_rows(cloud: Cloud, template: Path, work: Path) -> list[Row]:
    """The rows the worker would write for the template store, built by the worker itself
    (its photos sent first, so the capture rows list their keys)."""
    data_dir = work / "rows"
    shutil.copytree(template, data_dir)
    url, cap_bucket, proc_bucket = cloud.fresh()
    worker = make_worker(make_config(cloud, data_dir, url, cap_bucket, proc_bucket))
    try:
        report = PassReport()
        worker._send_files(report)  # private, but this is what a pass does first
        entries = worker.store.pending_outbox(1_000_000, kind="row")
        # (row, its measurements.json upload); the photos are all up, so every entry is ready
        rows = [worker._row(e, report, fetched)[0] for e, fetched in worker._ready(entries)]
        if report.errors or any(r is None for r in rows):
            raise RuntimeError(f"preparing rows failed: {report.to_dict()}")
    finally:
        close_worker(worker)
    shutil.rmtree(data_dir)
    return rows


def replicate(rows: list[Row], copies: int) -> list[Row]:
    """`copies` copies of the rows with fresh ids, tags and capture keys, as a bigger herd's."""
    out = []
    for k in range(copies):
        ids: dict[str, str] = {}

        def remap(value, ids=ids):
            if value is None:
                return None
            return ids.setdefault(str(value), str(uuid.uuid4()))

        for row in rows:
            v = dict(row.values)
            if row.table == "goats":
                v.update(id=remap(v["id"]), tag=f"{v['tag']}-{k}")
            elif row.table == "captures":
                v.update(id=remap(v["id"]), goat_id=remap(v["goat_id"]), capture_key=f"{v['capture_key']}-{k}")
            elif row.table == "measurements":
                v.update(capture_id=remap(v["capture_id"]))
            elif row.table == "scale_weights":
                v.update(id=remap(v["id"]), goat_id=remap(v["goat_id"]))
            out.append(Row(len(out), row.table, v))
    return out


def time_rows(url: str, rows: list[Row], per_txn: int) -> float:
    """Seconds to write `rows` in order through RowWriter.write, `per_txn` rows per call."""
    writer = RowWriter(url, 30.0)
    writer.heartbeat(DEVICE_ID, 0, None)  # connected beforehand, as the worker is after its first pass
    try:
        start = time.perf_counter()
        for i in range(0, len(rows), per_txn):
            writer.write(DEVICE_ID, rows[i : i + per_txn])
        elapsed = time.perf_counter() - start
    finally:
        writer.close()
    counts = row_counts(url)
    assert sum(counts[t] for t in TABLES if t != "devices") == len(rows), counts
    return elapsed


# -- report -----------------------------------------------------------------------------------


def print_end_to_end(title: str, runs: dict[str, list[dict]], captures: int) -> None:
    first = next(iter(runs.values()))
    base = statistics.median(r["wall_s"] for r in first)
    spread_title = " (min–max)" if len(first) > 1 else ""
    print(
        f"| end to end, full outbox to empty ({title}) | s{spread_title} | captures/s | photos MB/s | "
        "photos stage s | rows stage s | of which in PostgreSQL s | CPU s: worker / SeaweedFS / PostgreSQL | "
        "time / default |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for label, rs in runs.items():
        wall, files, rows, pg = (statistics.median(r[k] for r in rs) for k in ("wall_s", "files_s", "rows_s", "pg_s"))
        photo_bytes = sum(sum(rs[0]["objects"][k].values()) for k in ("raw", "annotated"))
        cpu = " / ".join(f"{statistics.median(r['cpu'][i] for r in rs):.1f}" for i in range(3))
        spread = f" ({min(r['wall_s'] for r in rs):.2f}–{max(r['wall_s'] for r in rs):.2f})" if len(rs) > 1 else ""
        print(
            f"| {label} | {wall:.2f}{spread} | {captures / wall:.1f} | {photo_bytes / wall / 1e6:.1f} | "
            f"{files:.2f} | {rows:.2f} | {pg:.2f} | {cpu} | {wall / base:.2f} |"
        )
    print()


def fmt_kb(n: float) -> str:
    return f"{n / 1000:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--captures", type=int, default=60, help="captures in the outbox (default 60)")
    ap.add_argument(
        "--repeats", type=int, default=5, help="loopback runs per configuration, and rows-only runs (median; default 5)"
    )
    ap.add_argument("--renders", type=int, default=3, help="distinct rendered captures whose photos are reused")
    ap.add_argument(
        "--row-copies",
        type=int,
        default=10,
        help="rows-only test: the store's rows this many times, with fresh ids (default 10)",
    )
    ap.add_argument(
        "--rtt-ms",
        type=float,
        default=20.0,
        help="round trip of the delayed runs (end to end and rows only; default 20); 0: skip them",
    )
    args = ap.parse_args()

    load_before = os.getloadavg()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="goatdev-sync-bench-") as tmp:
        tmp = Path(tmp)
        cloud = Cloud()
        try:
            template = tmp / "template"
            fill_store(template, args.captures, photo_sets(args.renders))

            configs = {
                "default (batch_rows=200, upload_concurrency=4)": {},
                "one row per transaction (batch_rows=1)": {"batch_rows": 1},
                "one upload at a time (upload_concurrency=1)": {"upload_concurrency": 1},
            }
            runs: dict[str, list[dict]] = {label: [] for label in configs}
            sync_all(cloud, template, tmp, args.captures)  # warm-up: servers, volumes, imports
            for _ in range(args.repeats):  # interleaved, so a drifting background load hits all alike
                for label, sync in configs.items():
                    runs[label].append(sync_all(cloud, template, tmp, args.captures, **sync))
            print_end_to_end(f"loopback, {args.captures} captures, median of {args.repeats}", runs, args.captures)
            if args.rtt_ms > 0:
                wan = {
                    label: [sync_all(cloud, template, tmp, args.captures, rtt_ms=args.rtt_ms, **sync)]
                    for label, sync in configs.items()
                }
                print_end_to_end(
                    f"{args.rtt_ms:.0f} ms round trip to S3 and PostgreSQL, {args.captures} captures",
                    wan,
                    args.captures,
                )

            rows = prepared_rows(cloud, template, tmp)
            many = replicate(rows, args.row_copies)
            batch = SyncConfig().batch_rows
            print(
                f"| rows only, RowWriter.write | rows | batched ({batch}/transaction) rows/s | "
                f"one row per transaction rows/s | batched / one |"
            )
            print("|---|---|---|---|---|")
            t_batch = statistics.median(time_rows(cloud.fresh()[0], many, batch) for _ in range(args.repeats))
            t_one = statistics.median(time_rows(cloud.fresh()[0], many, 1) for _ in range(args.repeats))
            print(
                f"| loopback (median of {args.repeats}) | {len(many)} | {len(many) / t_batch:.0f} | "
                f"{len(many) / t_one:.0f} | {t_one / t_batch:.1f} |"
            )
            if args.rtt_ms > 0:
                proxy = DelayProxy(cloud.postgres.port, args.rtt_ms)
                try:
                    t_batch = time_rows(proxy.url(cloud.fresh()[0]), rows, batch)
                    t_one = time_rows(proxy.url(cloud.fresh()[0]), rows, 1)
                finally:
                    proxy.close()
                print(
                    f"| {args.rtt_ms:.0f} ms round trip (delaying proxy) | {len(rows)} | "
                    f"{len(rows) / t_batch:.0f} | {len(rows) / t_one:.1f} | {t_one / t_batch:.1f} |"
                )
            print()

            first = runs[next(iter(configs))][0]
            print(f"| per capture ({args.captures} captures) | objects | KB uploaded | min KB | max KB |")
            print("|---|---|---|---|---|")
            total = 0
            for kind in ("raw", "annotated", "measurements"):
                sizes = list(first["objects"][kind].values())
                total += sum(sizes)
                label = "measurements.json" if kind == "measurements" else f"{kind} photos (3 views)"
                print(
                    f"| {label} | {len(sizes) / args.captures:.0f} | {fmt_kb(sum(sizes) / args.captures)} | "
                    f"{fmt_kb(min(sizes))} | {fmt_kb(max(sizes))} |"
                )
            print(f"| total | 7 | {fmt_kb(total / args.captures)} | | |")
            print()
            counts = first["rows"]
            print("| rows written | rows | per capture |")
            print("|---|---|---|")
            for t in TABLES[1:]:
                print(f"| {t} | {counts[t]} | {counts[t] / args.captures:.2f} |")
            n_rows = sum(counts[t] for t in TABLES[1:])
            print(f"| total (+ 1 devices row) | {n_rows} | {n_rows / args.captures:.2f} |")
            print(f"\noutbox entries per run: {first['entries']}, passes: {first['passes']}")
        finally:
            cloud.cleanup()
    print(
        json.dumps(
            {
                "captures": args.captures,
                "repeats": args.repeats,
                "elapsed_s": round(time.perf_counter() - started),
                "load_before": [round(x, 2) for x in load_before],
                "load_after": [round(x, 2) for x in os.getloadavg()],
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
