#!/usr/bin/env python3
"""Create the farm's S3 buckets, each Pi's upload-only IAM user and its alarms (cloud_sync/provision.py).

    # once per farm: the buckets, with lifecycle rules, encryption, public access blocked
    .venv/bin/python scripts/provision_aws.py --prefix greenfarm --region eu-west-1 --dry-run
    .venv/bin/python scripts/provision_aws.py --prefix greenfarm --region eu-west-1
    # once per Pi: its user, limited to PutObject on its own keys, and its access key
    .venv/bin/python scripts/provision_aws.py --prefix greenfarm --region eu-west-1 \\
        --device-id barn-east --create-access-key
    # its alarms (no heartbeat, backlog, retakes, disk) e-mailed to the farm (AWS only)
    .venv/bin/python scripts/provision_aws.py --prefix greenfarm --region eu-west-1 \\
        --device-id barn-east --alarm-email office@greenfarm.example

Runs with an admin's AWS credentials (--profile, or the standard AWS chain), never the
Pi's. Safe to run again: what exists already is kept or brought up to date. Each new
access key is printed once, to be stored in /etc/goatdev/sync.env on the Pi (goat-sync's secrets).
"""

from __future__ import annotations

import argparse
import sys

from cloud_sync.provision import Buckets, ProvisionError, Request, plan, provision, render_plan


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = parser.add_argument_group(
        "bucket names",
        "--prefix FARM names all three (FARM-goatdev-captures, -processed, -web); an explicit name overrides its one",
    )
    names.add_argument("--prefix", help="e.g. the farm's name, lowercase")
    names.add_argument("--captures-bucket", help="raw photos")
    names.add_argument("--processed-bucket", help="annotated photos and measurements.json")
    names.add_argument("--web-bucket", help="the web pages; created only")
    parser.add_argument("--region", required=True, help="the buckets' AWS region, e.g. eu-west-1")
    parser.add_argument(
        "--device-id",
        help="a Pi's [device] id: creates IAM user goatdev-pi-ID with its upload-only policy; without it, buckets only",
    )
    parser.add_argument(
        "--create-access-key", action="store_true", help="also create an access key for the Pi's user and print it once"
    )
    parser.add_argument(
        "--alarm-email",
        help="subscribe this address to the alarm topic goatdev-alarms (AWS e-mails a confirmation link first)",
    )
    parser.add_argument("--endpoint-url", help="an S3-compatible store instead of AWS S3 (IAM and alarm steps skipped)")
    parser.add_argument("--profile", help="the AWS profile to provision with (an admin's)")
    parser.add_argument("--dry-run", action="store_true", help="print every step and its JSON; call nothing")
    args = parser.parse_args(argv)
    if not args.prefix and not (args.captures_bucket and args.processed_bucket and args.web_bucket):
        parser.error(
            "name the buckets: --prefix FARM, or all of --captures-bucket, --processed-bucket and --web-bucket"
        )
    return args


def request_from(args: argparse.Namespace) -> Request:
    defaults = Buckets.from_prefix(args.prefix) if args.prefix else None
    buckets = Buckets(
        captures=args.captures_bucket or defaults.captures,
        processed=args.processed_bucket or defaults.processed,
        web=args.web_bucket or defaults.web,
    )
    return Request(
        buckets=buckets,
        region=args.region,
        device_id=args.device_id,
        create_access_key=args.create_access_key,
        endpoint_url=args.endpoint_url,
        alarm_email=args.alarm_email,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    request = request_from(args)
    try:
        if args.dry_run:
            steps, notes = plan(request)
            print("dry run: nothing is created; a real run would take these steps:")
            print(render_plan(steps, notes))
            return 0
        import boto3  # after the dry run's return: a plan needs no AWS at all

        provision(request, boto3.Session(profile_name=args.profile))
    except ProvisionError as exc:
        print(f"provision_aws: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
