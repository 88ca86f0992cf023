"""Errors as JSON ``{"error": {"code", "message", "details"?}}``, one mapping for the app."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from streamer.errors import (
    ConfigError,
    IllegalTransition,
    InvalidRequest,
    NotFound,
    NotFoundError,
    ScheduleError,
    SplitError,
    StorageError,
    StreamerError,
)

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An HTTP error with a machine-readable code; raised by routes and dependencies."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = jsonable_encoder(details)
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def invalid(field: str, message: str, *, where: str = "query") -> RequestValidationError:
    """A 422 for a value that passed the type check but is still wrong."""
    return RequestValidationError([{"loc": (where, field), "msg": message, "type": "value_error"}])


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "validation_error",
    503: "unavailable",
}

# Most specific first: NotFound is a StorageError, IllegalTransition a StateError.
_DOMAIN: list[tuple[type[StreamerError], int, str]] = [
    (NotFoundError, 404, "not_found"),
    (NotFound, 404, "not_found"),
    (IllegalTransition, 409, "illegal_transition"),
    (InvalidRequest, 422, "invalid_request"),
    (ScheduleError, 422, "invalid_schedule"),
    (SplitError, 409, "split_failed"),
    (StorageError, 503, "storage_unavailable"),
    (ConfigError, 500, "config_error"),
]


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    details = []
    for err in exc.errors():
        item: dict[str, Any] = {
            "loc": [str(p) for p in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        details.append(item)
    return details


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the same JSON shape."""

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        details = _validation_details(exc)
        reasons = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in details)
        return error_response(422, "validation_error", f"invalid request: {reasons}", details)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = str(exc.detail) if exc.detail else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route for {request.url.path}"
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, code, message, headers=headers)

    async def on_streamer(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StreamerError)
        for kind, status, code in _DOMAIN:
            if isinstance(exc, kind):
                details = exc.problems if isinstance(exc, ScheduleError) else None
                if status >= 500:
                    log.warning("%s %s: %s", request.method, request.url.path, exc)
                return error_response(status, code, str(exc), details)
        log.exception("unexpected %s on %s", type(exc).__name__, request.url.path)
        return error_response(500, "internal_error", str(exc))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(StreamerError, on_streamer)
