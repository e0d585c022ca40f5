"""Test harness, not product code: store captures, then SIGKILL this process at a chosen point.

    python tests/support/capture_crash_child.py DATA_DIR --point files --marker out.json

Two whole captures are stored first; the third is cut short at one of these points of
Store.record_capture (only that call is wrapped):

  files   right after its six JPEGs are written and fsynced: files on disk, no row yet.
  rows    inside the transaction, right after its rows are inserted: not committed.
  commit  right after record_capture returned: committed, the caller not yet told.

Before the kill it writes `--marker` (JSON): the point, the capture's id and the files it
wrote, so the test can check that the kill landed there and what the next start must sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from edge.store import CaptureRecord, ImageFile, Store, captures, new_id  # noqa: E402

POINTS = ("files", "rows", "commit")


def record(i: int) -> CaptureRecord:
    at = datetime(2026, 12, 1, 8, tzinfo=UTC) + timedelta(minutes=i)
    images = tuple(
        ImageFile(view, kind, os.urandom(30_000)) for kind in ("raw", "annotated") for view in ("side", "top", "front")
    )
    return CaptureRecord(
        new_id(at), at, "chute-1", "ok", None, "button", images, {"weight_kg": 30.0 + i}, {}, {"side": "v3"}, "c0", None
    )


def die_after(marker: Path, point: str, capture_id: str, files: list[str]) -> None:
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(json.dumps({"point": point, "capture_id": capture_id, "files": files}))
    os.replace(tmp, marker)  # the whole marker or none
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--point", choices=POINTS, required=True)
    parser.add_argument("--marker", type=Path, required=True)
    args = parser.parse_args()
    store = Store.open(args.data_dir)
    for i in range(2):
        store.record_capture(record(i))
    cut = record(2)
    written: list[str] = []
    real_write, real_insert = captures.write_images, captures.insert_capture

    def write_images(folder, rec):
        stored = real_write(folder, rec)
        written.extend(str(image.path) for image in stored)
        if args.point == "files":
            die_after(args.marker, "files", rec.capture_id, written)
        return stored

    def insert_capture(db, data_dir, rec, images):
        result = real_insert(db, data_dir, rec, images)
        if args.point == "rows":
            die_after(args.marker, "rows", rec.capture_id, written)
        return result

    captures.write_images, captures.insert_capture = write_images, insert_capture
    store.record_capture(cut)
    die_after(args.marker, "commit", cut.capture_id, written)


if __name__ == "__main__":
    main()
