"""`goat-edge labels export`, `import` and `dataset`: photos out for correcting, labels back, datasets from them."""

from __future__ import annotations

from pathlib import Path

from edge.argtypes import fraction, non_negative_int, positive_int
from edge.config import load_config
from edge.store.db import Store
from edge.store.records import STATUSES

# The work of each command is imported when it runs: `goat-edge run` builds every
# subcommand's parser, and the dataset writer brings the simulator with it.


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

    i = actions.add_parser("import", help="corrected keypoints back, from COCO keypoints or Label Studio JSON")
    i.add_argument("--config", type=Path, required=True, help="the daemon's edge.toml (where the store is)")
    i.add_argument("--export", type=Path, required=True, help="the folder `labels export` wrote (its manifest.json)")
    i.add_argument("files", type=Path, nargs="+", help="corrected label files: <view>.coco.json or Label Studio JSON")
    i.set_defaults(run=run_import)

    d = actions.add_parser("dataset", help="the imported labels as YOLO-pose datasets per view, split by goat")
    d.add_argument("--config", type=Path, required=True, help="the daemon's edge.toml (where the store is)")
    d.add_argument("--out", type=Path, required=True, help="a new or empty folder; one sub-folder per view")
    d.add_argument("--val-fraction", type=fraction, default=0.2, help="share of goats to validate on")
    d.add_argument("--test-fraction", type=fraction, default=0.2, help="share of goats held out to judge models")
    d.add_argument("--seed", type=non_negative_int, default=0, help="which goats go where")
    d.set_defaults(run=run_dataset)

    c = actions.add_parser("compare", help="two sets of models on the farm's held-out goats, with a report")
    c.add_argument("--config", type=Path, required=True, help="the daemon's edge.toml (its calibration)")
    c.add_argument("--old", type=Path, required=True, help="the models in use (a folder of side, top, front, closeup)")
    c.add_argument("--new", type=Path, required=True, help="the retrained models, the same layout")
    c.add_argument("--datasets", type=Path, required=True, help="the folder `labels dataset` wrote")
    c.add_argument("--report", type=Path, required=True, help="where to write the markdown report")
    c.add_argument("--plot", type=Path, help="where to write a PNG of the misses per landmark (needs matplotlib)")
    c.set_defaults(run=run_compare)


def run_export(args) -> int:
    from edge.labels.export import Selection, export_labels

    config = load_config(args.config)
    selection = Selection(args.since, args.until, args.goat, args.status, args.least_sure, args.sample, args.seed)
    with Store.open(Path(config.storage.data_dir)) as store:
        summary = export_labels(store, args.out, selection)
    print(f"{summary.out_dir}: {summary.captures} captures, {summary.photos} photos")
    for capture_id, why in summary.skipped.items():
        print(f"skipped {capture_id}: {why}")
    return 0


def run_import(args) -> int:
    from edge.labels.importer import import_labels

    config = load_config(args.config)
    with Store.open(Path(config.storage.data_dir)) as store:
        summary = import_labels(store, args.export, args.files)
    print(
        f"labels stored for {summary.photos} photos"
        + (f"; {summary.unlabelled} not labelled yet" if summary.unlabelled else "")
    )
    return 0


def run_dataset(args) -> int:
    from edge.labels.dataset import write_label_datasets
    from edge.pipeline.context import calibration_of

    config = load_config(args.config)
    calibration = calibration_of(config)
    with Store.open(Path(config.storage.data_dir)) as store:
        summary = write_label_datasets(store, args.out, calibration, args.val_fraction, args.test_fraction, args.seed)
    for view, counts in summary.photos.items():
        print(f"{summary.out_dir / view}: " + ", ".join(f"{n} {split}" for split, n in counts.items()))
    if summary.other_calibration:
        print(
            f"left out: {summary.other_calibration} labelled photos taken with another calibration "
            f"than the one in use ({calibration.hash})"
        )
    print("goats: " + "; ".join(f"{split} {', '.join(tags) or '-'}" for split, tags in summary.goats.items()))
    return 0


def run_compare(args) -> int:
    from edge.labels.compare import judge, plot, report_markdown, verdict

    config = load_config(args.config)
    comparisons, taped = judge(args.old, args.new, args.datasets, config)
    args.report.write_text(report_markdown(comparisons, args.old, args.new, taped))
    if args.plot is not None and not plot(comparisons, args.plot):
        print(f"no plot: matplotlib is not installed (the train extra has it); {args.plot} not written")
    better, why = verdict(comparisons)
    print(f"{'new is better' if better else 'new is not better'}: {why}")
    print(f"report: {args.report}")
    return 0
