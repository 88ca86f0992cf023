"""What every desk page shares: security headers, the capped form reader, rendering."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from streamer.api.deps import AppContext
from streamer.api.desk.auth import COOKIE, LIFETIME_S, DeskAuth
from streamer.api.desk.i18n import MESSAGES, pick

# No inline script or style anywhere: JS and CSS come from /static/desk/.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
FORM_LIMIT = 8 * 1024  # a desk form is a few short fields
LANG_COOKIE = "streamer_desk_lang"


class FormTooLarge(Exception):
    pass


def desk_auth(request: Request) -> DeskAuth:
    auth = request.app.state.desk
    assert isinstance(auth, DeskAuth)
    return auth


def lang_of(request: Request) -> str:
    return pick(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def secure(response: Response, request: Request) -> Response:
    """The desk's headers on any response; remembers a language chosen with ``?lang=``."""
    response.headers.update(HEADERS)
    chosen = request.query_params.get("lang")
    if chosen in MESSAGES:
        response.set_cookie(
            LANG_COOKIE, str(chosen), max_age=365 * 86400, samesite="strict", path="/admin"
        )
    return response


def render(
    ctx: AppContext,
    request: Request,
    template: str,
    status: int = 200,
    **values: Any,
) -> Response:
    lang = lang_of(request)
    nonce = desk_auth(request).session(request.cookies.get(COOKIE))
    page = ctx.templates.get_template(f"desk/{template}").render(
        t=MESSAGES[lang],
        lang=lang,
        other_lang="ko" if lang == "en" else "en",
        signed_in=nonce is not None,
        csrf=desk_auth(request).csrf(nonce) if nonce else "",
        path=request.url.path,
        **values,
    )
    return secure(HTMLResponse(page, status_code=status), request)


def redirect(request: Request, to: str) -> Response:
    return secure(RedirectResponse(to, status_code=303), request)


def set_session(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=LIFETIME_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/admin",
    )


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form, at most FORM_LIMIT bytes (read only after the session was checked)."""
    if int(request.headers.get("content-length") or 0) > FORM_LIMIT:
        raise FormTooLarge
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > FORM_LIMIT:
            raise FormTooLarge
    fields = parse_qs(data.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items() if v}
