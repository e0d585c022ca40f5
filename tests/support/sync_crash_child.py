"""Test harness, not product code: one sync pass that kills itself (SIGKILL) at a chosen point.

    python tests/support/sync_crash_child.py --config edge.toml --crash put --nth 3 --marker out.json

The worker is built as `goat-sync` builds it (cloud_sync.cli.make_worker); only the points
named below are wrapped, to SIGKILL this very process there:

  put     right after the nth successful Uploader.put returned: the object is in S3, its
          outbox entry not yet marked done.
  tx      inside RowWriter's transaction, right after its first executemany: rows written
          but not committed.
  commit  right after the first RowWriter.write returned: rows committed, entries not yet
          marked done.
  none    no crash: run the pass to its end and report it.

Before the kill it writes `--marker` (JSON) saying where it was, so the test can check that
the crash happened at that point and not elsewhere.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sys
import threading
from pathlib import Path


def write_marker(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)  # the whole marker or none, even though we die right after


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def row_id(values: dict) -> str:
    return str(values.get("id") or values["capture_id"])


def crash_after_put(worker, nth: int, marker: Path) -> None:
    real_put = worker.uploader.put
    lock = threading.Lock()
    done = [0]

    def put(upload):
        real_put(upload)
        with lock:
            done[0] += 1
            if done[0] != nth:
                return
            write_marker(
                marker,
                {
                    "point": "put",
                    "bucket": upload.bucket,
                    "key": upload.key,
                    "sha256": hashlib.sha256(upload.body).hexdigest(),
                },
            )
            die()

    worker.uploader.put = put


class _CrashingCursor:
    """The transaction's cursor; its first executemany writes, looks, and kills the process."""

    def __init__(self, cur, marker: Path):
        self._cur, self._marker = cur, marker

    def __getattr__(self, name):
        return getattr(self._cur, name)

    def executemany(self, query, params_seq):
        params_seq = list(params_seq)
        self._cur.executemany(query, params_seq)
        table = query.split("INSERT INTO", 1)[1].split()[0]
        key = "capture_id" if table == "measurements" else "id"
        ids = [row_id(p) for p in params_seq]
        xid = self._cur.execute("SELECT pg_current_xact_id()::text").fetchone()[0]
        visible = self._cur.execute(f"SELECT count(*) FROM {table} WHERE {key}::text = ANY(%s)", [ids]).fetchone()[0]
        write_marker(
            self._marker, {"point": "tx", "table": table, "ids": ids, "xid": xid, "visible_in_transaction": visible}
        )
        die()


def crash_in_transaction(worker, marker: Path) -> None:
    real_run = worker.rows._run

    def _run(work):
        real_run(lambda cur: work(_CrashingCursor(cur, marker)))

    worker.rows._run = _run


def crash_after_commit(worker, marker: Path) -> None:
    real_write = worker.rows.write

    def write(device_id, rows):
        real_write(device_id, rows)
        write_marker(marker, {"point": "commit", "rows": [[r.table, row_id(r.values)] for r in rows]})
        die()

    worker.rows.write = write


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--crash", choices=("put", "tx", "commit", "none"), required=True)
    parser.add_argument("--nth", type=int, default=1)
    parser.add_argument("--marker", type=Path, required=True)
    args = parser.parse_args()

    from cloud_sync.cli import close_worker, make_worker
    from edge.config import load_config

    worker = make_worker(load_config(args.config))
    if args.crash == "put":
        crash_after_put(worker, args.nth, args.marker)
    elif args.crash == "tx":
        crash_in_transaction(worker, args.marker)
    elif args.crash == "commit":
        crash_after_commit(worker, args.marker)
    try:
        report = worker.run_pass()
    finally:
        close_worker(worker)
    write_marker(args.marker, {"point": "end", "report": report.to_dict()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
