"""goat-sync: send the edge store's outbox to S3 and PostgreSQL.

goat-sync run [--config edge.toml]          loop: pass, wait, pass ...
goat-sync once [--config edge.toml] --json  one pass, then print what it did
goat-sync migrate --database-url URL        create or update the cloud schema
goat-sync add-device --database-url URL --login ROLE --device-id ID
                                            let a Pi's login write as its device, and only that
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import signal
import sys
import threading
from pathlib import Path

from edge.config import DEFAULT_CONFIG_PATH, EdgeConfig, load_config
from edge.errors import GoatEdgeError
from edge.service import systemd
from edge.service.logs import configure_logging
from edge.store.errors import StorageUnavailableError
from edge.store.outbox import SYNC_CONFIGURED_STATE

log = logging.getLogger("goat-sync")
SECRETS_FILE = "/etc/goatdev/sync.env"  # goat-sync.service's EnvironmentFile


class Backoff:
    """Waits between passes: short while there is work, growing (with jitter) while offline."""

    def __init__(self, interval_s: float, max_s: float, rng: random.Random | None = None):
        self.interval_s, self.max_s = interval_s, max_s
        self.failures = 0
        self.rng = rng or random.Random()

    def after(self, report) -> float:
        if report.offline or report.refused:  # refused: retrying soon would not help either
            self.failures += 1
            return min(self.max_s, 2.0**self.failures) * self.rng.uniform(0.5, 1.0)
        self.failures = 0
        made_progress = report.uploaded or report.upserted
        return 0.0 if report.pending and made_progress else self.interval_s


def make_worker(config: EdgeConfig):
    from cloud_sync.metrics import make_publisher
    from cloud_sync.rows import RowWriter
    from cloud_sync.s3 import BandwidthLimit, Uploader, make_client
    from cloud_sync.worker import SyncWorker
    from edge.store import Store

    sync = config.sync
    if not sync.database_url:
        raise GoatEdgeError("no database: set sync.database_url in the config or GOATDEV_DATABASE_URL")
    store = Store.open(Path(config.storage.data_dir))
    uploader = Uploader(make_client(sync), BandwidthLimit(sync.bandwidth_limit_kbps))
    rows = RowWriter(sync.database_url, sync.timeout_s)
    return SyncWorker(store, uploader, rows, sync, config.device.id, make_publisher(sync, config.device.id))


def close_worker(worker) -> None:
    worker.rows.close()
    worker.store.close()


def record_configured(config: EdgeConfig, configured: bool) -> None:
    """Tell the daemon's /api/health whether sync is set up (it cannot read sync.env)."""
    from edge.store import Store

    with Store.open(Path(config.storage.data_dir)) as store:
        store.set_sync_state(SYNC_CONFIGURED_STATE, "yes" if configured else "no")


def _idle(stop: threading.Event, config_path: Path | None) -> int:
    """No database yet (a Pi with no cloud): say so once and stay up, so that systemd does
    not restart the service every RestartSec; `systemctl restart goat-sync` once it is set."""
    log.warning(
        "sync not configured: set sync.database_url in %s or GOATDEV_DATABASE_URL in %s; idling",
        config_path or DEFAULT_CONFIG_PATH,
        SECRETS_FILE,
    )
    systemd.ready()
    systemd.notify("STATUS=sync not configured (no database URL); idling")
    ping_s = (systemd.watchdog_interval_s() or 60.0) / 2
    try:
        while not stop.wait(ping_s):
            systemd.watchdog_ping()
    finally:
        systemd.stopping()
    return 0


def run_command(args) -> int:
    config = load_config(args.config)
    configure_logging()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    if not config.sync.database_url:
        record_configured(config, False)
        return _idle(stop, args.config)
    worker = make_worker(config)
    worker.store.set_sync_state(SYNC_CONFIGURED_STATE, "yes")
    backoff = Backoff(config.sync.interval_s, config.sync.max_backoff_s)
    systemd.ready()
    ping_s = (systemd.watchdog_interval_s() or 60.0) / 2
    try:
        while not stop.is_set():
            try:
                report = worker.run_pass()
            except StorageUnavailableError as exc:  # the daemon or a shell holds the database
                log.warning("pass stopped, will try again: %s", exc)
                report = None
            systemd.watchdog_ping()
            if report and (report.uploaded or report.upserted or report.offline or report.refused):
                log.info("pass: %s", json.dumps(report.to_dict()))
            wait_s = backoff.after(report) if report else config.sync.interval_s
            while wait_s > 0 and not stop.wait(min(wait_s, ping_s)):
                wait_s -= ping_s
                systemd.watchdog_ping()
    finally:
        systemd.stopping()
        close_worker(worker)
    return 0


def once_command(args) -> int:
    config = load_config(args.config)
    worker = make_worker(config)
    try:
        report = worker.run_pass()
    finally:
        close_worker(worker)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(
            f"uploaded {report.uploaded}, upserted {report.upserted}, pending {report.pending}, "
            f"parked {report.parked}"
            + (" (cloud unreachable)" if report.offline else "")
            + (f" ({report.errors[-1]})" if report.refused else "")
        )
    return 0


def migrate_command(args) -> int:
    from cloud_sync.migrate import migrate

    url = args.database_url or load_config(args.config).sync.database_url
    if not url:
        raise GoatEdgeError("give --database-url (or sync.database_url in the config)")
    applied = migrate(url)
    print("applied: " + ", ".join(applied) if applied else "schema up to date")
    return 0


def add_device_command(args) -> int:
    from cloud_sync.devices import add_device_login

    print(add_device_login(args.database_url, args.login, args.device_id))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="goat-sync", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, fn, text in (
        ("run", run_command, "sync in a loop (the service)"),
        ("once", once_command, "one pass, then exit"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--config", type=Path, help="TOML config (default /etc/goatdev/edge.toml if present)")
        p.set_defaults(run=fn)
        if name == "once":
            p.add_argument("--json", action="store_true", help="print the pass's counts as JSON")
    p = sub.add_parser("migrate", help="create or update the cloud PostgreSQL schema")
    p.add_argument("--database-url", help="postgresql://... (default: sync.database_url)")
    p.add_argument("--config", type=Path)
    p.set_defaults(run=migrate_command)
    p = sub.add_parser("add-device", help="let a Pi's PostgreSQL login write as its device id (and no other)")
    p.add_argument("--database-url", required=True, help="the admin's postgresql://... (the schema's owner)")
    p.add_argument("--login", required=True, help="the Pi's PostgreSQL role, e.g. pi_barn_east")
    p.add_argument("--device-id", required=True, help="the Pi's [device] id, e.g. barn-east")
    p.set_defaults(run=add_device_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    import psycopg

    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (GoatEdgeError, psycopg.Error) as exc:
        print(f"goat-sync {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
