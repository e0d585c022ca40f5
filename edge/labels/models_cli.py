"""`goat-edge models`: the model versions on this Pi; promotion only when better; roll-back.

A promotion is judged on the farm's held-out goats (`goat-edge labels compare`) and refused
when the new set is not better, unless forced. The running daemon loads the new set
within models.reload_check_s and switches to it between captures (a running capture
finishes with the set it started with); a set that will not load is named in
/api/health and the old one runs on. Before the first promotion, the installed release's
models are kept as a version too, so that a roll-back can return to them.
"""

from __future__ import annotations

from pathlib import Path

from edge.config import load_config
from edge.registry import Registry, RegistryError

RESTART = "the running daemon switches to it between captures within models.reload_check_s (see /api/health)"


def add_parser(sub) -> None:
    models = sub.add_parser("models", help="model versions on this Pi: list, promote, roll back")
    actions = models.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the versions kept, the active one marked")
    listing.add_argument("--config", type=Path, required=True, help="the daemon's edge.toml")
    listing.set_defaults(run=run_list)
    p = actions.add_parser("promote", help="make a model set the active one, if it is better on held-out goats")
    p.add_argument("--config", type=Path, required=True, help="the daemon's edge.toml")
    p.add_argument("candidate", help="a folder with side, top, front (and closeup) models, or a kept version")
    p.add_argument("--datasets", type=Path, help="the folder `labels dataset` wrote: its held-out goats judge")
    p.add_argument("--force", action="store_true", help="promote even when not better, or without --datasets")
    p.set_defaults(run=run_promote)
    r = actions.add_parser("rollback", help="back to the version active before the last switch")
    r.add_argument("--config", type=Path, required=True, help="the daemon's edge.toml")
    r.set_defaults(run=run_rollback)


def _registry(config) -> Registry:
    return Registry(Path(config.storage.data_dir) / "models")


def run_list(args) -> int:
    config = load_config(args.config)
    registry = _registry(config)
    active = registry.active()
    if active is None:
        print(f"* installed release: {config.models.dir}")
    for version in registry.versions():
        print(f"{'*' if version == active else ' '} {version}")
    for entry in registry.history()[-5:]:
        print(f"  {entry['at']}: {entry['from']} -> {entry['to']} ({entry['why']})")
    return 0


def run_promote(args) -> int:
    from edge.labels.compare import judge, report_markdown, verdict

    config = load_config(args.config)
    registry = _registry(config)
    source = Path(args.candidate)
    version = registry.add(source) if source.is_dir() else args.candidate
    candidate_dir = registry.path(version)
    current_dir = registry.active_dir(config.models.dir)
    if version == registry.active():
        print(f"{version} is already the active version")
        return 0
    why = "forced, not compared"
    if args.datasets is not None:
        comparisons, taped = judge(current_dir, candidate_dir, args.datasets, config)
        report = registry.root / "reports" / f"{version}.md"
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(report_markdown(comparisons, current_dir, candidate_dir, taped))
        better, why = verdict(comparisons)
        print(f"report: {report}")
        if not better and not args.force:
            raise RegistryError(
                f"{version} not promoted: it is not better on the held-out goats ({why}); --force to promote anyway"
            )
    elif not args.force:
        raise RegistryError("give --datasets (the farm's held-out goats) to judge the new models, or --force")
    if registry.active() is None:
        installed = registry.add(config.models.dir)
        registry.activate(installed, "the installed release's models, kept before the first promotion")
    registry.activate(version, why)
    print(f"promoted {version}; {RESTART}")
    return 0


def run_rollback(args) -> int:
    config = load_config(args.config)
    version = _registry(config).rollback()
    print(f"rolled back to {version}; {RESTART}")
    return 0
