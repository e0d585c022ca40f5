"""Real servers for the tests that ask for them: `postgres` and `s3` start on first use, once per
session, and are killed and deleted at its end (tests/support/services.py)."""

from __future__ import annotations

import os
import uuid

import pytest

from tests.support.services import PostgresServer, SeaweedS3, ServiceUnavailable

SERVICE_FIXTURES = {"postgres", "s3", "cloud"}


def pytest_collection_modifyitems(items):
    """A test that asks for a real server is marked `services`, so `-m "not services"` runs
    without PostgreSQL and SeaweedFS."""
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


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


@pytest.fixture
def cloud(postgres, s3, monkeypatch):
    """This test's own database (migrated) and pair of buckets on the session's servers, and
    the AWS environment that signs requests to them (sync_helpers.Cloud)."""
    from cloud_sync.migrate import migrate
    from tests.support.sync_helpers import Cloud, aws_test_env

    name = f"t{uuid.uuid4().hex[:10]}"
    url = postgres.create_database(name)
    migrate(url)
    for key, value in aws_test_env(s3).items():
        monkeypatch.setenv(key, value)
    return Cloud(
        url, s3.endpoint_url, s3.create_bucket(f"{name}-captures"), s3.create_bucket(f"{name}-processed"), s3.client()
    )
