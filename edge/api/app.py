"""The Pi's local HTTP API, and the tablet page that uses it.

With api.token set, every change needs it: as a bearer token, or as the session cookie
the tablet gets by entering it once (HttpOnly, SameSite=Strict, so another web page a
farm computer opens cannot use it). An API that listens beyond this computer must have a
token, and reading the farm's records needs it too. The page itself, its files,
/api/health and the login do not. edge/api/guard.py checks every request first (host
name, cross-site changes, body size) and adds the security headers.

Errors come back as {"detail": "<what a person can act on>"} with a status that says who
can fix it: 4xx for the request (unknown goat, duplicate tag, bad value, a capture
already running), 503 when the chute cannot capture or store now (a camera not
responding, the disk full or refusing writes, the database held by another program).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Cookie, Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, field_validator

from edge.api.export_csv import captures_csv, fit_weight_csv, scale_weights_csv
from edge.api.guard import Guard
from edge.api.herd_summary import HISTORY_CAPTURES, goat_summary, herd_summary
from edge.camera.base import CameraError
from edge.errors import GoatEdgeError
from edge.herd import growth_of
from edge.pipeline.capture import CaptureBusyError
from edge.pipeline.context import EdgeContext
from edge.pipeline.health import health_report
from edge.pipeline.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from edge.store.errors import DatabaseBusyError, DuplicateTagError, NotFoundError, StorageUnavailableError

STATIC = Path(__file__).parent / "static"
log = logging.getLogger(__name__)
SESSION_COOKIE = "goat_session"
SESSION_MAX_AGE_S = 365 * 24 * 3600  # a barn tablet logs in once; a new token ends every session
LOOPBACK = ("127.0.0.1", "::1", "localhost")
EARLIEST_WEIGHING, LATEST_WEIGHING = datetime(2000, 1, 1), datetime(2100, 1, 1)
EVENTS_POLL_S = 0.5
# An event stream ends after this long and the browser opens a new one (EventSource does),
# so that a stopping daemon never waits on a tablet left open.
EVENTS_STREAM_S = 20.0
EVENTS_CATCH_UP = 20  # at most this many captures sent again to a tablet that reconnects
LOGIN_ATTEMPTS = 5  # wrong codes allowed per LOGIN_WINDOW_S, before the next are refused
LOGIN_WINDOW_S = 60.0


class ApiSetupError(GoatEdgeError):
    """An API that would be open to the farm's network without a token."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorAnswer(BaseModel):
    """Every 4xx and 503: a sentence a person can act on, or for a request that does not fit
    its description, what is wrong with each field (never the value sent)."""

    detail: str | list[FieldProblem]


# Described once for every operation, in place of FastAPI's own 422 (which lists only the
# field form): the store's refusal of a value ("goat tag ... holds a control character") is
# a 422 with a sentence.
ERROR_ANSWERS: dict[int | str, dict] = {
    "4XX": {"model": ErrorAnswer, "description": "refused: the request, a value in it, or access"},
    422: {"model": ErrorAnswer, "description": "a value that does not fit"},
    503: {"model": ErrorAnswer, "description": "the chute cannot capture or store now"},
}


class CaptureRequest(_Body):
    goat_tag: str | None = Field(None, max_length=32)


class GoatPatch(_Body):
    name: str | None = Field(None, max_length=100)
    breed: str | None = Field(None, max_length=100)
    sex: Literal["female", "male", "wether"] | None = None
    birth_date: date | None = None
    notes: str | None = Field(None, max_length=2000)


class GoatIn(GoatPatch):
    tag: str = Field(min_length=1, max_length=32)


class AssignGoat(_Body):
    tag: str = Field(min_length=1, max_length=32)


class Login(_Body):
    token: str = Field(min_length=1, max_length=200)


def _sane_moment(value: datetime | None, what: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("give the time zone, e.g. 2026-12-01T08:00:00Z")
    # Checked before converting: year 1 or 9999 with an offset cannot be converted.
    if not EARLIEST_WEIGHING <= value.replace(tzinfo=None) <= LATEST_WEIGHING:
        raise ValueError(f"{what} {value.isoformat()[:40]}: give a time since 2000")
    utc = value.astimezone(UTC)
    if utc > datetime.now(UTC) + timedelta(days=1):
        raise ValueError(f"{what} {value.isoformat()[:40]} is in the future")
    return utc


class ScaleWeightIn(_Body):
    # strict: `true` or "40" is not a weight; finite: NaN and Infinity are not either.
    weight_kg: float = Field(gt=0, lt=300, strict=True, allow_inf_nan=False)
    weighed_at: datetime | None = None
    notes: str | None = Field(None, max_length=2000)

    @field_validator("weighed_at")
    @classmethod
    def _sane_time(cls, value: datetime | None) -> datetime | None:
        return _sane_moment(value, "weighed at")


Taped = Literal[
    "body_length_cm",
    "withers_height_cm",
    "rump_height_cm",
    "chest_depth_cm",
    "chest_width_cm",
    "hip_width_cm",
    "heart_girth_cm",
]
Centimetres = Annotated[float, Field(gt=0, lt=400, strict=True, allow_inf_nan=False)]


class TapeIn(_Body):
    """Measurements taken by hand, the farm's truth for the camera's (edge/store/tape.py)."""

    measurements: dict[Taped, Centimetres] = Field(min_length=1)
    measured_at: datetime | None = None
    notes: str | None = Field(None, max_length=2000)

    @field_validator("measured_at")
    @classmethod
    def _sane_time(cls, value: datetime | None) -> datetime | None:
        return _sane_moment(value, "measured at")


def _http_error(exc: GoatEdgeError) -> HTTPException:
    if isinstance(exc, NotFoundError):
        return HTTPException(404, str(exc))
    if isinstance(exc, (DuplicateTagError, CaptureBusyError)):
        return HTTPException(409, str(exc))
    if isinstance(exc, DatabaseBusyError):
        return HTTPException(503, str(exc), headers={"Retry-After": "5"})
    if isinstance(exc, (CameraError, StorageUnavailableError)):
        return HTTPException(503, str(exc))
    return HTTPException(422, str(exc))


def session_value(token: str) -> str:
    """The session cookie's value: derived from the token, so it outlives a restart and a new
    token ends every session."""
    return hmac.new(token.encode(), b"goat-edge tablet session", hashlib.sha256).hexdigest()


def create_app(ctx: EdgeContext) -> FastAPI:
    # No /api/docs: FastAPI's interactive pages load their scripts from a CDN, which a farm
    # without internet cannot reach. The machine-readable description stays.
    settings = ctx.config.api
    if settings.host not in LOOPBACK and not settings.token:
        raise ApiSetupError(
            f"api.host {settings.host} lets anyone on the farm's network in: set api.token "
            "(GOATDEV_API_TOKEN in the daemon's secrets file), or listen on 127.0.0.1"
        )
    app = FastAPI(
        title="goat-edge",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        responses=ERROR_ANSWERS,
    )
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_middleware(Guard, allowed_hosts=settings.allowed_hosts)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    store, token = ctx.store, settings.token
    reads_need_token = settings.host not in LOOPBACK

    def has_access(authorization: str | None, session: str | None) -> bool:
        if not token:
            return True
        bearer = secrets.compare_digest((authorization or "").encode(), f"Bearer {token}".encode())
        return bearer or secrets.compare_digest((session or "").encode(), session_value(token).encode())

    def authorised(
        request: Request, authorization: str | None = Header(None), goat_session: str | None = Cookie(None)
    ) -> None:
        if not has_access(authorization, goat_session):
            # Logged so a guessing client shows in the journal; the log's rate limit keeps a
            # flood of them to a few lines (edge/service/logs.py).
            client = request.client.host if request.client else "?"
            log.warning("refused without the token: %s %s from %s", request.method, request.url.path[:100], client)
            raise HTTPException(401, "this needs the API token: enter it on the tablet, or send Authorization: Bearer")

    def may_read(
        request: Request, authorization: str | None = Header(None), goat_session: str | None = Cookie(None)
    ) -> None:
        if reads_need_token:
            authorised(request, authorization, goat_session)

    def call(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GoatEdgeError as exc:
            error = _http_error(exc)
            if error.status_code < 500:  # the 5xx causes are logged where they happen
                log.warning("refused (%d): %s", error.status_code, str(exc)[:300])
            raise error from None

    def with_growth(capture: dict) -> dict:
        """The capture, with the change since the goat's previous capture and its trend. Never
        fails a capture already stored: without its history, it goes out without growth."""
        growth = None
        if capture["goat_tag"]:
            try:
                history = store.list_captures(limit=HISTORY_CAPTURES, goat_tag=capture["goat_tag"])
                growth = growth_of(capture, history, ctx.config.herd.trend_flag_pct).as_dict()
            except GoatEdgeError as exc:  # the goat renamed or removed meanwhile
                log.warning("capture %s: no growth (%s)", capture["id"], exc)
        return {**capture, "growth": growth}

    @app.get("/", include_in_schema=False)
    def tablet_page():
        return FileResponse(STATIC / "index.html")

    @app.get("/api/health", responses={503: {"description": "a required part is down: see problems"}})
    def health(authorization: str | None = Header(None), goat_session: str | None = Cookie(None)):
        """Each part's state; 503 when a required one is down. Without access, where reads
        need the token, only whether all is well (a probe for monitors)."""
        report = health_report(ctx)
        status = 200 if report.ok else 503
        body: dict = {"status": "ok" if report.ok else "down", "device_id": ctx.config.device.id}
        if reads_need_token and not has_access(authorization, goat_session):
            return JSONResponse(body, status_code=status)
        outbox = report.parts.get("outbox", {})
        sync = report.parts.get("sync", {})
        body.update(
            problems=report.problems,
            warnings=report.warnings,
            busy=ctx.pipeline.busy,
            model_versions=ctx.detector.versions,
            calibration_hash=ctx.calibration.hash,
            outbox={"pending": outbox.get("pending", 0), "parked": outbox.get("parked", 0)},
            sync={
                "configured": sync.get("configured", ctx.config.sync.database_url is not None),
                "oldest_waiting_at": outbox.get("oldest_pending_at"),
                "last_success_at": sync.get("last_success_at"),
            },
            parts=report.parts,
        )
        return JSONResponse(body, status_code=status)

    @app.get("/metrics", dependencies=[Depends(may_read)], include_in_schema=False)
    def metrics():
        return Response(ctx.pipeline.metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    @app.post("/api/captures", status_code=201, dependencies=[Depends(authorised)])
    def capture(request: CaptureRequest | None = None):
        tag = request.goat_tag if request else None
        return with_growth(call(ctx.pipeline.capture, "api", goat_tag=tag or None))

    @app.get("/api/captures", dependencies=[Depends(may_read)])
    def list_captures(limit: int = Query(50, ge=1, le=500), goat_tag: str | None = None):
        return call(store.list_captures, limit=limit, goat_tag=goat_tag)

    @app.get("/api/captures/{capture_id}", dependencies=[Depends(may_read)])
    def get_capture(capture_id: str):
        return with_growth(call(store.get_capture, capture_id))

    @app.get("/api/captures/{capture_id}/images/{view}", dependencies=[Depends(may_read)])
    def get_image(
        capture_id: str, view: Literal["side", "top", "front"], kind: Literal["raw", "annotated"] = "annotated"
    ):
        capture = call(store.get_capture, capture_id)
        for image in capture["images"]:
            if image["view"] == view and image["kind"] == kind:
                if image.get("pruned_at"):
                    raise HTTPException(410, f"the {kind} {view} image was pruned after it was uploaded")
                return FileResponse(store.image_path(image), media_type="image/jpeg")
        raise HTTPException(404, f"capture {capture_id} has no {kind} {view} image")

    @app.put("/api/captures/{capture_id}/goat", dependencies=[Depends(authorised)])
    def assign_goat(capture_id: str, body: AssignGoat):
        call(store.assign_goat, capture_id, body.tag)
        return with_growth(call(store.get_capture, capture_id))

    @app.get("/api/goats", dependencies=[Depends(may_read)])
    def list_goats():
        return store.list_goats()

    @app.post("/api/goats", status_code=201, dependencies=[Depends(authorised)])
    def add_goat(goat: GoatIn):
        return call(store.add_goat, goat.tag, **goat.model_dump(exclude={"tag"}))

    @app.get("/api/goats/{tag}", dependencies=[Depends(may_read)])
    def get_goat(tag: str):
        return call(store.get_goat, tag)

    @app.patch("/api/goats/{tag}", dependencies=[Depends(authorised)])
    def update_goat(tag: str, patch: GoatPatch):
        return call(store.update_goat, tag, **patch.model_dump(exclude_unset=True))

    @app.post("/api/goats/{tag}/weights", status_code=201, dependencies=[Depends(authorised)])
    def add_weight(tag: str, body: ScaleWeightIn):
        return call(store.add_scale_weight, tag, body.weight_kg, weighed_at=body.weighed_at, notes=body.notes)

    @app.post("/api/goats/{tag}/tape", status_code=201, dependencies=[Depends(authorised)])
    def add_taped(tag: str, body: TapeIn):
        return call(store.add_taped, tag, dict(body.measurements), measured_at=body.measured_at, notes=body.notes)

    @app.get("/api/goats/{tag}/tape", dependencies=[Depends(may_read)])
    def taped(tag: str):
        return call(lambda: store.taped(store.get_goat(tag)["id"]))

    @app.get("/api/session")
    def session(authorization: str | None = Header(None), goat_session: str | None = Cookie(None)):
        """Whether this tablet must enter the token, and whether it has."""
        return {"token_required": bool(token), "logged_in": has_access(authorization, goat_session)}

    failed_logins: list[float] = []  # when, for the back-off; this app's own, not global

    @app.post("/api/session")
    def login(body: Login, response: Response):
        if not token:
            raise HTTPException(409, "this Pi has no API token set (api.token): nothing to enter")
        now = time.monotonic()
        failed_logins[:] = [t for t in failed_logins if now - t < LOGIN_WINDOW_S]
        if len(failed_logins) >= LOGIN_ATTEMPTS:
            raise HTTPException(429, f"too many wrong codes: wait {LOGIN_WINDOW_S:.0f} seconds and try again")
        if not secrets.compare_digest(body.token.encode(), token.encode()):
            failed_logins.append(now)
            raise HTTPException(401, "that is not this Pi's API token")
        response.set_cookie(
            SESSION_COOKIE,
            session_value(token),
            max_age=SESSION_MAX_AGE_S,
            httponly=True,
            samesite="strict",
            path="/",
        )
        return {"token_required": True, "logged_in": True}

    @app.delete("/api/session")
    def logout(response: Response):
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return {"token_required": bool(token), "logged_in": not token}

    @app.get("/api/goats/{tag}/captures", dependencies=[Depends(may_read)])
    def goat_captures(tag: str, limit: int = Query(200, ge=1, le=500)):
        """The goat's captures, newest first, each with its growth against the ones before."""
        # One more than listed, so that the oldest one listed has its previous capture too.
        history = call(store.list_captures, limit=limit + 1, goat_tag=tag)
        flag_pct = ctx.config.herd.trend_flag_pct
        return [{**c, "growth": growth_of(c, history, flag_pct).as_dict()} for c in history[:limit]]

    @app.get("/api/herd", dependencies=[Depends(may_read)])
    def herd():
        """Every goat with its last capture, daily gain and whether it is off its trend."""
        return herd_summary(store, ctx.config.herd.trend_flag_pct)

    @app.get("/api/goats/{tag}/summary", dependencies=[Depends(may_read)])
    def goat_page(tag: str):
        goat = call(store.get_goat, tag)
        history = store.list_captures(limit=HISTORY_CAPTURES, goat_tag=goat["tag"])
        return {
            **goat_summary(goat, history, ctx.config.herd.trend_flag_pct),
            "notes": goat["notes"],
            "scale_weights": store.scale_weights(goat["id"]),
            "taped": store.taped(goat["id"]),
        }

    @app.get("/api/events", dependencies=[Depends(may_read)])
    async def events(request: Request, last_event_id: str | None = Header(None)):
        """Server-sent events: `capture` with each capture stored from now on, from the
        button or any client, so that every open tablet shows it. Each event's id is the
        capture's; a browser reconnecting sends the last one it saw (Last-Event-ID) and
        gets what was stored since, so none is missed between two streams."""

        async def stream():
            newest = await asyncio.to_thread(store.newest_capture_id)
            yield f"retry: 1000\nid: {last_event_id or newest or ''}\n\n"
            if last_event_id and newest != last_event_id:
                for capture in await asyncio.to_thread(_stored_since, last_event_id):
                    yield _capture_event(capture)
            ends = time.monotonic() + EVENTS_STREAM_S
            while time.monotonic() < ends and not await request.is_disconnected():
                await asyncio.sleep(EVENTS_POLL_S)
                latest = await asyncio.to_thread(store.newest_capture_id)
                if latest and latest != newest:
                    for capture in await asyncio.to_thread(_stored_since, newest):
                        yield _capture_event(capture)
                    newest = latest

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    def _stored_since(capture_id: str | None) -> list[dict]:
        """Captures stored after `capture_id` (all of the last few when it is unknown), oldest
        first, each with its growth."""
        recent = store.list_captures(limit=EVENTS_CATCH_UP)
        ids = [c["id"] for c in recent]
        newer = recent[: ids.index(capture_id)] if capture_id in ids else recent[:1]
        return [with_growth(c) for c in reversed(newer)]

    @app.get("/api/export/captures.csv", dependencies=[Depends(may_read)])
    def export_captures(since: date | None = None, until: date | None = None, goat_tag: str | None = None):
        body = call(captures_csv, store, since, until, goat_tag)
        return _csv_response(body, "captures.csv")

    @app.get("/api/export/fit-weight.csv", dependencies=[Depends(may_read)])
    def export_fit_weight():
        """`goat-edge fit-weight --samples` input: each scale weight beside the goat's nearest
        good capture within a few days."""
        return _csv_response(fit_weight_csv(store), "fit-weight.csv")

    @app.get("/api/export/scale-weights.csv", dependencies=[Depends(may_read)])
    def export_scale_weights(goat_tag: str | None = None):
        return _csv_response(call(scale_weights_csv, store, goat_tag), "scale-weights.csv")

    return app


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """422 naming each bad field and why, without echoing what was sent (it may be huge,
    binary, or a value JSON cannot write back, such as NaN)."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    problems = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))[:200], "type": str(e.get("type", ""))[:60]}
        for e in errors[:10]
    ]
    return JSONResponse({"detail": problems}, status_code=422)


def _capture_event(capture: dict) -> str:
    return f"event: capture\nid: {capture['id']}\ndata: {json.dumps(capture)}\n\n"


def _csv_response(body: str, filename: str) -> Response:
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
