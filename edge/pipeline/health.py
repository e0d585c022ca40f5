"""Each part of the daemon, checked for /api/health: the cameras, the models, the database,
the data disk, the outbox and sync, the last capture.

A required part that is down makes the answer 503 with the problems listed first, so a
monitor (or a person) sees what broke before the farm does. Parked outbox entries are a
warning (they need a person, not a restart).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from edge.store.outbox import LAST_SYNC_STATE, SYNC_CONFIGURED_STATE


@dataclass
class HealthReport:
    parts: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _age_s(iso: str | None, now: datetime) -> float | None:
    return None if iso is None else (now - datetime.fromisoformat(iso)).total_seconds()


def check_cameras(ctx, report: HealthReport) -> None:
    cameras = {}
    for view, state in ctx.rig.states().items():
        cameras[view] = {
            "ok": state.ok,
            "problem": state.problem,
            "checked_at": state.checked_at.isoformat() if state.checked_at else None,
        }
        if state.ok is False:
            report.problems.append(state.problem or f"{view} camera failed")
    report.parts["cameras"] = cameras


def check_database(ctx, report: HealthReport) -> dict | None:
    """The outbox counts, read as the database check; None when the database cannot be read."""
    try:
        counts = ctx.store.outbox_counts()
        report.parts["database"] = {"ok": True, "schema_version": ctx.store.schema_version}
        return counts
    except Exception as exc:  # any failure to read is what this check is for
        report.parts["database"] = {"ok": False, "problem": str(exc)[:300]}
        report.problems.append(f"database cannot be read: {str(exc)[:200]}")
        return None


def check_disk(ctx, report: HealthReport) -> None:
    usage = shutil.disk_usage(Path(ctx.config.storage.data_dir))
    free_mb = usage.free / 2**20
    floor_mb = ctx.config.storage.min_free_disk_mb
    ok = free_mb >= floor_mb
    report.parts["disk"] = {
        "ok": ok,
        "free_mb": round(free_mb, 1),
        "free_pct": round(100 * usage.free / usage.total, 1) if usage.total else 0.0,
        "min_free_mb": floor_mb,
    }
    if not ok:
        report.problems.append(
            f"data disk: {free_mb:.0f} MB free, captures need {floor_mb:g} MB (storage.min_free_disk_mb)"
        )


def check_outbox(ctx, counts: dict, report: HealthReport, now: datetime) -> None:
    oldest = ctx.store.oldest_pending_at()
    age_s = _age_s(oldest, now)
    # The URL is usually in goat-sync's own secrets file, out of the daemon's sight: goat-sync
    # says at its start whether it has one.
    worker_says = ctx.store.get_sync_state(SYNC_CONFIGURED_STATE)
    configured = worker_says == "yes" or (worker_says is None and ctx.config.sync.database_url is not None)
    limit_s = ctx.config.health.max_pending_age_h * 3600
    stalled = configured and age_s is not None and age_s > limit_s
    report.parts["outbox"] = {
        "ok": not stalled,
        "pending": counts.get("pending", 0),
        "parked": counts.get("parked", 0),
        "oldest_pending_at": oldest,
        "oldest_pending_age_s": round(age_s, 1) if age_s is not None else None,
    }
    report.parts["sync"] = {
        "configured": configured,
        "last_success_at": ctx.store.get_sync_state(LAST_SYNC_STATE),
    }
    if stalled and age_s is not None:
        report.problems.append(
            f"sync: an entry has waited {age_s / 3600:.0f} h (more than health.max_pending_age_h, "
            f"{ctx.config.health.max_pending_age_h:g} h): is the Pi online, is goat-sync running?"
        )
    if counts.get("parked"):
        report.warnings.append(f"sync: {counts['parked']} entries parked, see goat-sync once --json")


def check_last_capture(ctx, report: HealthReport) -> None:
    newest = ctx.store.newest_capture_id()
    if newest is None:
        report.parts["last_capture"] = None
        return
    capture = ctx.store.get_capture(newest)
    report.parts["last_capture"] = {"id": newest, "at": capture["captured_at"], "status": capture["status"]}


def check_uncertainty(ctx, report: HealthReport) -> None:
    """Whether the running models have a ± fitted for them. A promoted, retrained set has
    none until it is fitted (docs/farm-data.md, step 4): its numbers come without a ±,
    which the farm should hear about, though they are still measured."""
    fitted = ctx.pipeline.settings.measure.uncertainty
    report.parts["models"]["uncertainty"] = fitted.fitted_on if fitted is not None else None
    if fitted is None:
        report.warnings.append(
            "models: no ± fitted for these model versions, so measurements carry none: "
            "run scripts/fit_uncertainty.py --models <their folder> --farm <labels datasets>"
        )


def health_report(ctx, now: datetime | None = None) -> HealthReport:
    now = now or datetime.now(UTC)
    report = HealthReport()
    check_cameras(ctx, report)
    report.parts["models"] = {
        "ok": ctx.model_problem is None,
        "dir": str(getattr(ctx.detector, "models_dir", "")),
        "versions": ctx.detector.versions,
        "problem": ctx.model_problem,
    }
    if ctx.model_problem:  # captures go on with the running set: a person must look, not a restart
        report.warnings.append(ctx.model_problem)
    check_uncertainty(ctx, report)
    counts = check_database(ctx, report)
    check_disk(ctx, report)
    if counts is not None:
        check_outbox(ctx, counts, report, now)
        check_last_capture(ctx, report)
    return report
