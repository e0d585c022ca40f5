"""Real servers for the tests that ask for them: `postgres` and `s3` start on first use, once per
session, and are killed and deleted at its end (tests/services.py)."""
from __future__ import annotations

import os

import pytest

from services import PostgresServer, SeaweedS3, ServiceUnavailable


def _serve(factory):
    try:
        server = factory()
    except ServiceUnavailable as e:
        # CI sets GOATDEV_REQUIRE_SERVICES so a missing server fails instead of quietly skipping.
        if os.environ.get("GOATDEV_REQUIRE_SERVICES"):
            pytest.fail(str(e), pytrace=False)
        pytest.skip(str(e))
    try:
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL cluster; `postgres.create_database(name)` gives a test its own database."""
    yield from _serve(PostgresServer)


@pytest.fixture(scope="session")
def s3():
    """A SeaweedFS S3 endpoint; `s3.client()` is a boto3 client signed with its Admin key."""
    yield from _serve(SeaweedS3)
