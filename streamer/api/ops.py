"""Operations: liveness, readiness (storage and DB reachable) and Prometheus metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from streamer import metrics
from streamer.api.deps import AppContext, ContextDep
from streamer.api.models import Health, Ready
from streamer.publish.layout import EVENTS

log = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: the process answers."""
    return Health()


def _checks(ctx: AppContext) -> dict[str, str]:
    # public: "ok" or "error" only; the detail (paths, URLs, SQL) goes to the log
    results: dict[str, str] = {}
    try:
        ctx.storage.head(EVENTS)
        results["storage"] = "ok"
    except Exception as exc:
        log.warning("readiness check storage failed: %s", exc)
        results["storage"] = "error"
    for n, check in enumerate(ctx.ready_checks):
        name = getattr(check, "__name__", "") or f"check{n}"
        name = name.removeprefix("check_").removeprefix("_") or f"check{n}"
        try:
            check()
            results[name] = "ok"
        except Exception as exc:
            log.warning("readiness check %s failed: %s", name, exc)
            results[name] = "error"
    return results


@router.get(
    "/readyz",
    response_model=Ready,
    responses={503: {"model": Ready, "description": "A dependency is unreachable"}},
)
async def readyz(ctx: ContextDep) -> JSONResponse:
    """Readiness: storage and the state database are reachable."""
    checks = await run_in_threadpool(_checks, ctx)
    ok = all(v == "ok" for v in checks.values())
    body = Ready(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(
        body.model_dump(), status_code=200 if ok else 503, headers={"Cache-Control": "no-store"}
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def prometheus(ctx: ContextDep) -> Response:
    """Prometheus metrics: sessions by state, capture, gaps, publish and request latency."""
    try:
        snap = await ctx.index.current()
        for event in snap.events:
            metrics.PUBLISHED_VODS.labels(event=event.id).set(len(event.entries))
    except Exception as exc:  # the metrics must answer even when storage does not
        log.debug("catalog unavailable for metrics: %s", exc)
    return Response(
        metrics.render(),
        media_type=metrics.CONTENT_TYPE,
        headers={"Cache-Control": "no-store"},
    )
