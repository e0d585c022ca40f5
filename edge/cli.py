"""goat-edge: the command line of the Pi daemon. Each subcommand lives in its stage's package."""

from __future__ import annotations

import argparse
import sys

from edge.errors import GoatEdgeError


def build_parser() -> argparse.ArgumentParser:
    from edge.calibrate import cli as calibrate_cli
    from edge.daemon import cli as daemon_cli
    from edge.labels import cli as labels_cli
    from edge.labels import models_cli
    from edge.pipeline import cli as measure_cli
    from edge.sim import cli as simulate_cli

    parser = argparse.ArgumentParser(prog="goat-edge", description="Goat measurement chute")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    daemon_cli.add_parsers(sub)
    measure_cli.add_parser(sub)
    calibrate_cli.add_parser(sub)
    simulate_cli.add_parser(sub)
    labels_cli.add_parser(sub)
    models_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except GoatEdgeError as exc:
        print(f"goat-edge {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the command could not use, named by the OS
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"goat-edge {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
