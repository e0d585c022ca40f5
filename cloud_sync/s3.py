"""Uploads to S3: each PUT with Content-MD5, retried on transient errors, under an optional
bandwidth cap shared by all upload threads."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlparse

import boto3
import botocore.exceptions
from botocore.config import Config
from botocore.handlers import add_expect_header

from cloud_sync.errors import retry_transient
from edge.config import SyncConfig


class BandwidthLimit:
    """A token bucket in bytes: uploads wait their turn so the farm's uplink stays usable."""

    def __init__(self, kbps: float | None):
        self.bytes_per_s = kbps * 1000 / 8 if kbps else None
        self._lock = threading.Lock()
        self._next_free_s = time.monotonic()

    def take(self, size_bytes: int) -> None:
        if not self.bytes_per_s:
            return
        with self._lock:
            start = max(self._next_free_s, time.monotonic())
            self._next_free_s = start + size_bytes / self.bytes_per_s
        time.sleep(max(0.0, start - time.monotonic()))


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    body: bytes
    content_type: str
    sha256: str


def is_aws_endpoint(endpoint_url: str | None) -> bool:
    """No endpoint (AWS itself) or one of AWS's own hosts: not an S3-compatible store."""
    if not endpoint_url:
        return True
    host = urlparse(endpoint_url).hostname or ""
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def make_client(config: SyncConfig):
    """boto3 S3 client; credentials from the standard AWS chain (env, profile, instance role)."""
    settings = Config(
        region_name=config.s3_region,
        connect_timeout=config.timeout_s,
        read_timeout=config.timeout_s,
        retries={"total_max_attempts": 1},
        s3={"addressing_style": "path" if config.s3_endpoint_url else "auto"},
    )
    client = boto3.client("s3", endpoint_url=config.s3_endpoint_url, config=settings)
    # botocore asks "Expect: 100-continue" before each PUT body: one more round trip per
    # photo, which on a farm's high-latency uplink costs more than the upload of a small
    # file (benchmarks/RESULTS.md). Content-MD5 still guards the body.
    client.meta.events.unregister("before-call.s3", add_expect_header)
    return client


def content_md5(body: bytes) -> str:
    """The Content-MD5 header value for `body`: S3 refuses the PUT if the body arrives different."""
    return base64.b64encode(hashlib.md5(body).digest()).decode()


class Uploader:
    def __init__(self, client, limit: BandwidthLimit):
        self.client, self.limit = client, limit

    @retry_transient
    def put(self, upload: Upload) -> bool:
        """Write the object once: True when stored now, False when its key already holds one.

        With If-None-Match: * S3 stores the object only while the key is free, and the Pi's
        IAM policy allows no other PUT, so a stolen key cannot overwrite history. Keys are
        fixed per capture and the file was checked against its recorded SHA-256 just
        before, so an object already there is this one, sent by a try whose answer was lost.
        """
        self.limit.take(len(upload.body))
        try:
            self.client.put_object(
                Bucket=upload.bucket,
                Key=upload.key,
                Body=upload.body,
                ContentMD5=content_md5(upload.body),
                ContentType=upload.content_type,
                Metadata={"sha256": upload.sha256},
                IfNoneMatch="*",
            )
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "PreconditionFailed":
                return False
            raise
        return True
