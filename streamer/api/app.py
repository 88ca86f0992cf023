"""``create_app(settings, ...)``: the FastAPI application of streamer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.cors import CORSMiddleware
from swagger_ui_bundle import swagger_ui_path

from streamer.api import admin, desk, errors, media, ops, public, viewer
from streamer.api.deps import AppContext
from streamer.api.fastpath import CachedReads
from streamer.api.guard import RequestGuard
from streamer.api.middleware import RequestMetrics, SecurityHeaders
from streamer.api.vodindex import VodIndex, warm
from streamer.config import Settings
from streamer.pipeline.control import Control
from streamer.publish.storage import Storage
from streamer.schedule.model import Program

log = logging.getLogger(__name__)

DESCRIPTION = """\
The VOD index of a conference, its viewer, and the media team's controls.

* **Public** (`/api/v1/vods`, `/api/v1/events`...): read-only JSON with CORS, strong ETags
  (send `If-None-Match` to get `304`), `Cache-Control` and gzip. Lists use cursor
  pagination in a stable order (start, then id): pass the `next` value back as `cursor`.
* **Admin** (`/api/v1/admin/...`): `Authorization: Bearer $STREAMER_ADMIN_TOKEN`.
* Errors are `{"error": {"code", "message", "details"?}}`.
"""

TAGS = [
    {"name": "public", "description": "The published VOD index (read-only)."},
    {"name": "admin", "description": "The media team's controls (bearer token)."},
    {"name": "operations", "description": "Health, readiness and metrics."},
]


def create_app(
    settings: Settings,
    *,
    control: Control | None = None,
    storage: Storage | None = None,
    programs: Callable[[], list[Program]] | None = None,
    ready_checks: list[Callable[[], None]] | None = None,
    refresh_s: float = 1.0,
) -> FastAPI:
    """The app. Raises ConfigError (at start-up) for a weak admin token (docs/security.md).

    ``storage`` defaults to ``open_storage(settings)``; ``control`` None makes the admin
    routes answer 503 (after the auth check); ``programs`` gives the loaded schedules;
    ``ready_checks`` are called by ``/readyz`` (each raises when its dependency is down);
    ``refresh_s`` bounds how stale the in-memory catalog may be.
    """
    token = settings.admin_token_value()
    if storage is None:
        from streamer.publish import open_storage

        storage = open_storage(settings)
    index = VodIndex(storage, refresh_s=refresh_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await warm(index)
        yield

    app = FastAPI(
        title="streamer",
        version="1",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        # FastAPI's own pages load Swagger UI / ReDoc from a CDN: blank without internet
        docs_url=None,
        redoc_url=None,
    )
    _offline_docs(app)
    app.state.ctx = AppContext(
        settings=settings,
        storage=storage,
        index=index,
        templates=viewer.make_templates(),
        control=control,
        programs=programs or list,
        admin_token=token,
        ready_checks=list(ready_checks or []),
    )
    errors.install(app)
    app.include_router(public.router)
    app.include_router(admin.router)
    app.include_router(ops.router)
    app.include_router(viewer.router)
    desk.install(app, token)
    root = getattr(storage, "root", None)
    from streamer.publish.local import LocalStorage

    if isinstance(storage, LocalStorage) and root is not None:
        app.include_router(media.make_router(root))
    app.mount("/static", StaticFiles(directory=viewer.STATIC), name="static")
    app.add_middleware(CachedReads, index=index, cache_control=public.LIST_CACHE)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "HEAD", "OPTIONS"],
        allow_headers=["If-None-Match", "Accept-Language", "Range", "Content-Type"],
        expose_headers=["ETag", "Content-Length", "Content-Range", "Accept-Ranges"],
        max_age=600,
    )
    app.add_middleware(RequestGuard, token=token)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestMetrics)
    if not token:
        log.warning("STREAMER_ADMIN_TOKEN is empty: the admin API is disabled (development)")
    return app


DOCS_ASSETS = "/docs-assets"


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs``, its JS and CSS served from the swagger-ui-bundle package."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )
