"""What the admin API may ask of the running service. The orchestrator implements it.

Kept as a Protocol so the API depends on an interface, not on APScheduler.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from streamer.errors import InvalidRequest


class CutRequest(BaseModel):
    """A correction of a session's window: absolute times, or offsets in seconds from the
    scheduled start/end (negative = earlier). Absolute times without an offset are in the
    event's zone."""

    start: datetime | None = None
    end: datetime | None = None
    start_offset_s: float | None = Field(default=None, ge=-86400, le=86400, allow_inf_nan=False)
    end_offset_s: float | None = Field(default=None, ge=-86400, le=86400, allow_inf_nan=False)
    by: str = Field(default="", max_length=120)  # who, for the audit log

    @model_validator(mode="after")
    def _one_form(self) -> CutRequest:
        if self.start is not None and self.start_offset_s is not None:
            raise ValueError("give start or start_offset_s, not both")
        if self.end is not None and self.end_offset_s is not None:
            raise ValueError("give end or end_offset_s, not both")
        if all(v is None for v in (self.start, self.end, self.start_offset_s, self.end_offset_s)):
            raise ValueError("give at least one of start, end, start_offset_s, end_offset_s")
        return self


class MarkRequest(BaseModel):
    """An operator mark: the session started or ended at ``at`` (now when left out). A time
    without an offset is in the event's zone."""

    edge: Literal["start", "end"]
    at: datetime | None = None
    by: str = Field(default="", max_length=120)


class AcceptRequest(BaseModel):
    """Accept a session's cut and publish it: the held cut as it is (``cut_policy: review``),
    or the window given (``start`` and/or ``end``, the other edge as the cut in force: re-cut
    and published as version + 1).

    ``revision`` is the cut's revision the request was made against (the review page's): when
    the cut changed since (another operator accepted first), the request is refused (409) and
    only logged, so two operators accepting at once end with exactly one result."""

    model_config = ConfigDict(extra="forbid")

    by: str = Field(default="", max_length=120)
    start: datetime | None = None
    end: datetime | None = None
    revision: int | None = Field(default=None, ge=0)


def check_cut(
    start: datetime,
    end: datetime,
    *,
    broadcast: tuple[datetime, datetime],
    lead_s: float,
    late_s: float,
    tz: tzinfo,
) -> None:
    """InvalidRequest (422) unless ``start < end`` and both lie in the broadcast's window as
    the capture sees it: from ``lead_s`` before its start to ``late_s`` after its end."""
    lo = broadcast[0] - timedelta(seconds=lead_s)
    hi = broadcast[1] + timedelta(seconds=late_s)
    try:
        ordered = start < end
        inside = lo <= start and end <= hi
    except OverflowError:  # year 1 or 9999 with an offset: no UTC instant to compare
        ordered, inside = True, False
    if not ordered:
        raise InvalidRequest(
            f"the corrected end ({end.isoformat()}) must come after the corrected start"
            f" ({start.isoformat()})"
        )
    if not inside:
        raise InvalidRequest(
            f"the cut {start.isoformat()} – {end.isoformat()} is outside the broadcast's"
            f" window {lo.astimezone(tz).isoformat()} – {hi.astimezone(tz).isoformat()}"
        )


class Control(Protocol):
    """Operations of the media team. Unknown ids raise ``NotFoundError``; an action that the
    current state does not allow raises ``IllegalTransition`` (both from streamer.errors)."""

    def status(self) -> dict[str, Any]:
        """Broadcasts and sessions with state, progress and last error (``status --json``)."""
        ...

    def sessions(self, event_id: str) -> list[dict[str, Any]]:
        """The program of one event, each session with ``state``, ``reason``, ``vod_id``."""
        ...

    def cut(self, session_id: str, request: CutRequest, source: str = "api") -> dict[str, Any]:
        """Store a correction, re-split and republish that session; returns its new state.
        ``source`` (from where: ``api 10.0.0.5``, ``desk 10.0.0.5``) goes to the audit log."""
        ...

    def mark(self, session_id: str, request: MarkRequest, source: str) -> dict[str, Any]:
        """Store an operator mark (who, when, from where); returns the mark."""
        ...

    def suggest(self, session_id: str) -> dict[str, Any]:
        """The suggested cut of one session (the ``suggest --json`` item), marks applied."""
        ...

    def accept(self, session_id: str, request: AcceptRequest, source: str) -> dict[str, Any]:
        """Accept a held cut (``held`` → published), or a given window (re-cut, published);
        IllegalTransition when there is no held cut and no window, or the revision is stale."""
        ...

    def review(self, session_id: str) -> dict[str, Any]:
        """The review desk's view of a session: cut in force, marks and corrections made."""
        ...

    def preview(self, session_id: str, at: datetime) -> dict[str, Any]:
        """A short low-resolution preview around ``at``: ``{"video", "strip", "start", "end",
        "strip_every_s"}`` (file names in ``preview_dir``; made once, cached)."""
        ...

    def preview_dir(self) -> Path:
        """Where previews are cached."""
        ...

    def publish(self, session_id: str) -> dict[str, Any]: ...

    def unpublish(self, session_id: str) -> dict[str, Any]: ...

    def record(self, broadcast_id: str) -> dict[str, Any]:
        """Start (or resume) capturing a broadcast now."""
        ...

    def stop(self, broadcast_id: str) -> dict[str, Any]: ...

    def reload(self) -> dict[str, Any]:
        """Re-read the schedules; returns ``{"added": [...], "changed": [...], "removed":
        [...], "kept": [...], "errors": [...]}`` of session ids."""
        ...
