"""The AWS side of sync, set up once per farm and once per Pi (scripts/provision_aws.py).

Three buckets: captures (raw photos), processed (annotated photos and measurements.json),
and web (the tablet's or office's static pages; created only, its access is left to how
it is served). On the two data buckets: all public access blocked, default encryption
SSE-S3 (AES256), versioning (an overwrite or delete by anyone, an admin's mistake
included, keeps the earlier version), and lifecycle rules: objects move to S3 Glacier
Flexible Retrieval after GLACIER_AFTER_DAYS (the dashboards read recent captures; older
ones are kept for the record); a version that was overwritten or deleted is kept
NONCURRENT_VERSION_DAYS, long enough to notice and restore it, then expires, and the
delete markers left with no versions behind them are removed; multipart uploads left
incomplete are aborted after ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS, so that their parts
stop costing storage. Our lifecycle rules are named `goatdev-*`; other rules on a bucket
are kept.

Everything is planned first (a list of Steps, each with the JSON it sends) and then
executed, so --dry-run prints exactly what a real run would do and calls nothing. Each
step is idempotent: a bucket we already own, a user that exists, a policy or rule we
already set are fine, so the script can simply be run again.

The Pi's IAM policy, per device, and why it holds nothing more than s3:PutObject:
- the worker (cloud_sync/s3.py) sends each file in one PutObject with Content-MD5,
  Content-Type and metadata; S3 checks the MD5 itself, which needs no permission, and
  all of these ride on s3:PutObject (no ACL or tagging headers are sent).
- no GetObject/HeadObject/ListBucket: it never reads back.
- only conditional writes: the policy allows PutObject only with `If-None-Match: *`
  (condition key s3:if-none-match), which S3 honours only when the key is still free.
  Objects are written once: keys are fixed per capture (cloud_sync/keys.py), and a
  repeated upload after a lost answer gets 412, which the worker takes as "already
  there". So a stolen Pi key can add objects under its prefix but cannot overwrite one,
  and versioning keeps history against everyone else.
- no DeleteObject: the Pi never deletes cloud data, so a stolen Pi cannot wipe the farm's
  records.
- no multipart permissions: photos are single PUTs; the lifecycle rule clears any
  abandoned upload anyway.
- no KMS: SSE-S3 needs no key permissions (SSE-KMS would need kms:GenerateDataKey on
  every Pi, which is why the buckets use SSE-S3).
- only its own prefixes, `captures/<device_id>_*` and `results/<device_id>_*`: a Pi
  cannot write under another Pi's keys, nor to the web bucket.
- besides S3, cloudwatch:PutMetricData for its health metrics (cloud_sync/metrics.py), and
  only into the project's namespace (condition key cloudwatch:namespace). PutMetricData has
  no resource-level permissions (Resource "*") and IAM has no condition key for a metric's
  dimensions, so a stolen Pi key could publish numbers under another Pi's DeviceId (hide or
  raise that Pi's alarms); it cannot read, change or delete alarms, nor read any metric.
Because `_` ends the device id in a key, a device id containing `_` would let `barn` write
`barn_east`'s keys (`captures/barn_*` matches them); such ids are refused here. There is
no fleet-wide policy: the IAM steps need --device-id, one user per Pi, so one Pi's
credentials can be revoked alone. The policy is inline on the user: it belongs to that
one user, and putting it again replaces it (idempotent, no policy versions to manage).
The Pi's PostgreSQL login is separate (docs/sync.md, Roles).

Monitoring (AWS only; CloudWatch and SNS have no S3-compatible stand-in): one SNS topic for
the farm, TOPIC_NAME, which --alarm-email subscribes an address to (AWS mails a confirmation
link first), and with --device-id that Pi's four CloudWatch alarms (alarm_definitions), each
notifying the topic. Creating the topic again returns the same one, an address already
subscribed (or waiting for its confirmation) is left as it is, and putting an alarm again
under its name replaces it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from cloud_sync.metrics import (
    CAPTURE_FAILURES,
    DIMENSION,
    DISK_FREE,
    HEARTBEAT,
    NAMESPACE,
    OLDEST_PENDING_AGE,
)
from cloud_sync.s3 import is_aws_endpoint
from edge.config import DEVICE_ID_PATTERN
from edge.errors import GoatEdgeError

GLACIER_AFTER_DAYS = 90
# A quarter to notice that something was overwritten or deleted and restore it.
NONCURRENT_VERSION_DAYS = 90
# A week covers a Pi that lost its uplink mid-upload over a long weekend, and no more.
ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS = 7
RULE_ID_PREFIX = "goatdev-"
USER_PREFIX = "goatdev-pi-"
POLICY_NAME = "goatdev-pi-upload"
SECRETS_FILE = "/etc/goatdev/sync.env"  # goat-sync's alone; the daemon never reads it
MAX_ACCESS_KEYS = 2  # IAM's limit per user
TOPIC_NAME = "goatdev-alarms"
ALARM_PREFIX = "goatdev-"
# The alarms' thresholds (docs/sync.md, Monitoring). The worker sends a Heartbeat about
# once a minute while it reaches the cloud.
HEARTBEAT_PERIOD_S = 300
HEARTBEAT_MISSING_PERIODS = 3  # 3 x 5 minutes without one: the Pi or its uplink is down
BACKLOG_AGE_S = 24 * 3600  # something has waited on the Pi for more than a day
CAPTURE_FAILURES_PER_HOUR = 10  # retakes in an hour: a busy hour sees a few; 10 means look at the rig
DISK_FREE_MIN_PERCENT = 10.0
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
# edge.config's [device] id rule; 64 is IAM's user name limit.
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)
_MAX_DEVICE_ID = 64 - len(USER_PREFIX)
# Errors an S3-compatible store answers for a feature it lacks (public access block on
# MinIO or SeaweedFS, say): skipped with a warning there, an error on AWS itself.
_UNSUPPORTED = {"NotImplemented", "XNotImplemented", "MethodNotAllowed"}


class ProvisionError(GoatEdgeError):
    pass


@dataclass(frozen=True)
class Buckets:
    captures: str
    processed: str
    web: str

    @classmethod
    def from_prefix(cls, prefix: str) -> Buckets:
        return cls(f"{prefix}-goatdev-captures", f"{prefix}-goatdev-processed", f"{prefix}-goatdev-web")

    @property
    def data(self) -> tuple[str, str]:
        return self.captures, self.processed


@dataclass(frozen=True)
class Request:
    buckets: Buckets
    region: str
    device_id: str | None = None
    create_access_key: bool = False
    endpoint_url: str | None = None
    alarm_email: str | None = None


@dataclass(frozen=True)
class Step:
    description: str
    apply: Callable[[Clients], str]  # returns what happened, for the log
    document: dict | None = None  # the JSON it sends, shown in the plan
    service: str = "s3"


@dataclass
class Clients:
    s3: Any  # boto3 clients are untyped
    iam: Any = None  # set by provision() when a step needs IAM
    sns: Any = None  # ... SNS
    cloudwatch: Any = None  # ... CloudWatch
    topic_arn: str | None = None  # the alarm topic's, once its step has run


def check_bucket_name(name: str) -> None:
    """S3's naming rules for general purpose buckets, checked before anything is created."""
    problem = None
    if not 3 <= len(name) <= 63:
        problem = f"is {len(name)} characters long; S3 allows 3 to 63"
    elif not _BUCKET_CHARS.match(name):
        problem = "may hold only lowercase letters, digits, '.' and '-', and must start and end with a letter or digit"
    elif ".." in name:
        problem = "has two adjacent dots"
    elif _is_ip_address(name):
        problem = "looks like an IP address"
    elif name.startswith(_RESERVED_PREFIXES) or name.endswith(_RESERVED_SUFFIXES):
        problem = "uses a prefix or suffix that S3 reserves"
    if problem:
        raise ProvisionError(f"invalid bucket name '{name}': it {problem}")


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
        return True
    except ValueError:
        return False


def check_device_id(device_id: str) -> None:
    if "_" in device_id:
        raise ProvisionError(
            f"device id '{device_id}' contains '_', which ends the device id in object "
            f"keys: another Pi's policy could cover its keys; use '-' instead"
        )
    if not _DEVICE_ID.match(device_id) or len(device_id) > _MAX_DEVICE_ID:
        raise ProvisionError(
            f"invalid device id '{device_id}': letters, digits, '.' and '-', starting "
            f"with a letter or digit, at most {_MAX_DEVICE_ID} characters"
        )


def check_request(request: Request) -> None:
    for name in (request.buckets.captures, request.buckets.processed, request.buckets.web):
        check_bucket_name(name)
    if len(set((request.buckets.captures, request.buckets.processed, request.buckets.web))) != 3:
        raise ProvisionError(
            f"the captures, processed and web buckets must be three different buckets, "
            f"not {request.buckets.captures}, {request.buckets.processed}, {request.buckets.web}"
        )
    if request.device_id is not None:
        check_device_id(request.device_id)
    if request.create_access_key and request.device_id is None:
        raise ProvisionError("--create-access-key needs --device-id: access keys belong to one Pi's user")
    if request.alarm_email is not None and not _EMAIL.match(request.alarm_email):
        raise ProvisionError(f"--alarm-email '{request.alarm_email}' is not an e-mail address")


def partition_for(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def lifecycle_rules() -> list[dict]:
    everything = {"Prefix": ""}
    return [
        {
            "ID": f"{RULE_ID_PREFIX}glacier-after-{GLACIER_AFTER_DAYS}-days",
            "Status": "Enabled",
            "Filter": everything,
            "Transitions": [{"Days": GLACIER_AFTER_DAYS, "StorageClass": "GLACIER"}],
        },
        {
            "ID": f"{RULE_ID_PREFIX}expire-old-versions-after-{NONCURRENT_VERSION_DAYS}-days",
            "Status": "Enabled",
            "Filter": everything,
            "NoncurrentVersionExpiration": {"NoncurrentDays": NONCURRENT_VERSION_DAYS},
        },
        {
            "ID": f"{RULE_ID_PREFIX}remove-expired-delete-markers",
            "Status": "Enabled",
            "Filter": everything,
            "Expiration": {"ExpiredObjectDeleteMarker": True},
        },
        {
            "ID": f"{RULE_ID_PREFIX}abort-incomplete-uploads-after-{ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS}-days",
            "Status": "Enabled",
            "Filter": everything,
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS},
        },
    ]


PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


def pi_policy(buckets: Buckets, device_id: str, partition: str = "aws") -> dict:
    """PutObject on the Pi's own key prefixes and nothing else (reasons in the module docstring)."""

    def own(bucket: str, folder: str) -> str:
        return f"arn:{partition}:s3:::{bucket}/{folder}/{device_id}_*"

    # Allowed only when the request carries If-None-Match (a write that cannot overwrite).
    write_once = {"Null": {"s3:if-none-match": "false"}}

    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PutOwnCaptures",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": own(buckets.captures, "captures"),
                "Condition": write_once,
            },
            {
                "Sid": "PutOwnResults",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": own(buckets.processed, "results"),
                "Condition": write_once,
            },
            {
                # PutMetricData has no resource-level permissions: the namespace is the limit.
                "Sid": "PutHealthMetrics",
                "Effect": "Allow",
                "Action": "cloudwatch:PutMetricData",
                "Resource": "*",
                "Condition": {"StringEquals": {"cloudwatch:namespace": NAMESPACE}},
            },
        ],
    }


TOPIC_ARN_IN_PLAN = f"<the ARN of SNS topic {TOPIC_NAME}>"


def alarm_definitions(device_id: str, topic_arn: str = TOPIC_ARN_IN_PLAN) -> list[dict]:
    """The Pi's CloudWatch alarms, as put_metric_alarm takes them, each notifying the topic."""
    common = {
        "Namespace": NAMESPACE,
        "Dimensions": [{"Name": DIMENSION, "Value": device_id}],
        "ActionsEnabled": True,
        "AlarmActions": [topic_arn],
    }
    minutes = HEARTBEAT_PERIOD_S * HEARTBEAT_MISSING_PERIODS // 60
    alarms = [
        {
            "AlarmName": f"{ALARM_PREFIX}{device_id}-no-heartbeat",
            "AlarmDescription": f"{device_id}: no heartbeat from goat-sync for {minutes} minutes "
            f"(the Pi, its uplink or goat-sync is down)",
            "MetricName": HEARTBEAT,
            "Statistic": "Sum",
            "Period": HEARTBEAT_PERIOD_S,
            "EvaluationPeriods": HEARTBEAT_MISSING_PERIODS,
            "DatapointsToAlarm": HEARTBEAT_MISSING_PERIODS,
            "Threshold": 1.0,
            "ComparisonOperator": "LessThanThreshold",
            "TreatMissingData": "breaching",  # no data is exactly what this alarm is about
        },
        {
            "AlarmName": f"{ALARM_PREFIX}{device_id}-sync-backlog",
            "AlarmDescription": f"{device_id}: a capture has waited more than {BACKLOG_AGE_S // 3600} h "
            f"on the Pi to reach the cloud",
            "MetricName": OLDEST_PENDING_AGE,
            "Statistic": "Maximum",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": float(BACKLOG_AGE_S),
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "missing",  # offline: the heartbeat alarm says so
        },
        {
            "AlarmName": f"{ALARM_PREFIX}{device_id}-capture-failures",
            "AlarmDescription": f"{device_id}: {CAPTURE_FAILURES_PER_HOUR} or more captures marked retake "
            f"within an hour (camera moved, dirty lens, light?)",
            "MetricName": CAPTURE_FAILURES,
            "Statistic": "Sum",
            "Period": 3600,
            "EvaluationPeriods": 1,
            "Threshold": float(CAPTURE_FAILURES_PER_HOUR),
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
        },
        {
            "AlarmName": f"{ALARM_PREFIX}{device_id}-disk-low",
            "AlarmDescription": f"{device_id}: less than {DISK_FREE_MIN_PERCENT:g} % of the data disk free",
            "MetricName": DISK_FREE,
            "Statistic": "Minimum",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": DISK_FREE_MIN_PERCENT,
            "ComparisonOperator": "LessThanThreshold",
            "TreatMissingData": "missing",
        },
    ]
    return [{**alarm, **common} for alarm in alarms]


def user_name(device_id: str) -> str:
    return f"{USER_PREFIX}{device_id}"


# --- the steps --------------------------------------------------------------------------------


def _code(exc: botocore.exceptions.ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _create_bucket(name: str, region: str, on_aws: bool) -> Step:
    def apply(clients: Clients) -> str:
        kwargs: dict[str, object] = {"Bucket": name}
        if region != "us-east-1":  # us-east-1 refuses a LocationConstraint naming itself
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            clients.s3.create_bucket(**kwargs)
            outcome = "created"
        except botocore.exceptions.ClientError as exc:
            if _code(exc) == "BucketAlreadyOwnedByYou":
                outcome = "already exists, ours"
            elif _code(exc) == "BucketAlreadyExists":
                raise ProvisionError(
                    f"bucket name '{name}' is taken by another AWS account "
                    f"(bucket names are global): choose another --prefix or name"
                ) from None
            else:
                raise
        if on_aws:  # us-east-1 answers "created" for a bucket we already own in any region
            location = clients.s3.get_bucket_location(Bucket=name).get("LocationConstraint") or "us-east-1"
            if location != region:
                raise ProvisionError(
                    f"bucket '{name}' already exists in {location}, not {region}: "
                    f"run with --region {location} (and set the Pi's s3_region to it)"
                )
        return outcome

    return Step(f"create bucket {name} in {region}", apply)


def _block_public_access(name: str) -> Step:
    def apply(clients: Clients) -> str:
        clients.s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK)
        return "set"

    return Step(f"block all public access on {name}", apply, PUBLIC_ACCESS_BLOCK)


def _encrypt(name: str) -> Step:
    def apply(clients: Clients) -> str:
        clients.s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration=ENCRYPTION)
        return "set"

    return Step(f"default encryption SSE-S3 (AES256) on {name}", apply, ENCRYPTION)


VERSIONING = {"Status": "Enabled"}


def _versioning(name: str) -> Step:
    def apply(clients: Clients) -> str:
        clients.s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=VERSIONING)
        return "enabled"

    return Step(f"versioning on {name}", apply, VERSIONING)


def _lifecycle(name: str) -> Step:
    ours = lifecycle_rules()

    def apply(clients: Clients) -> str:
        try:
            existing = clients.s3.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
        except botocore.exceptions.ClientError as exc:
            if _code(exc) != "NoSuchLifecycleConfiguration":
                raise
            existing = []
        # Putting replaces the whole configuration: keep the rules someone else added.
        others = [r for r in existing if not r.get("ID", "").startswith(RULE_ID_PREFIX)]
        clients.s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": others + ours})
        return f"set ({len(others)} other rule(s) kept)" if others else "set"

    return Step(
        f"lifecycle rules on {name}: Glacier after {GLACIER_AFTER_DAYS} days, overwritten or deleted "
        f"versions kept {NONCURRENT_VERSION_DAYS} days, abort incomplete multipart uploads after "
        f"{ABORT_INCOMPLETE_UPLOADS_AFTER_DAYS} days",
        apply,
        {"Rules": ours},
    )


def _create_user(user: str, device_id: str) -> Step:
    def apply(clients: Clients) -> str:
        try:
            clients.iam.create_user(UserName=user, Tags=[{"Key": "goatdev-device-id", "Value": device_id}])
            return "created"
        except botocore.exceptions.ClientError as exc:
            if _code(exc) == "EntityAlreadyExists":
                return "already exists"
            raise

    return Step(f"create IAM user {user}", apply, service="iam")


def _put_policy(user: str, policy: dict) -> Step:
    def apply(clients: Clients) -> str:
        clients.iam.put_user_policy(UserName=user, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(policy))
        return "set"

    return Step(f"inline policy {POLICY_NAME} on {user}", apply, policy, service="iam")


def _create_access_key(user: str) -> Step:
    def apply(clients: Clients) -> str:
        keys = clients.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        if len(keys) >= MAX_ACCESS_KEYS:
            raise ProvisionError(
                f"IAM user {user} already has {len(keys)} access keys, IAM's limit: delete the one the Pi "
                f"no longer uses (aws iam delete-access-key --user-name {user} --access-key-id ...)"
            )
        key = clients.iam.create_access_key(UserName=user)["AccessKey"]
        return (
            f"created\n"
            f"    WARNING: the secret is shown only this once. Store these two lines in {SECRETS_FILE}\n"
            f"    on the Pi (owner root, mode 600), never in edge.toml or version control:\n"
            f"AWS_ACCESS_KEY_ID={key['AccessKeyId']}\n"
            f"AWS_SECRET_ACCESS_KEY={key['SecretAccessKey']}"
        )

    return Step(f"create an access key for {user}", apply, service="iam")


def _alarm_topic(clients: Clients) -> str:
    if clients.topic_arn is None:  # create_topic returns the topic there is, if any
        clients.topic_arn = clients.sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
    return clients.topic_arn


def _create_topic(region: str) -> Step:
    def apply(clients: Clients) -> str:
        clients.topic_arn = None
        return f"ready: {_alarm_topic(clients)}"

    return Step(f"SNS topic {TOPIC_NAME} in {region}, for the alarms", apply, service="sns")


def _subscribe_email(email: str) -> Step:
    def apply(clients: Clients) -> str:
        topic = _alarm_topic(clients)
        for page in clients.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic):
            for sub in page["Subscriptions"]:
                if sub["Protocol"] == "email" and sub["Endpoint"].lower() == email.lower():
                    if sub["SubscriptionArn"] == "PendingConfirmation":
                        return "already subscribed, waiting for the link in AWS's confirmation e-mail to be clicked"
                    return "already subscribed"
        clients.sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=email)
        return f"subscribed: AWS has sent {email} a confirmation e-mail; alarms reach it once the link in it is clicked"

    return Step(f"e-mail {email} the alarms (subscribe it to {TOPIC_NAME})", apply, service="sns")


def _put_alarm(alarm: dict) -> Step:
    def apply(clients: Clients) -> str:
        clients.cloudwatch.put_metric_alarm(**{**alarm, "AlarmActions": [_alarm_topic(clients)]})
        return "set"

    return Step(f"CloudWatch alarm {alarm['AlarmName']}", apply, alarm, service="cloudwatch")


def _monitoring(request: Request, on_aws: bool) -> tuple[list[Step], list[str]]:
    if not on_aws:
        if request.alarm_email or request.device_id:
            return [], [
                f"endpoint {request.endpoint_url} is not AWS: no CloudWatch alarms or e-mail "
                f"(goat-sync sends no metrics there either)"
            ]
        return [], []
    if not (request.device_id or request.alarm_email):
        return [], []
    steps = [_create_topic(request.region)]
    notes = []
    if request.alarm_email:
        steps.append(_subscribe_email(request.alarm_email))
    else:
        notes.append(
            f"no --alarm-email: the alarms notify SNS topic {TOPIC_NAME}; subscribe the farm's "
            f"address once with --alarm-email ADDRESS"
        )
    if request.device_id:
        steps += [_put_alarm(alarm) for alarm in alarm_definitions(request.device_id)]
    return steps, notes


def plan(request: Request) -> tuple[list[Step], list[str]]:
    """The steps a run takes, in order, and notes on what it leaves out."""
    check_request(request)
    on_aws = is_aws_endpoint(request.endpoint_url)
    b = request.buckets
    steps = [_create_bucket(name, request.region, on_aws) for name in (b.captures, b.processed, b.web)]
    for name in b.data:
        steps += [_block_public_access(name), _encrypt(name), _versioning(name), _lifecycle(name)]
    notes = []
    if request.device_id is None:
        notes.append("no --device-id: no IAM user, policy or alarms; run again with --device-id ID for each Pi")
    elif not on_aws:
        notes.append(
            f"endpoint {request.endpoint_url} is not AWS: IAM steps skipped; give the Pi "
            f"credentials limited to PutObject on its prefixes with that store's own tools"
        )
    else:
        user = user_name(request.device_id)
        steps += [
            _create_user(user, request.device_id),
            _put_policy(user, pi_policy(b, request.device_id, partition_for(request.region))),
        ]
        if request.create_access_key:
            steps.append(_create_access_key(user))
    monitoring, more = _monitoring(request, on_aws)
    return steps + monitoring, notes + more


def render_plan(steps: list[Step], notes: list[str]) -> str:
    lines = []
    for number, step in enumerate(steps, 1):
        lines.append(f"{number:2d}. {step.description}")
        if step.document is not None:
            lines += ["      " + line for line in json.dumps(step.document, indent=2).splitlines()]
    return "\n".join(lines + [f"note: {note}" for note in notes])


def execute(steps: list[Step], clients: Clients, echo: Callable[[str], None], on_aws: bool = True) -> None:
    """Run the steps in order; the first failure stops the run with the step named."""
    for number, step in enumerate(steps, 1):
        try:
            outcome = step.apply(clients)
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            if not on_aws and _code(exc) in _UNSUPPORTED:
                echo(f"{number:2d}. {step.description}: skipped, this store does not support it ({_code(exc)})")
                continue
            raise ProvisionError(f"{step.description}: {error.get('Code', '?')}: {error.get('Message', '')}") from None
        except botocore.exceptions.NoCredentialsError:
            raise ProvisionError(
                "no AWS credentials found: set AWS_PROFILE, pass --profile, or export "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for an admin user"
            ) from None
        except botocore.exceptions.EndpointConnectionError as exc:
            raise ProvisionError(f"{step.description}: cannot reach {exc.kwargs.get('endpoint_url')}") from None
        echo(f"{number:2d}. {step.description}: {outcome}")


def edge_toml(request: Request) -> str:
    """The [sync] lines the Pi's edge.toml needs for these buckets."""
    lines = ["[sync]", f's3_region = "{request.region}"']
    if request.endpoint_url:
        lines.append(f's3_endpoint_url = "{request.endpoint_url}"')
    lines += [f'captures_bucket = "{request.buckets.captures}"', f'processed_bucket = "{request.buckets.processed}"']
    return "\n".join(lines)


def provision(request: Request, session, echo: Callable[[str], None] = print) -> None:
    """Create or bring up to date everything `request` names, using a boto3 Session."""
    steps, notes = plan(request)
    on_aws = is_aws_endpoint(request.endpoint_url)
    clients = Clients(s3=session.client("s3", region_name=request.region, endpoint_url=request.endpoint_url))
    services = {step.service for step in steps}
    if "iam" in services:
        clients.iam = session.client("iam", region_name=request.region)
    if "sns" in services:
        clients.sns = session.client("sns", region_name=request.region)
    if "cloudwatch" in services:
        clients.cloudwatch = session.client("cloudwatch", region_name=request.region)
    execute(steps, clients, echo, on_aws)
    for note in notes:
        echo(f"note: {note}")
    echo("the Pi's edge.toml:\n" + edge_toml(request))
