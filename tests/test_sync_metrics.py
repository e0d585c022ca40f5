"""The Pi's health reaches CloudWatch while the cloud is up, and never holds up sync.

Sync runs against the real PostgreSQL and SeaweedFS servers (tests/conftest.py); CloudWatch,
which SeaweedFS has no stand-in for, is moto's, in this process.
"""

from __future__ import annotations

import logging
import shutil
import socket
import threading
from datetime import UTC, datetime, timedelta

import boto3
import botocore.exceptions
import pytest
from moto import mock_aws

from cloud_sync.metrics import (
    ENDPOINT_ENV,
    NAMESPACE,
    PUBLISH_EVERY_S,
    MetricsPublisher,
    make_client,
    metrics_enabled,
)
from edge.config import config_from_dict
from edge.keypoints import VIEW_KEYPOINTS
from edge.measurements import MEASUREMENTS
from edge.store import Store
from edge.store.ids import new_id
from edge.store.records import CaptureRecord, ImageFile
from tests.support.services import free_ports
from tests.support.sync_helpers import (
    DEVICE_ID,
    VIEWS,
    assert_cloud_matches,
    farm,
    jpeg,
    once,
    write_config_file,
)

# moto answers CloudWatch; every other request (SeaweedFS on loopback) goes to the real server,
# signed with the credentials the `cloud` fixture set.
MOTO_CLOUDWATCH_ONLY = {"core": {"mock_credentials": False, "passthrough": {"urls": [r"http://127\.0\.0\.1:\d+/"]}}}
AWS_CLOUDWATCH = "https://monitoring.us-east-1.amazonaws.com"  # named explicitly: the buckets are SeaweedFS's


def record_retakes(store: Store, times: list[datetime]) -> None:
    """Captures the quality gate refused (status retake), taken at `times`."""
    for n, at in enumerate(times):
        store.record_capture(
            CaptureRecord(
                capture_id=new_id(at),
                captured_at=at,
                device_id=DEVICE_ID,
                status="retake",
                reason="top camera: goat not fully in view",
                trigger="button",
                images=tuple(ImageFile(v, "raw", jpeg(100 + 3 * n + i)) for i, v in enumerate(VIEWS)),
                measurements=dict.fromkeys(MEASUREMENTS),
                measurement_reasons={},
                measurement_uncertainty={},
                keypoints={v: {} for v in VIEW_KEYPOINTS},
                model_versions=dict.fromkeys(VIEWS, "0123456789abcdef"),
                calibration_hash="d3dcda71d9e3e7d2",
                weight_formula={"divisor_cm3_per_kg": 10838.2},
            )
        )


def sent_values(cloudwatch, start: datetime, end: datetime) -> dict[str, dict[datetime, float]]:
    """Metric name -> {minute: value} for DEVICE_ID, as CloudWatch has them."""
    names = [m["MetricName"] for m in cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]]
    queries = [
        {
            "Id": f"m{i}",
            "Label": name,
            "MetricStat": {
                "Metric": {
                    "Namespace": NAMESPACE,
                    "MetricName": name,
                    "Dimensions": [{"Name": "DeviceId", "Value": DEVICE_ID}],
                },
                "Period": 60,
                "Stat": "Sum",
            },
        }
        for i, name in enumerate(names)
    ]
    results = cloudwatch.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)
    return {r["Label"]: dict(zip(r["Timestamps"], r["Values"])) for r in results["MetricDataResults"]}


def only_value(values: dict[datetime, float]) -> float:
    [value] = values.values()
    return value


@pytest.fixture
def aws_env(monkeypatch):
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(var, value)
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", ENDPOINT_ENV):
        monkeypatch.delenv(var, raising=False)


def aws_sync_config(**sync):
    return config_from_dict({"device": {"id": DEVICE_ID}, "sync": sync}, env={}).sync


# -- against the real servers ----------------------------------------------------------------


def test_after_a_pass_cloudwatch_has_the_devices_numbers(tmp_path, cloud, capsys, monkeypatch):
    data = tmp_path / "data"
    farm(data, 2)
    with Store.open(data) as store:
        record_retakes(store, [datetime.now(UTC) - timedelta(minutes=m) for m in (5, 9)])
    monkeypatch.setenv(ENDPOINT_ENV, AWS_CLOUDWATCH)
    start = datetime.now(UTC) - timedelta(minutes=5)
    with mock_aws(config=MOTO_CLOUDWATCH_ONLY):
        report = once(write_config_file(tmp_path / "edge.toml", data, cloud), capsys)
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=AWS_CLOUDWATCH)
        metrics = cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]
        values = sent_values(cloudwatch, start, datetime.now(UTC) + timedelta(minutes=1))
    assert report["pending"] == 0 and not report["offline"]
    with Store.open(data) as store:
        assert_cloud_matches(store, cloud)  # sync itself as without metrics
    assert sorted(m["MetricName"] for m in metrics) == [
        "CaptureFailures",
        "DiskFreePercent",
        "Heartbeat",
        "OldestPendingAgeSeconds",
        "OutboxDepth",
    ]
    assert all(m["Dimensions"] == [{"Name": "DeviceId", "Value": DEVICE_ID}] for m in metrics)
    # One datapoint each, sent at the end of the pass: everything sent by then.
    assert only_value(values["Heartbeat"]) == 1
    assert only_value(values["OutboxDepth"]) == 0
    assert only_value(values["OldestPendingAgeSeconds"]) == 0
    assert only_value(values["CaptureFailures"]) == 2
    disk = shutil.disk_usage(data)
    assert only_value(values["DiskFreePercent"]) == pytest.approx(100 * disk.free / disk.total, abs=1)


def test_with_cloudwatch_unreachable_the_pass_still_sends_everything_at_once(
    tmp_path, cloud, capsys, monkeypatch, caplog
):
    data = tmp_path / "data"
    farm(data, 2)
    (closed,) = free_ports(1)
    monkeypatch.setenv(ENDPOINT_ENV, f"http://127.0.0.1:{closed}")
    config = write_config_file(tmp_path / "edge.toml", data, cloud)
    with caplog.at_level(logging.DEBUG, logger="goat-sync"):
        report = once(config, capsys)
    assert report["pending"] == 0 and report["parked"] == 0 and not report["offline"] and report["errors"] == []
    with Store.open(data) as store:
        assert_cloud_matches(store, cloud)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "goat-sync"]
    assert len(warnings) == 1 and "CloudWatch metrics not sent" in warnings[0].getMessage()


# -- the publisher on its own ----------------------------------------------------------------


class SilentServer:
    """Accepts connections, reads what is sent, never answers: a CloudWatch gone quiet."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections.append(conn)

    def close(self):
        self._stop.set()
        self._thread.join()
        for conn in self.connections:
            conn.close()
        self.sock.close()


def test_a_cloudwatch_that_never_answers_costs_one_short_wait_and_no_retry(tmp_path, aws_env, monkeypatch, caplog):
    server = SilentServer()
    try:
        monkeypatch.setenv(ENDPOINT_ENV, f"http://127.0.0.1:{server.port}")
        client = make_client(aws_sync_config(timeout_s=1.5))  # shorter than metrics.TIMEOUT_S: it wins
        clock = [0.0]
        publisher = MetricsPublisher(client, DEVICE_ID, clock=lambda: clock[0])
        with Store.open(tmp_path / "data") as store, caplog.at_level(logging.WARNING, logger="goat-sync"):
            assert publisher.publish(store) is False  # no exception
            assert publisher.publish(store) is False  # within the minute: not tried again
            clock[0] += PUBLISH_EVERY_S
            assert publisher.publish(store) is False
        assert len(server.connections) == 2  # one per minute, none retried
        # And the warning once (other loggers' records, botocore's say, depend on what ran before).
        assert len([r for r in caplog.records if r.name == "goat-sync"]) == 1
    finally:
        server.close()


class Recorder:
    def __init__(self):
        self.calls: list[dict] = []
        self.error: Exception | None = None

    def put_metric_data(self, **kwargs):
        if self.error:
            raise self.error
        self.calls.append(kwargs)


def test_nothing_is_tried_offline_at_most_once_a_minute_and_failures_are_logged_once(tmp_path, caplog):
    client, clock = Recorder(), [1000.0]
    publisher = MetricsPublisher(client, DEVICE_ID, clock=lambda: clock[0])
    with Store.open(tmp_path / "data") as store, caplog.at_level(logging.DEBUG, logger="goat-sync"):
        publisher.begin_pass()
        assert not publisher.publish(store, offline=True) and client.calls == []
        clock[0] += 10
        assert not publisher.publish(store, during_pass=True)  # a pass 10 s old: wait for its end
        assert publisher.publish(store) and len(client.calls) == 1
        [call] = client.calls
        assert call["Namespace"] == "Goatdev/Edge" and len(call["MetricData"]) == 5  # one call, all five
        clock[0] += 30
        publisher.begin_pass()
        assert not publisher.publish(store)  # 30 s since the last
        clock[0] += 40
        assert not publisher.publish(store, during_pass=True)  # 70 s since the last, the pass 40 s old
        clock[0] += 30
        assert publisher.publish(store, during_pass=True)  # a long pass: its heartbeat
        client.error = botocore.exceptions.EndpointConnectionError(endpoint_url="https://monitoring")
        for _ in range(3):
            clock[0] += PUBLISH_EVERY_S
            assert not publisher.publish(store)
        client.error = None
        clock[0] += PUBLISH_EVERY_S
        assert publisher.publish(store) and len(client.calls) == 3
    levels = [(r.levelname, r.getMessage().split(",")[0].split(":")[0]) for r in caplog.records]
    assert levels.count(("WARNING", "CloudWatch metrics not sent")) == 1
    assert levels.count(("DEBUG", "CloudWatch metrics not sent")) == 2
    assert ("INFO", "CloudWatch metrics sent again") in levels


def test_each_retake_is_counted_once_and_a_days_old_one_not_at_all(tmp_path, aws_env):
    # Half past a minute, and after the captures below are stored.
    now = (datetime.now(UTC) + timedelta(minutes=1)).replace(second=30, microsecond=0)
    wall, clock = [now], [0.0]
    farm(tmp_path / "data", 1)  # one capture, waiting to be sent
    with mock_aws(), Store.open(tmp_path / "data") as store:
        cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
        publisher = MetricsPublisher(cloudwatch, DEVICE_ID, clock=lambda: clock[0], now=lambda: wall[0])
        ago = [timedelta(hours=3), timedelta(minutes=20), timedelta(minutes=7), timedelta(seconds=20)]
        record_retakes(store, [now - a for a in ago])
        assert publisher.publish(store)
        clock[0] += PUBLISH_EVERY_S
        wall[0] += timedelta(minutes=2)
        assert publisher.publish(store)
        values = sent_values(cloudwatch, now - timedelta(minutes=5), now + timedelta(minutes=5))
        pending = store.outbox_counts()["pending"]
    first, second = now, now + timedelta(minutes=2)
    # The two of the last hour at once; the one taken 20 s before once it is surely stored;
    # the one from three hours before (say, after a long outage) never.
    assert {t.astimezone(UTC): v for t, v in values["CaptureFailures"].items()} == {first: 2, second: 1}
    assert set(values["OutboxDepth"].values()) == {pending} and pending > 0
    ages = sorted(values["OldestPendingAgeSeconds"].values())
    assert ages[1] - ages[0] == pytest.approx(120)  # the same entry, two minutes older
    assert set(values["Heartbeat"].values()) == {1}


def test_metrics_are_sent_where_there_is_a_cloudwatch(aws_env, monkeypatch):
    assert metrics_enabled(aws_sync_config())  # buckets on AWS
    assert metrics_enabled(aws_sync_config(s3_endpoint_url="https://s3.eu-west-1.amazonaws.com"))
    seaweed = aws_sync_config(s3_endpoint_url="http://127.0.0.1:8333")
    assert not metrics_enabled(seaweed)  # an S3-compatible store: no CloudWatch beside it
    monkeypatch.setenv(ENDPOINT_ENV, "http://127.0.0.1:4566")
    assert metrics_enabled(seaweed)  # unless one is named
    assert not metrics_enabled(aws_sync_config(cloudwatch_metrics=False))  # turned off in the config
