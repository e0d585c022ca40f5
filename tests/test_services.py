"""The sync tests' servers are the real thing: rows survive a PostgreSQL restart, S3 checks
Content-MD5 and signatures, and objects survive a kill -9 of SeaweedFS."""

from __future__ import annotations

import base64
import hashlib

import psycopg
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from cloud_sync.s3 import content_md5

PHOTO = bytes(range(256)) * 400  # 100 KiB, stands in for a JPEG


def error_code(excinfo) -> str:
    return excinfo.value.response["Error"]["Code"]


def test_postgres_stores_and_returns_rows(postgres):
    url = postgres.create_database("services_rows")
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE goats (id uuid PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO goats VALUES ('7d4a0bd6-7a5e-4c54-9c2a-1e8b8a3b1e01', 'Bella')")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT name FROM goats").fetchall() == [("Bella",)]


@pytest.mark.parametrize("how", ["fast", "immediate", "kill"])
def test_postgres_keeps_committed_rows_across_a_restart(postgres, how):
    url = postgres.create_database(f"services_restart_{how}")
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE scale_weights (id int PRIMARY KEY, weight_kg real)")
        conn.execute("INSERT INTO scale_weights VALUES (1, 41.5)")
    try:
        postgres.kill() if how == "kill" else postgres.stop(how)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=2)
    finally:
        postgres.start()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT weight_kg FROM scale_weights").fetchall() == [(41.5,)]


def test_postgres_checks_passwords(postgres):
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute("CREATE ROLE services_pi LOGIN PASSWORD 'hay'")
    psycopg.connect(postgres.url(user="services_pi", password="hay")).close()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(postgres.url(user="services_pi", password="straw"))


def test_s3_stores_a_photo_sent_with_content_md5(s3):
    client = s3.client()
    s3.create_bucket("services-put")
    client.put_object(Bucket="services-put", Key="captures/k/k_side.jpg", Body=PHOTO, ContentMD5=content_md5(PHOTO))
    assert client.get_object(Bucket="services-put", Key="captures/k/k_side.jpg")["Body"].read() == PHOTO


def test_s3_refuses_a_body_that_does_not_match_its_content_md5(s3):
    client = s3.client()
    s3.create_bucket("services-bad-md5")
    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket="services-bad-md5", Key="damaged.jpg", Body=PHOTO, ContentMD5=content_md5(PHOTO[:-1]))
    assert error_code(refused) == "BadDigest"
    with pytest.raises(ClientError) as missing:
        client.head_object(Bucket="services-bad-md5", Key="damaged.jpg")
    assert error_code(missing) == "404"


def test_s3_checks_sha256_checksums(s3):
    client = s3.client()
    s3.create_bucket("services-sha256")
    sha256 = base64.b64encode(hashlib.sha256(PHOTO).digest()).decode()
    stored = client.put_object(Bucket="services-sha256", Key="ok.jpg", Body=PHOTO, ChecksumSHA256=sha256)
    assert stored["ChecksumSHA256"] == sha256
    with pytest.raises(ClientError) as refused:
        client.put_object(
            Bucket="services-sha256",
            Key="bad.jpg",
            Body=PHOTO,
            ChecksumSHA256=base64.b64encode(hashlib.sha256(b"other").digest()).decode(),
        )
    assert error_code(refused) == "BadDigest"


def test_s3_refuses_a_wrong_secret_key(s3):
    import boto3

    stranger = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        region_name=s3.REGION,
        aws_access_key_id=s3.ACCESS_KEY,
        aws_secret_access_key="not-the-secret",
    )
    with pytest.raises(ClientError) as refused:
        stranger.list_buckets()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.slow
def test_s3_keeps_objects_across_a_kill_9(s3):
    client = s3.client()
    s3.create_bucket("services-kill")
    client.put_object(Bucket="services-kill", Key="before.jpg", Body=PHOTO, ContentMD5=content_md5(PHOTO))
    try:
        s3.kill()
        with pytest.raises(EndpointConnectionError):
            client.list_buckets()
    finally:
        s3.start()
    assert client.get_object(Bucket="services-kill", Key="before.jpg")["Body"].read() == PHOTO
    client.put_object(Bucket="services-kill", Key="after.jpg", Body=b"new", ContentMD5=content_md5(b"new"))
    assert client.get_object(Bucket="services-kill", Key="before.jpg")["Body"].read() == PHOTO


def test_s3_refuses_a_put_to_a_missing_bucket(s3):
    with pytest.raises(ClientError) as refused:
        s3.client().put_object(Bucket="services-never-made", Key="k.jpg", Body=b"x")
    assert error_code(refused) == "NoSuchBucket"
