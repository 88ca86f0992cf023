"""The review desk: the media team's web pages under ``/admin/`` (issue 13)."""

from __future__ import annotations

from fastapi import FastAPI

from streamer.api.desk.auth import DeskAuth
from streamer.api.desk.pages import router


def install(app: FastAPI, admin_token: str) -> None:
    """Add the desk's routes; its static files are under ``/static/desk/``."""
    app.state.desk = DeskAuth(admin_token.strip())
    app.include_router(router)
