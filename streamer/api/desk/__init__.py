"""The review desk: the media team's web pages under ``/admin/`` (issue 13)."""

from __future__ import annotations

from fastapi import FastAPI

from streamer.api.desk import pages, review
from streamer.api.desk.auth import DeskAuth


def install(app: FastAPI, admin_token: str) -> None:
    """Add the desk's routes; its static files are under ``/static/desk/``."""
    app.state.desk = DeskAuth(admin_token.strip())
    app.include_router(pages.router)
    app.include_router(review.router)
