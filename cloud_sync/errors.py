"""Which failures are worth another try, and which mean the cloud refuses the data.

Transient: the network, timeouts, 5xx, throttling; the entry stays pending and the worker
backs off. Permanent: 403, a row PostgreSQL refuses; the entry is parked with the reason,
so one bad entry cannot hold up the others.
"""

from __future__ import annotations

import botocore.exceptions
import psycopg
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential_jitter

_TRANSIENT_S3_CODES = {
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "InternalError",
    "ServiceUnavailable",
    "BadDigest",
    "ConditionalRequestConflict",  # another write to the same key was in flight
}


class DeviceRefused(Exception):
    """The database login may not write as this device (migration 006): a set-up problem,
    so the rows stay pending instead of being parked one by one."""

    def __init__(self, device_id: str, cause: BaseException):
        super().__init__(
            f"the database login may not write as device {device_id!r} ({cause}); "
            f"run goat-sync add-device for it (docs/sync.md, Roles)"
        )


def is_transient(exc: BaseException) -> bool:
    if isinstance(
        exc,
        (
            botocore.exceptions.EndpointConnectionError,
            botocore.exceptions.ConnectionError,
            botocore.exceptions.HTTPClientError,
            ConnectionError,
            TimeoutError,
        ),
    ):
        return True
    if isinstance(exc, botocore.exceptions.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        code = exc.response.get("Error", {}).get("Code", "")
        # BadDigest: the body changed on the way (the file itself was checked just before).
        return status >= 500 or status == 429 or code in _TRANSIENT_S3_CODES
    if isinstance(exc, psycopg.OperationalError):
        # The server went away, or refused to connect; except a bad password, which no
        # retry will fix.
        return "authentication" not in str(exc)
    return False


def describe(exc: BaseException, service: str = "S3") -> str:
    """One line for the log and the pass report; `service`: whose error code a ClientError carries."""
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        return f"{service} {err.get('Code', '?')}: {err.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}".strip()


# Tries per upload or row batch within one pass; beyond that the pass ends as offline and
# the loop backs off (cloud_sync/cli.py).
ATTEMPTS = 4

retry_transient = retry(
    retry=retry_if_exception(is_transient),
    stop=stop_after_attempt(ATTEMPTS),
    wait=wait_exponential_jitter(multiplier=0.5, max=8),
    reraise=True,
)
