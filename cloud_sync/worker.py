"""One sync pass: the edge outbox's photos to S3, then its rows to PostgreSQL (docs/sync.md).

An entry is marked done only after S3 or PostgreSQL acknowledged it. Kill the worker
anywhere and the next pass sends again what was not marked: the same keys, the same row
ids, so nothing is duplicated.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloud_sync.errors import DeviceRefused, describe, is_transient
from cloud_sync.keys import capture_key, image_key, measurements_key
from cloud_sync.metrics import MetricsPublisher
from cloud_sync.rows import Row, RowWriter, jsonb
from cloud_sync.s3 import Upload, Uploader
from edge.config import SyncConfig
from edge.measurements import UNCERTAINTY_COVERAGE
from edge.store import Store
from edge.store.files import sha256_hex
from edge.store.outbox import LAST_SYNC_STATE

log = logging.getLogger("goat-sync")
SKIPPED = "skipped"


@dataclass
class PassReport:
    uploaded: int = 0
    upserted: int = 0
    pending: int = 0
    parked: int = 0
    offline: bool = False
    refused: bool = False  # the database will not take rows from this device at all
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "uploaded": self.uploaded,
            "upserted": self.upserted,
            "pending": self.pending,
            "parked": self.parked,
            "offline": self.offline,
            "refused": self.refused,
            "errors": self.errors[-10:],
        }


class SyncWorker:
    def __init__(
        self,
        store: Store,
        uploader: Uploader,
        rows: RowWriter,
        config: SyncConfig,
        device_id: str,
        metrics: MetricsPublisher | None = None,
    ):
        self.store, self.uploader, self.rows = store, uploader, rows
        self.config, self.device_id = config, device_id
        self.metrics = metrics  # CloudWatch, when on (cloud_sync/metrics.py)

    # -- the pass ---------------------------------------------------------------------------

    def run_pass(self) -> PassReport:
        report = PassReport()
        if self.metrics is not None:
            self.metrics.begin_pass()
        self._send_files(report)
        self._send_rows(report)
        counts = self.store.outbox_counts()
        report.pending, report.parked = counts["pending"], counts["parked"]
        self._heartbeat(report)
        self._publish_metrics(report)
        return report

    def _publish_metrics(self, report: PassReport, during_pass: bool = False) -> None:
        """CloudWatch, when on: never raises, skipped while offline, at most once a minute."""
        if self.metrics is not None:
            self.metrics.publish(self.store, offline=report.offline, during_pass=during_pass)

    def _park(self, report: PassReport, entry_id: int, reason: str) -> None:
        log.error("outbox entry %d parked: %s", entry_id, reason)
        report.errors.append(reason)
        self.store.park(entry_id, reason)

    def _failed(self, report: PassReport, entry_id: int, exc: BaseException) -> None:
        """A transient failure keeps the entry for later; anything else parks it."""
        reason = describe(exc)
        report.errors.append(reason)
        if is_transient(exc):
            report.offline = True
            self.store.mark_failed(entry_id, reason)
        else:
            self._park(report, entry_id, reason)

    # -- photos -----------------------------------------------------------------------------

    def _send_files(self, report: PassReport) -> None:
        while not report.offline:
            entries = self.store.pending_outbox(self.config.batch_objects, kind="object")
            if not entries:
                return
            uploads = self._verified_uploads(entries, report)
            done = self._settle(uploads, self._put_all([u for _, u in uploads]), report)
            self.store.mark_done(done)
            report.uploaded += len(done)
            self._publish_metrics(report, during_pass=True)

    def _put_all(self, uploads: list[Upload]) -> list:
        """Each upload's error (None when acknowledged), `upload_concurrency` at a time; once
        one finds the cloud unreachable the rest are SKIPPED rather than each retried."""
        unreachable = threading.Event()

        def put(upload: Upload):
            if unreachable.is_set():
                return SKIPPED
            error = self._try_put(upload)
            if error is not None and is_transient(error):
                unreachable.set()
            return error

        with ThreadPoolExecutor(self.config.upload_concurrency) as pool:
            return list(pool.map(put, uploads))

    def _settle(self, uploads: list[tuple[int, Upload]], results: list, report: PassReport) -> list[int]:
        """The entry ids acknowledged; the others kept for later or parked."""
        done = []
        for (entry_id, _), error in zip(uploads, results):
            if error is None:
                done.append(entry_id)
            elif error is SKIPPED:
                report.offline = True
            else:
                self._failed(report, entry_id, error)
        return done

    def _try_put(self, upload: Upload) -> BaseException | None:
        try:
            self.uploader.put(upload)
        except Exception as exc:  # classified by the caller: retry later or park
            return exc
        return None

    def _verified_uploads(self, entries, report: PassReport) -> list[tuple[int, Upload]]:
        """Each photo as stored at capture time; a file changed or gone since is quarantined."""
        images = self.store.rows_by_id("images", [e.image_id for e in entries])
        captures = self.store.rows_by_id("captures", list({i["capture_id"] for i in images.values()}))
        uploads = []
        for entry in entries:
            image = images.get(entry.image_id)
            if image is None:
                self._park(report, entry.id, f"image {entry.image_id} is not in the store")
                continue
            path = self.store.image_path(image)
            try:
                body = path.read_bytes()
            except OSError as exc:
                self._park(report, entry.id, f"quarantined: {path} cannot be read ({exc.strerror})")
                continue
            if sha256_hex(body) != image["sha256"]:
                self._park(report, entry.id, f"quarantined: {path} changed since capture (sha256 differs)")
                continue
            capture = captures[image["capture_id"]]
            key = capture_key(capture["device_id"], capture["captured_at"])
            object_key = image_key(key, image["view"], image["kind"])
            uploads.append(
                (entry.id, Upload(self._bucket(image["kind"]), object_key, body, "image/jpeg", image["sha256"]))
            )
        return uploads

    # -- rows -------------------------------------------------------------------------------

    def _send_rows(self, report: PassReport) -> None:
        while not report.offline:
            entries = self.store.pending_outbox(self.config.batch_rows, kind="row")
            batch = self._ready(entries)
            if not batch:
                return
            made = [self._row(entry, report, fetched) for entry, fetched in batch]
            # Only measurements come with an upload, and always with their row.
            documents = [(row.entry_id, upload) for row, upload in made if upload is not None and row is not None]
            sent = set(self._settle(documents, self._put_all([u for _, u in documents]), report))
            report.uploaded += len(sent)
            if report.offline:
                return
            rows = [row for row, upload in made if row is not None and (upload is None or row.entry_id in sent)]
            try:
                self.rows.write(self.device_id, rows)
            except DeviceRefused as exc:
                log.error("%s", exc)
                report.refused = True
                report.errors.append(str(exc))
                return
            except Exception as exc:
                if is_transient(exc):
                    report.offline = True
                    report.errors.append(describe(exc))
                    return
                self._write_one_by_one(rows, report)  # find the row PostgreSQL refuses
                continue
            self.store.mark_done([r.entry_id for r in rows])
            log_synced(rows)
            report.upserted += len(rows)
            self._publish_metrics(report, during_pass=True)

    def _ready(self, entries) -> list[tuple]:
        """Entries up to the first capture whose photos are still on their way, each with
        what was read to decide, kept for its row: a capture and its photos' upload states,
        or for measurements the capture (read once for both of its rows)."""
        batch, read = [], {}
        for entry in entries:
            fetched: Any = None  # None, a capture, or (capture, upload states)
            if entry.table_name in ("captures", "measurements"):
                if (entry.table_name, entry.row_id) not in read:
                    get = self.store.get_capture if entry.table_name == "captures" else self.store.get_measurement
                    read[entry.table_name, entry.row_id] = get(entry.row_id)
                fetched = read[entry.table_name, entry.row_id]
            if entry.table_name == "captures":
                states = self.store.upload_states([i["id"] for i in fetched["images"]])
                if "pending" in states.values():
                    break
                fetched = (fetched, states)
            batch.append((entry, fetched))
        return batch

    def _write_one_by_one(self, rows: list[Row], report: PassReport) -> None:
        for row in rows:
            try:
                self.rows.write(self.device_id, [row])
            except Exception as exc:
                self._failed(report, row.entry_id, exc)
                if report.offline:
                    return
                continue
            self.store.mark_done([row.entry_id])
            log_synced([row])
            report.upserted += 1

    def _row(self, entry, report: PassReport, fetched) -> tuple[Row | None, Upload | None]:
        """The row to upsert, and for measurements the measurements.json to PUT before it.
        `fetched`: what _ready read for the entry."""
        if entry.table_name == "captures":
            return Row(entry.id, "captures", self._capture_values(*fetched)), None
        if entry.table_name == "measurements":
            return self._measurements_row(entry, fetched)
        if entry.table_name in ("goats", "scale_weights", "tape_measurements"):
            found = self.store.rows_by_id(entry.table_name, [entry.row_id]).get(entry.row_id)
            if found is None:
                self._park(report, entry.id, f"{entry.table_name} {entry.row_id} is not in the store")
                return None, None
            values = dict(found, device_id=self.device_id) if entry.table_name == "goats" else dict(found)
            return Row(entry.id, entry.table_name, values), None
        self._park(report, entry.id, f"unknown table {entry.table_name}")
        return None, None

    def _bucket(self, kind: str) -> str:
        """Raw photos go to the captures bucket; annotated ones and results to processed."""
        return self.config.captures_bucket if kind == "raw" else self.config.processed_bucket

    def _capture_values(self, capture: dict, states: dict[str, str]) -> dict:
        key = capture_key(capture["device_id"], capture["captured_at"])
        images = []
        for image in capture["images"]:
            entry = {"view": image["view"], "kind": image["kind"], "sha256": image["sha256"], "bytes": image["bytes"]}
            if states.get(image["id"]) == "done":
                entry.update(bucket=self._bucket(image["kind"]), key=image_key(key, image["view"], image["kind"]))
            else:
                entry["missing"] = "quarantined on the device"
            images.append(entry)
        return {
            "id": capture["id"],
            "device_id": capture["device_id"],
            "capture_key": key,
            "captured_at": capture["captured_at"],
            "status": capture["status"],
            "reason": capture["reason"],
            "goat_id": capture["goat_id"],
            "trigger": capture["trigger"],
            "images": jsonb(images),
            "created_at": capture["created_at"],
        }

    def _measurements_row(self, entry, capture: dict) -> tuple[Row, Upload]:
        """One measuring's row, and its measurements.json for the processed bucket.
        `capture`: Store.get_measurement's, the capture with that measuring's fields."""
        key = capture_key(capture["device_id"], capture["captured_at"])
        body = json.dumps(measurements_document(capture, key), indent=2, sort_keys=True).encode()
        later = None if capture["measurement_id"] == capture["id"] else capture["measurement_id"]
        upload = Upload(
            self.config.processed_bucket, measurements_key(key, later), body, "application/json", sha256_hex(body)
        )
        values = {
            "id": capture["measurement_id"],
            "capture_id": capture["id"],
            "measured_at": capture["measured_at"],
            "is_current": capture["is_current"],
            **capture["measurements"],
            "reasons": jsonb(capture["measurement_reasons"]),
            "uncertainty": jsonb(capture["measurement_uncertainty"]),
            "keypoints": jsonb(capture["keypoints"]),
            "model_versions": jsonb(capture["model_versions"]),
            "calibration_hash": capture["calibration_hash"],
            "weight_formula": jsonb(capture["weight_formula"]),
        }
        return Row(entry.id, "measurements", values), upload

    # -- heartbeat --------------------------------------------------------------------------

    def _heartbeat(self, report: PassReport) -> None:
        if report.offline or report.refused:
            return
        oldest = self.store.oldest_pending_at()
        age_s = None
        if oldest is not None:
            age_s = (datetime.now(UTC) - datetime.fromisoformat(oldest)).total_seconds()
        try:
            self.rows.heartbeat(self.device_id, report.pending, age_s)
        except Exception as exc:
            report.offline = is_transient(exc)
            report.errors.append(describe(exc))
            return
        self.store.set_sync_state(LAST_SYNC_STATE, datetime.now(UTC).isoformat())


def log_synced(rows: list[Row]) -> None:
    """One line per capture whose row reached the cloud, named by its id like the daemon's
    lines, so a capture can be followed from the trigger to the cloud in the journal."""
    for row in rows:
        if row.table == "captures":
            sent = sum(1 for image in row.values["images"].obj if "key" in image)
            log.info("capture %s: in the cloud (row and %d photos)", row.values["id"], sent)
        elif row.table == "measurements":
            log.info("capture %s: measuring %s in the cloud", row.values["capture_id"], row.values["id"])


def measurements_document(capture: dict, key: str) -> dict:
    """One measuring of a capture as a JSON file beside its annotated photos. Written once
    (objects are never overwritten), so it holds nothing that changes later: which
    measuring is current is the cloud row's `is_current`, or the newest `measured_at`."""
    return {
        "capture_id": capture["id"],
        "capture_key": key,
        "device_id": capture["device_id"],
        "captured_at": capture["captured_at"],
        "status": capture["status"],
        "reason": capture["reason"],
        "measurements": capture["measurements"],
        "measurement_id": capture.get("measurement_id"),
        "measured_at": capture.get("measured_at"),
        "reasons": capture["measurement_reasons"],
        "uncertainty": capture["measurement_uncertainty"],
        "uncertainty_coverage": UNCERTAINTY_COVERAGE if capture["measurement_uncertainty"] else None,
        "keypoints": capture["keypoints"],
        "model_versions": capture["model_versions"],
        "calibration_hash": capture["calibration_hash"],
        "weight_formula": capture["weight_formula"],
    }
