"""The Pi's local HTTP API, and the tablet page that uses it.

Errors come back as {"detail": "<what a person can act on>"} with a status that says who
can fix it: 4xx for the request (unknown goat, duplicate tag, bad value, a capture
already running), 503 when the chute cannot capture now (a camera not responding, the
disk full).
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from fastapi import Depends, FastAPI, Header, HTTPException, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from edge.camera.base import CameraError
from edge.errors import GoatEdgeError
from edge.pipeline.capture import CaptureBusyError
from edge.pipeline.context import EdgeContext
from edge.store.errors import DiskFullError, DuplicateTagError, NotFoundError

STATIC = Path(__file__).parent / "static"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


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


class ScaleWeightIn(_Body):
    weight_kg: float = Field(gt=0, lt=300)
    weighed_at: datetime | None = None
    notes: str | None = Field(None, max_length=2000)


def _http_error(exc: GoatEdgeError) -> HTTPException:
    if isinstance(exc, NotFoundError):
        return HTTPException(404, str(exc))
    if isinstance(exc, (DuplicateTagError, CaptureBusyError)):
        return HTTPException(409, str(exc))
    if isinstance(exc, (CameraError, DiskFullError)):
        return HTTPException(503, str(exc))
    return HTTPException(422, str(exc))


def create_app(ctx: EdgeContext) -> FastAPI:
    app = FastAPI(title="goat-edge", docs_url="/api/docs", openapi_url="/api/openapi.json")
    store, token = ctx.store, ctx.config.api.token

    def authorised(authorization: str | None = Header(None)) -> None:
        """With api.token set, changes need it; reading stays open on the farm's network."""
        if token and not secrets.compare_digest(authorization or "", f"Bearer {token}"):
            raise HTTPException(401, "this request needs the API token (Authorization: Bearer ...)")

    def call(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except GoatEdgeError as exc:
            raise _http_error(exc) from None

    @app.get("/", include_in_schema=False)
    def tablet_page():
        return FileResponse(STATIC / "index.html")

    @app.get("/api/health")
    def health():
        return {
            "device_id": ctx.config.device.id,
            "busy": ctx.pipeline.busy,
            "model_versions": ctx.detector.versions,
            "calibration_hash": ctx.calibration.hash,
            "outbox": store.outbox_counts(),
        }

    @app.post("/api/captures", status_code=201, dependencies=[Depends(authorised)])
    def capture(request: CaptureRequest | None = None):
        tag = request.goat_tag if request else None
        return call(ctx.pipeline.capture, "api", goat_tag=tag or None)

    @app.get("/api/captures")
    def list_captures(limit: int = Query(50, ge=1, le=500), goat_tag: str | None = None):
        return call(store.list_captures, limit=limit, goat_tag=goat_tag)

    @app.get("/api/captures/{capture_id}")
    def get_capture(capture_id: str):
        return call(store.get_capture, capture_id)

    @app.get("/api/captures/{capture_id}/images/{view}")
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
        return call(store.get_capture, capture_id)

    @app.get("/api/goats")
    def list_goats():
        return store.list_goats()

    @app.post("/api/goats", status_code=201, dependencies=[Depends(authorised)])
    def add_goat(goat: GoatIn):
        return call(store.add_goat, goat.tag, **goat.model_dump(exclude={"tag"}))

    @app.get("/api/goats/{tag}")
    def get_goat(tag: str):
        return call(store.get_goat, tag)

    @app.patch("/api/goats/{tag}", dependencies=[Depends(authorised)])
    def update_goat(tag: str, patch: GoatPatch):
        return call(store.update_goat, tag, **patch.model_dump(exclude_unset=True))

    @app.post("/api/goats/{tag}/weights", status_code=201, dependencies=[Depends(authorised)])
    def add_weight(tag: str, body: ScaleWeightIn):
        return call(store.add_scale_weight, tag, body.weight_kg, weighed_at=body.weighed_at, notes=body.notes)

    return app
