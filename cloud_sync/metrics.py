"""The Pi's health in CloudWatch: a few numbers per minute, sent while the cloud is reachable.

At the end of each sync pass, and during a long one (a backlog on a slow uplink can take an
hour), at most once a minute (PUBLISH_EVERY_S), the worker sends one PutMetricData call
with all of them, in namespace NAMESPACE with the dimension
DeviceId=<device id> (scripts/provision_aws.py sets the alarms on them, docs/sync.md):

- OutboxDepth (Count): outbox entries still to send (pending; parked ones are not counted).
- OldestPendingAgeSeconds (Seconds): how long the oldest of them has waited; 0 when none.
- CaptureFailures (Count): captures the quality gate marked `retake` since the last datapoint
  sent. A capture that failed outright (a camera error, a full disk) raises before anything
  is stored, so the store has no record of it and goat-sync cannot count it; retakes (the
  goat not in view, keypoints too unsure) are what the store records of captures that did
  not give a measurement. Counted by capture time, from the previous datapoint sent (kept in
  the store's sync_state, so a restart neither loses nor repeats them) but never further
  back than an hour: after a long time offline, old retakes would only raise a stale alarm.
- DiskFreePercent (Percent): space left for the data folder (what a non-root user may use).
- Heartbeat (Count): 1; its absence is what the "no heartbeat" alarm watches.

Monitoring must never hold up sync: nothing is tried while the pass found the cloud
unreachable (that minute's numbers are dropped), the client waits at most TIMEOUT_S to
connect and to read and never retries, and any failure is logged (a warning the first time,
then at debug level until it works again) and dropped, never raised.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config

from cloud_sync.errors import describe
from cloud_sync.s3 import is_aws_endpoint
from edge.config import SyncConfig
from edge.store import Store
from edge.store.records import iso_utc

log = logging.getLogger("goat-sync")

NAMESPACE = "Goatdev/Edge"
DIMENSION = "DeviceId"
OUTBOX_DEPTH = "OutboxDepth"
OLDEST_PENDING_AGE = "OldestPendingAgeSeconds"
CAPTURE_FAILURES = "CaptureFailures"
DISK_FREE = "DiskFreePercent"
HEARTBEAT = "Heartbeat"
METRICS = (OUTBOX_DEPTH, OLDEST_PENDING_AGE, CAPTURE_FAILURES, DISK_FREE, HEARTBEAT)

# CloudWatch keeps one datapoint a minute at standard resolution; passes come every
# sync.interval_s (15 s) or back to back while a backlog drains.
PUBLISH_EVERY_S = 60.0
TIMEOUT_S = 5.0  # connect and read, each; sync.timeout_s when that is shorter
# A capture is stored a few seconds after its capture time (cameras, models): retakes are
# counted up to this long ago, so that one still being stored is counted next time.
CAPTURE_SETTLE = timedelta(seconds=60)
COUNT_BACK_AT_MOST = timedelta(hours=1)
# sync_state key: the capture time up to which retakes have been sent as CaptureFailures.
FAILURES_COUNTED_UNTIL = "metrics_failures_counted_until"
# The botocore setting that names a CloudWatch endpoint other than AWS's own.
ENDPOINT_ENV = "AWS_ENDPOINT_URL_CLOUDWATCH"


def metrics_enabled(config: SyncConfig) -> bool:
    """sync.cloudwatch_metrics, and the buckets on AWS (an S3-compatible store has no
    CloudWatch beside it) unless AWS_ENDPOINT_URL_CLOUDWATCH names one."""
    if not config.cloudwatch_metrics:
        return False
    return is_aws_endpoint(config.s3_endpoint_url) or bool(os.environ.get(ENDPOINT_ENV))


def make_client(config: SyncConfig):
    """boto3 CloudWatch client in the buckets' region, credentials from the standard AWS
    chain (the Pi's upload-only user); short timeouts and a single attempt."""
    timeout_s = min(TIMEOUT_S, config.timeout_s)
    settings = Config(
        region_name=config.s3_region,
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        retries={"total_max_attempts": 1},
    )
    return boto3.client("cloudwatch", config=settings)


def make_publisher(config: SyncConfig, device_id: str) -> MetricsPublisher | None:
    if not metrics_enabled(config):
        log.debug("CloudWatch metrics off (sync.cloudwatch_metrics, or the buckets are not on AWS)")
        return None
    return MetricsPublisher(make_client(config), device_id)


class MetricsPublisher:
    def __init__(
        self,
        client: Any,
        device_id: str,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.client, self.device_id, self.clock, self.now = client, device_id, clock, now
        self._last_try_s: float | None = None
        self._pass_started_s: float | None = None
        self._failing = False

    def begin_pass(self) -> None:
        self._pass_started_s = self.clock()

    def publish(self, store: Store, offline: bool = False, during_pass: bool = False) -> bool:
        """Send this minute's numbers; True when CloudWatch took them. Never raises.

        At most once every PUBLISH_EVERY_S; `during_pass`: between two batches of a pass,
        only once the pass has gone on that long (the heartbeat of a long pass), so that a
        short pass's numbers are those at its end."""
        if offline:
            log.debug("cloud unreachable: this pass's CloudWatch metrics are dropped")
            return False
        now_s = self.clock()
        if self._last_try_s is not None and now_s - self._last_try_s < PUBLISH_EVERY_S:
            return False
        if during_pass and (self._pass_started_s is None or now_s - self._pass_started_s < PUBLISH_EVERY_S):
            return False
        self._last_try_s = now_s
        try:
            data, counted_until = self.collect(store, self.now())
            self.client.put_metric_data(Namespace=NAMESPACE, MetricData=data)
        except Exception as exc:  # monitoring never stops sync: logged, dropped
            if self._failing:
                log.debug("CloudWatch metrics not sent: %s", describe(exc, "CloudWatch"))
            else:
                log.warning(
                    "CloudWatch metrics not sent, dropped (next try in %.0f s; logged once until they go through): %s",
                    PUBLISH_EVERY_S,
                    describe(exc, "CloudWatch"),
                )
                self._failing = True
            return False
        if self._failing:
            log.info("CloudWatch metrics sent again")
            self._failing = False
        try:
            store.set_sync_state(FAILURES_COUNTED_UNTIL, counted_until)
        except Exception as exc:  # the daemon holds the database: these retakes may be sent again
            log.warning("CloudWatch metrics sent, but not noted in the store: %s", exc)
        return True

    def collect(self, store: Store, now: datetime) -> tuple[list[dict], str]:
        """The MetricData of one PutMetricData call, and the capture time up to which
        retakes were counted (to store once CloudWatch has them)."""
        pending = store.outbox_counts()["pending"]
        oldest = store.oldest_pending_at()
        age_s = max(0.0, (now - datetime.fromisoformat(oldest)).total_seconds()) if oldest else 0.0
        until = iso_utc(now - CAPTURE_SETTLE)
        since = max(store.get_sync_state(FAILURES_COUNTED_UNTIL) or "", iso_utc(now - COUNT_BACK_AT_MOST))
        retakes = len(store.select_captures(since=since, until=until, status="retake")) if since < until else 0
        disk = shutil.disk_usage(store.data_dir)
        values = (
            (OUTBOX_DEPTH, pending, "Count"),
            (OLDEST_PENDING_AGE, round(age_s, 3), "Seconds"),
            (CAPTURE_FAILURES, retakes, "Count"),
            (DISK_FREE, round(100.0 * disk.free / disk.total, 2) if disk.total else 0.0, "Percent"),
            (HEARTBEAT, 1, "Count"),
        )
        dimensions = [{"Name": DIMENSION, "Value": self.device_id}]
        data = [
            {"MetricName": name, "Dimensions": dimensions, "Timestamp": now, "Value": float(value), "Unit": unit}
            for name, value, unit in values
        ]
        return data, max(since, until)
