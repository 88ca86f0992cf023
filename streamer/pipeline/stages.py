"""Stage functions: each a function of ``(settings, ids)`` that reads and writes only the state
DB, the data dir and storage, so any process (or a queue worker) can run it.

A stage records its own transitions, attempts, errors (with the retry policy's verdict) and
webhook events in the store, and returns nothing the caller must act on: a runner may fire
and forget it. Only a bug escapes as an exception; the session then stays in its stage's
state until the next start retries it.
"""

from __future__ import annotations

import errno
import functools
import logging
import time
from pathlib import Path

from streamer import metrics
from streamer.config import Settings
from streamer.errors import IllegalTransition, NotFoundError, SplitError, StreamerError
from streamer.pipeline.capture_task import recording_dir
from streamer.pipeline.cutchoice import choose_cut
from streamer.pipeline.retry import POLICY
from streamer.pipeline.states import BROADCAST_ACTIVE, SESSION_PUBLISHED, SessionState
from streamer.pipeline.store import SessionView, Store
from streamer.pipeline.sweep import sweep_session_uploads
from streamer.publish import open_storage
from streamer.publish.catalog import Publisher
from streamer.publish.catalog import url_refresh_interval_s as url_refresh_interval_s_of
from streamer.publish.storage import url_lifetime
from streamer.schedule.model import CutPolicy
from streamer.split import split_session
from streamer.timeutil import now
from streamer.vod import CutInfo, VodRecord
from streamer.vod.folder import Outputs, load_record, write_record

log = logging.getLogger(__name__)
S = SessionState


@functools.cache
def _store(url: str) -> Store:
    return Store(url)


def store_for(settings: Settings) -> Store:
    return _store(settings.db_url)


def process_stage(settings: Settings, event_id: str, session_id: str, force: bool = False) -> None:
    """Split, then publish what the split produced."""
    split_stage(settings, event_id, session_id, force)
    if store_for(settings).session(event_id, session_id).state == S.PUBLISHING:
        publish_stage(settings, event_id, session_id)


def split_stage(settings: Settings, event_id: str, session_id: str, force: bool = False) -> None:
    """Cut one session's VOD from its broadcast's recording (corrections applied):
    ``splitting`` → ``publishing``, or ``failed``."""
    store = store_for(settings)
    s = store.session(event_id, session_id)
    active = _source_active(store, s)
    s = store.set_session_state(event_id, session_id, S.SPLITTING)
    try:
        vod = _split(settings, store, event_id, session_id, force)
    except StreamerError as exc:
        _failed(store, s, exc, source_active=active)
        return
    except OSError as exc:  # a full disk, say: a reason in the state, not a traceback
        failure = SplitError(
            f"cannot write the cut of {s.key} in {settings.vods_dir}: {_os_reason(exc)}"
        )
        failure.__cause__ = exc  # the retry policy tells a full disk by it
        _failed(store, s, failure, source_active=active)
        return
    if vod.needs_review and _held(store, event_id, session_id):
        store.set_session_state(
            event_id,
            session_id,
            S.HELD,
            "cut_policy review: waiting to be accepted",
            coverage=vod.coverage,
        )
        store.post("session.held", {"event_id": event_id, "session_id": session_id})
        return
    store.set_session_state(event_id, session_id, S.PUBLISHING, coverage=vod.coverage)


def accept_stage(settings: Settings, event_id: str, session_id: str, by: str) -> None:
    """Accept a held cut and publish it: ``held`` → ``publishing`` → ``published``.

    Raises IllegalTransition when the session is not held (nothing changes then)."""
    store = store_for(settings)
    s = store.session(event_id, session_id)
    if s.state != S.HELD:
        raise IllegalTransition(f"session {s.key} is {s.state}, not held for review")
    out = Outputs.of(settings.vods_dir, event_id, session_id)
    record = load_record(out.json)
    if record is None:
        raise SplitError(f"{s.key}: the held cut is gone; cut it again")
    cut = record.cut or CutInfo(source="schedule")
    accepted = cut.model_copy(update={"reason": f"{cut.reason}; accepted by {by}".lstrip("; ")})
    write_record(out.json, record.model_copy(update={"cut": accepted, "needs_review": False}))
    store.set_session_state(event_id, session_id, S.PUBLISHING, f"accepted by {by}")
    publish_stage(settings, event_id, session_id)


def publish_stage(settings: Settings, event_id: str, session_id: str) -> None:
    """Upload one cut session and refresh the event's index: ``publishing`` → ``published``
    (or ``incomplete``), or ``failed``."""
    store = store_for(settings)
    s = store.set_session_state(event_id, session_id, S.PUBLISHING)
    started = time.monotonic()
    try:
        storage = open_storage(settings)
        sweep_session_uploads(storage, event_id, session_id, now())  # a killed publish's
        # presigned URLs expire: every publish hands out fresh ones
        refresh = url_lifetime(storage) is not None
        vod = Publisher(storage, refresh_urls=refresh).publish_session(
            settings.vods_dir, event_id, session_id
        )
    except StreamerError as exc:
        _failed(store, s, exc, source_active=_source_active(store, s))
        return
    metrics.PUBLISH_SECONDS.observe(time.monotonic() - started)
    complete = vod.status == "complete"
    store.set_session_state(
        event_id,
        session_id,
        S.PUBLISHED if complete else S.INCOMPLETE,
        None if complete else f"recording covers {vod.coverage:.0%} of the session",
        attempts=0,
        next_try_at=None,
        coverage=vod.coverage,
        vod_id=vod.id,
        vod_version=vod.version,
        published_at=now(),
    )
    store.post(
        "session.published",
        {
            "event_id": event_id,
            "session_id": session_id,
            "vod_id": vod.id,
            "version": vod.version,
            "status": vod.status,
            "media_url": vod.media_url,
        },
    )


def url_refresh_interval_s(settings: Settings) -> float | None:
    """How often the catalog's URLs must be renewed (None: they never expire)."""
    return url_refresh_interval_s_of(open_storage(settings))


def refresh_urls_stage(settings: Settings) -> None:
    """Rewrite every published record, index, feed and ``events.json`` with fresh URLs.

    A store that cannot be reached is tried again at the next interval (the URLs handed out
    last time are still good for two thirds of their lifetime)."""
    try:
        events = Publisher(open_storage(settings)).refresh_all_urls()
    except StreamerError as exc:
        log.warning("presigned URLs not refreshed (next interval tries again): %s", exc)
        return
    log.info("presigned URLs refreshed for %d event(s)", len(events))


def unpublish_stage(
    settings: Settings, event_id: str, session_id: str, publisher: Publisher | None = None
) -> None:
    """Take a published VOD down (index entry first, then objects): → ``unpublished``.

    Raises IllegalTransition when the session is not published (nothing is deleted then), and
    StorageError when storage fails (the session stays published). ``publisher`` defaults to
    one on ``settings``' storage (the CLI passes its own, to report what it deleted)."""
    store = store_for(settings)
    s = store.session(event_id, session_id)
    if s.state not in SESSION_PUBLISHED:
        raise IllegalTransition(f"session {s.key} is {s.state}, not published")
    (publisher or Publisher(open_storage(settings))).unpublish(event_id, session_id)
    store.set_session_state(event_id, session_id, S.UNPUBLISHED, "unpublished by the media team")


def tracked(settings: Settings, event_id: str, session_id: str) -> bool:
    """Whether the state DB exists and knows this session (a missing SQLite file is not
    created: a plain ``publish``/``unpublish`` of a folder has no state DB)."""
    url = settings.db_url
    path = url.partition(":///")[2] if url.startswith("sqlite") else ""
    if path and path != ":memory:" and not Path(path).exists():
        return False
    try:
        store_for(settings).session(event_id, session_id)
    except NotFoundError:
        return False
    return True


def _split(
    settings: Settings, store: Store, event_id: str, session_id: str, force: bool
) -> VodRecord:
    program = store.program(event_id)
    session = program.session(session_id)
    rec = store.recording(event_id, session.broadcast)
    # a worker on another machine reads its own copy (pulled from the raw store) instead
    here = recording_dir(settings, event_id, session.broadcast)
    directory = Path(rec.dir) if rec is not None and Path(rec.dir).exists() else here
    if rec is None or not directory.exists():
        raise SplitError(f"missing: broadcast {session.broadcast!r} was never recorded")
    choice = choose_cut(
        store,
        program,
        session_id,
        directory,
        radius_s=settings.cut_radius_s,
        threshold=settings.auto_cut_confidence,
    )
    start, end = choice.start, choice.end
    broadcast = program.broadcast(session.broadcast)
    result = split_session(
        directory,
        program,
        session_id,
        settings.vods_dir,
        mode=settings.split_mode,
        start=start,
        end=end,
        pad_s=settings.pad_s,
        force=force,
        source_url=broadcast.url,
    )
    # the cut's provenance is not part of the split's fingerprint: written on every split
    record = result.record.model_copy(
        update={"cut": choice.cut, "needs_review": choice.needs_review or choice.hold}
    )
    write_record(result.outputs.json, record)
    return record


def _os_reason(exc: OSError) -> str:
    where = f" at {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"disk full ({errno.errorcode[exc.errno]}){where}"
    return f"{exc.strerror or exc}{where}"


def _held(store: Store, event_id: str, session_id: str) -> bool:
    """Whether the event's policy holds cuts for review (not once a person gave both edges)."""
    return store.program(event_id).event.cut_policy is CutPolicy.REVIEW


def _source_active(store: Store, s: SessionView) -> bool:
    """Whether the session's broadcast is still watched or recorded (more may come)."""
    return store.broadcast(s.event_id, s.broadcast_id).state in BROADCAST_ACTIVE


def _failed(store: Store, s: SessionView, exc: StreamerError, *, source_active: bool) -> None:
    """Store the reason and the retry policy's verdict; queue the ``session.failed`` event."""
    verdict = POLICY.after_failure(s.attempts, exc, source_active=source_active, at=now())
    store.set_session_state(
        s.event_id,
        s.id,
        S.FAILED,
        verdict.reason,
        attempts=verdict.attempts,
        next_try_at=verdict.next_try_at,
    )
    log.warning("session %s failed: %s", s.key, verdict.reason)
    store.post(
        "session.failed", {"event_id": s.event_id, "session_id": s.id, "reason": verdict.reason}
    )
