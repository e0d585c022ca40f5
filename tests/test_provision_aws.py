"""The farm's admin provisions AWS once, and each Pi's credentials can only add its own files.

All against moto: nothing here reaches AWS.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import boto3
import botocore.exceptions
import pytest
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from cloud_sync.keys import capture_key, image_key, measurements_key
from cloud_sync.s3 import content_md5

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "provision_aws.py"
FARM = ["--prefix", "greenfarm"]
CAPTURES, PROCESSED, WEB = "greenfarm-goatdev-captures", "greenfarm-goatdev-processed", "greenfarm-goatdev-web"


def _load_script():
    spec = importlib.util.spec_from_file_location("provision_aws", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


provision_aws = _load_script()


@pytest.fixture
def aws(monkeypatch):
    """moto's AWS, with fake admin credentials so that boto3's default chain finds some."""
    for var, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(var, value)
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "MOTO_ACCOUNT_ID"):
        monkeypatch.delenv(var, raising=False)
    with mock_aws():
        yield


def _bucket_names(region="eu-west-1"):
    return sorted(b["Name"] for b in boto3.client("s3", region_name=region).list_buckets()["Buckets"])


def test_provisioning_makes_three_buckets_with_archiving_privacy_and_encryption_and_can_run_again(aws, capsys):
    s3 = boto3.client("s3", region_name="eu-west-1")
    assert provision_aws.main([*FARM, "--region", "eu-west-1"]) == 0
    # The farm added a rule of its own between the two runs: the second run keeps it.
    rules = s3.get_bucket_lifecycle_configuration(Bucket=CAPTURES)["Rules"]
    s3.put_bucket_lifecycle_configuration(
        Bucket=CAPTURES,
        LifecycleConfiguration={
            "Rules": [
                *rules,
                {"ID": "farm-expire-tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}},
            ]
        },
    )
    assert provision_aws.main([*FARM, "--region", "eu-west-1"]) == 0
    out = capsys.readouterr().out
    assert f"create bucket {CAPTURES} in eu-west-1: already exists, ours" in out
    assert f'captures_bucket = "{CAPTURES}"' in out  # the Pi's edge.toml lines

    assert _bucket_names() == [CAPTURES, PROCESSED, WEB]
    for bucket in (CAPTURES, PROCESSED):
        assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "eu-west-1"
        rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
        glacier = [r for r in rules.values() if r.get("Transitions")]
        assert len(glacier) == 1 and glacier[0]["Status"] == "Enabled"
        assert glacier[0]["Transitions"] == [{"Days": 90, "StorageClass": "GLACIER"}]
        aborts = [r for r in rules.values() if "AbortIncompleteMultipartUpload" in r]
        assert [r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] for r in aborts] == [7]
        # History: versions kept, an overwritten or deleted one for 90 days, then expired.
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        old_versions = [r["NoncurrentVersionExpiration"] for r in rules.values() if "NoncurrentVersionExpiration" in r]
        assert old_versions == [{"NoncurrentDays": 90}]
        markers = [r for r in rules.values() if r.get("Expiration", {}).get("ExpiredObjectDeleteMarker")]
        assert len(markers) == 1 and markers[0]["Status"] == "Enabled"
        assert ("farm-expire-tmp" in rules) == (bucket == CAPTURES)

        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert block == {
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        }
        encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        assert encryption["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"


def test_a_dry_run_prints_the_plan_and_creates_nothing(aws, capsys):
    assert (
        provision_aws.main(
            [*FARM, "--region", "eu-west-1", "--device-id", "barn-east", "--create-access-key", "--dry-run"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert _bucket_names() == []
    assert boto3.client("iam").list_users()["Users"] == []
    for bucket in (CAPTURES, PROCESSED, WEB):
        assert f"create bucket {bucket} in eu-west-1" in out
    assert '"StorageClass": "GLACIER"' in out and '"DaysAfterInitiation": 7' in out
    assert f'"Resource": "arn:aws:s3:::{CAPTURES}/captures/barn-east_*"' in out
    assert "create an access key for goatdev-pi-barn-east" in out


def test_the_pis_credentials_upload_its_own_capture_and_nothing_else(aws, monkeypatch, capsys):
    """moto enforces IAM policies on each S3 call here, from the first call after the bootstrap."""
    from cloud_sync.s3 import BandwidthLimit, Upload, Uploader

    @set_initial_no_auth_action_count(3)  # the admin's bootstrap: user, policy, key
    def story():
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_user(UserName="admin")
        iam.put_user_policy(
            UserName="admin",
            PolicyName="all",
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            ),
        )
        admin = iam.create_access_key(UserName="admin")["AccessKey"]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", admin["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", admin["SecretAccessKey"])

        assert (
            provision_aws.main([*FARM, "--region", "us-east-1", "--device-id", "barn-east", "--create-access-key"]) == 0
        )
        out = capsys.readouterr().out
        assert "/etc/goatdev/sync.env" in out
        printed = dict(re.findall(r"^(AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY)=(\S+)$", out, re.MULTILINE))
        pi = boto3.Session(
            aws_access_key_id=printed["AWS_ACCESS_KEY_ID"], aws_secret_access_key=printed["AWS_SECRET_ACCESS_KEY"]
        ).client("s3", region_name="us-east-1")

        key = capture_key("barn-east", "2026-11-26T12:10:02.375+00:00")
        photo, measurements = image_key(key, "side", "raw"), measurements_key(key)
        uploader = Uploader(pi, BandwidthLimit(None))  # the sync worker's own upload path
        assert uploader.put(Upload(CAPTURES, photo, b"jpeg bytes", "image/jpeg", "0" * 64)) is True
        assert uploader.put(Upload(PROCESSED, measurements, b"{}", "application/json", "0" * 64)) is True

        def refused(call, **kwargs):
            with pytest.raises(botocore.exceptions.ClientError) as denied:
                call(**kwargs)
            return denied.value.response["Error"]["Code"] == "AccessDenied"

        other = image_key(capture_key("barn-west", "2026-11-26T12:10:02.375+00:00"), "side", "raw")
        md5 = content_md5(b"x")
        assert refused(pi.get_object, Bucket=CAPTURES, Key=photo)
        assert refused(pi.delete_object, Bucket=CAPTURES, Key=photo)
        assert refused(pi.list_objects_v2, Bucket=CAPTURES)
        assert refused(pi.put_object, Bucket=CAPTURES, Key=other, Body=b"x", ContentMD5=md5)
        assert refused(pi.put_object, Bucket=PROCESSED, Key=f"captures/{key}/x.jpg", Body=b"x", ContentMD5=md5)
        assert refused(pi.put_object, Bucket=WEB, Key="index.html", Body=b"x", ContentMD5=md5)
        # A stolen key cannot overwrite what the Pi sent: a conditional PUT finds the key
        # taken (the worker's own path: "already there"), and the policy allows no other
        # PUT. moto does not evaluate IAM conditions, so that part is read from the policy.
        admin_iam = boto3.Session(
            aws_access_key_id=admin["AccessKeyId"], aws_secret_access_key=admin["SecretAccessKey"]
        ).client("iam", region_name="us-east-1")
        policy = admin_iam.get_user_policy(UserName="goatdev-pi-barn-east", PolicyName="goatdev-pi-upload")
        conditions = [
            statement["Condition"]
            for statement in policy["PolicyDocument"]["Statement"]
            if statement["Action"] == "s3:PutObject"
        ]
        assert conditions == [{"Null": {"s3:if-none-match": "false"}}] * 2
        with pytest.raises(botocore.exceptions.ClientError) as taken:
            pi.put_object(Bucket=CAPTURES, Key=photo, Body=b"x", ContentMD5=md5, IfNoneMatch="*")
        assert taken.value.response["Error"]["Code"] == "PreconditionFailed"
        assert uploader.put(Upload(CAPTURES, photo, b"jpeg bytes", "image/jpeg", "0" * 64)) is False
        # ...while the admin sees exactly the two files the Pi sent.
        s3 = boto3.Session(
            aws_access_key_id=admin["AccessKeyId"], aws_secret_access_key=admin["SecretAccessKey"]
        ).client("s3", region_name="us-east-1")
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=CAPTURES)["Contents"]] == [photo]
        assert s3.get_object(Bucket=CAPTURES, Key=photo)["Body"].read() == b"jpeg bytes"
        assert len(s3.list_object_versions(Bucket=CAPTURES)["Versions"]) == 1
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=PROCESSED)["Contents"]] == [measurements]

        # Its CloudWatch permission (PutMetricData into one namespace) is read from the policy
        # in the alarm test below: moto checks CloudWatch calls as "monitoring:..." actions
        # (the API's signing name), not IAM's "cloudwatch:...", so it cannot judge them.

    story()


@pytest.mark.parametrize(
    "args, named",
    [
        (["--prefix", "Green_Farm"], "Green_Farm-goatdev-captures"),
        ([*FARM, "--web-bucket", "192.168.1.10"], "192.168.1.10"),
        ([*FARM, "--device-id", "barn_east"], "barn_east"),
    ],
)
def test_bad_names_stop_before_anything_is_created_with_the_name_given(aws, capsys, args, named):
    assert provision_aws.main([*args, "--region", "eu-west-1"]) == 1
    assert named in capsys.readouterr().err
    assert _bucket_names() == []


def test_a_bucket_name_another_account_holds_is_named_as_taken(aws, monkeypatch, capsys):
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "111122223333")
    boto3.client("s3", region_name="eu-west-1").create_bucket(
        Bucket=PROCESSED, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    monkeypatch.delenv("MOTO_ACCOUNT_ID")
    assert provision_aws.main([*FARM, "--region", "eu-west-1"]) == 1
    err = capsys.readouterr().err
    assert f"bucket name '{PROCESSED}' is taken by another AWS account" in err


ALARMS = {
    # name: (metric, statistic, comparison, threshold, period s, evaluation periods, missing data)
    "goatdev-barn-east-no-heartbeat": ("Heartbeat", "Sum", "LessThanThreshold", 1.0, 300, 3, "breaching"),
    "goatdev-barn-east-sync-backlog": (
        "OldestPendingAgeSeconds",
        "Maximum",
        "GreaterThanThreshold",
        86400.0,
        300,
        1,
        "missing",
    ),
    "goatdev-barn-east-capture-failures": (
        "CaptureFailures",
        "Sum",
        "GreaterThanOrEqualToThreshold",
        10.0,
        3600,
        1,
        "notBreaching",
    ),
    "goatdev-barn-east-disk-low": ("DiskFreePercent", "Minimum", "LessThanThreshold", 10.0, 300, 1, "missing"),
}
EMAIL = "office@greenfarm.example"


def test_a_pis_alarms_e_mail_the_farm_and_running_again_duplicates_nothing(aws, capsys):
    args = [*FARM, "--region", "eu-west-1", "--device-id", "barn-east", "--alarm-email", EMAIL]
    assert provision_aws.main(args) == 0
    assert "AWS has sent office@greenfarm.example a confirmation e-mail" in capsys.readouterr().out
    assert provision_aws.main(args) == 0
    assert "already subscribed" in capsys.readouterr().out

    sns = boto3.client("sns", region_name="eu-west-1")
    [topic] = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    assert topic.endswith(":goatdev-alarms") and ":eu-west-1:" in topic
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", EMAIL)]

    alarms = boto3.client("cloudwatch", region_name="eu-west-1").describe_alarms()["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == sorted(ALARMS)
    for alarm in alarms:
        metric, statistic, comparison, threshold, period, periods, missing = ALARMS[alarm["AlarmName"]]
        assert (alarm["MetricName"], alarm["Namespace"]) == (metric, "Goatdev/Edge")
        assert alarm["Dimensions"] == [{"Name": "DeviceId", "Value": "barn-east"}]
        assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
            statistic,
            comparison,
            threshold,
        )
        assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["TreatMissingData"]) == (period, periods, missing)
        assert alarm["AlarmActions"] == [topic] and alarm["ActionsEnabled"]
    heartbeat = next(a for a in alarms if a["MetricName"] == "Heartbeat")
    assert heartbeat["Period"] * heartbeat["DatapointsToAlarm"] == 15 * 60  # 15 minutes without one

    # The Pi may send metrics into the project's namespace only (PutMetricData has no
    # resources to name). moto does not evaluate conditions: AWS enforces this one.
    policy = boto3.client("iam").get_user_policy(UserName="goatdev-pi-barn-east", PolicyName="goatdev-pi-upload")
    [metrics] = [s for s in policy["PolicyDocument"]["Statement"] if s["Action"].startswith("cloudwatch:")]
    assert metrics == {
        "Sid": "PutHealthMetrics",
        "Effect": "Allow",
        "Action": "cloudwatch:PutMetricData",
        "Resource": "*",
        "Condition": {"StringEquals": {"cloudwatch:namespace": "Goatdev/Edge"}},
    }


def test_a_second_pi_shares_the_topic_and_gets_its_own_alarms(aws, capsys):
    assert provision_aws.main([*FARM, "--region", "eu-west-1", "--alarm-email", EMAIL]) == 0
    out = capsys.readouterr().out
    assert "no --device-id: no IAM user, policy or alarms" in out
    assert boto3.client("cloudwatch", region_name="eu-west-1").describe_alarms()["MetricAlarms"] == []
    for device in ("barn-east", "barn-west"):
        assert provision_aws.main([*FARM, "--region", "eu-west-1", "--device-id", device]) == 0
    assert "no --alarm-email: the alarms notify SNS topic goatdev-alarms" in capsys.readouterr().out
    sns = boto3.client("sns", region_name="eu-west-1")
    [topic] = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 1
    alarms = boto3.client("cloudwatch", region_name="eu-west-1").describe_alarms()["MetricAlarms"]
    assert len(alarms) == 8 and {a["AlarmActions"][0] for a in alarms} == {topic}
    assert sorted(a["Dimensions"][0]["Value"] for a in alarms) == ["barn-east"] * 4 + ["barn-west"] * 4


def test_a_dry_run_shows_the_alarms_and_the_e_mail_and_creates_neither(aws, capsys):
    args = [*FARM, "--region", "eu-west-1", "--device-id", "barn-east", "--alarm-email", EMAIL, "--dry-run"]
    assert provision_aws.main(args) == 0
    out = capsys.readouterr().out
    assert "SNS topic goatdev-alarms in eu-west-1" in out
    assert f"e-mail {EMAIL} the alarms" in out
    for name in ALARMS:
        assert f"CloudWatch alarm {name}" in out
    assert '"TreatMissingData": "breaching"' in out and '"Threshold": 86400.0' in out
    assert '"cloudwatch:namespace": "Goatdev/Edge"' in out
    assert boto3.client("sns", region_name="eu-west-1").list_topics()["Topics"] == []
    assert boto3.client("cloudwatch", region_name="eu-west-1").describe_alarms()["MetricAlarms"] == []


def test_alarms_need_aws_and_a_real_e_mail_address(aws, capsys):
    other_store = ["--endpoint-url", "http://127.0.0.1:8333", "--dry-run"]
    args = [*FARM, "--region", "eu-west-1", "--device-id", "barn-east", "--alarm-email", EMAIL, *other_store]
    assert provision_aws.main(args) == 0
    out = capsys.readouterr().out
    assert "is not AWS: no CloudWatch alarms or e-mail" in out
    assert "SNS topic" not in out and "CloudWatch alarm goatdev-" not in out
    assert provision_aws.main([*FARM, "--region", "eu-west-1", "--alarm-email", "office"]) == 1
    assert "--alarm-email 'office' is not an e-mail address" in capsys.readouterr().err
    assert _bucket_names() == []
