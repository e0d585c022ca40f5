"""`goat-edge labels export`: the farm's photos out for correcting (import follows)."""

from __future__ import annotations

from pathlib import Path

from edge.argtypes import non_negative_int, positive_int
from edge.config import load_config
from edge.labels.export import STATUSES, Selection, export_labels
from edge.store.db import Store


def add_parser(sub) -> None:
    labels = sub.add_parser("labels", help="the farm's photos out for labelling, and the labels back")
    actions = labels.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = actions.add_parser(
        "export",
        help="stored captures' photos with the models' keypoints, for COCO tools and Label Studio",
    )
    e.add_argument("--config", type=Path, required=True, help="the daemon's edge.toml (where the store is)")
    e.add_argument("--out", type=Path, required=True, help="a new or empty folder for the export")
    e.add_argument("--since", help="captures from this date (2026-12-01) or time (2026-12-01T08:00, UTC)")
    e.add_argument("--until", help="captures up to this date (the whole day) or time, UTC")
    e.add_argument("--goat", help="only this goat's captures (its tag)")
    e.add_argument("--status", choices=STATUSES, help="only good captures (ok) or retakes")
    e.add_argument("--least-sure", type=positive_int, metavar="N", help="the N captures the models were least sure of")
    e.add_argument("--sample", type=positive_int, metavar="N", help="N captures at random from those selected")
    e.add_argument("--seed", type=non_negative_int, default=0, help="the random sample's seed")
    e.set_defaults(run=run_export)


def run_export(args) -> int:
    config = load_config(args.config)
    selection = Selection(args.since, args.until, args.goat, args.status, args.least_sure, args.sample, args.seed)
    with Store.open(Path(config.storage.data_dir)) as store:
        summary = export_labels(store, args.out, selection)
    print(f"{summary.out_dir}: {summary.captures} captures, {summary.photos} photos")
    for capture_id, why in summary.skipped.items():
        print(f"skipped {capture_id}: {why}")
    return 0
