"""API fixtures: a real local store filled by the real Publisher with real MP4s (ffmpeg),
the forum's program, a small Control double, and a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from streamer.api.app import create_app
from streamer.config import Settings
from streamer.errors import IllegalTransition, NotFoundError
from streamer.files import sha256_file
from streamer.pipeline.control import AcceptRequest, CutRequest, MarkRequest
from streamer.publish.catalog import Publisher
from streamer.publish.local import LocalStorage
from streamer.schedule.model import Broadcast, Event, Program, Session, Speaker
from streamer.timeutil import iso, now
from streamer.vod import VodRecord, dump, vod_id
from tests.conftest import TEST_TOKEN, built_once

SEOUL = ZoneInfo("Asia/Seoul")
EVENT_ID = "sejong-smartcity-forum-2021"
FUTURE_ID = "future-forum"
TOKEN = TEST_TOKEN


def kst(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2021, 4, day, hour, minute, tzinfo=SEOUL)


@dataclass(frozen=True)
class S:
    id: str
    start: datetime
    end: datetime
    ko: str
    en: str
    speakers: tuple[tuple[str, str | None], ...]
    track: str
    language: str
    publish: bool = True
    record: bool = True
    gaps: tuple[tuple[int, int], ...] = ()  # (offset s, duration s)


FORUM_SESSIONS = [
    S(
        "d1-keynote-1",
        kst(27, 10),
        kst(27, 10, 40),
        "코로나 이후 도시의 미래와 세종의 대응",
        "The city after COVID-19 and Sejong's response",
        (("Jason Schenker", "Prestige Economics"),),
        "Keynote",
        "en",
    ),
    S(
        "d1-keynote-2",
        kst(27, 10, 40),
        kst(27, 11, 20),
        "국가시범도시 구상과 융·복합 플랫폼 도시",
        "The national pilot smart city as a platform",
        (("정재승", "KAIST"),),
        "Keynote",
        "ko",
    ),
    S(
        "d1-newdeal",
        kst(27, 13),
        kst(27, 14, 30),
        "한국판 뉴딜과 스마트시티",
        "The Korean New Deal and smart cities",
        (("김도시", "국토연구원"), ("Anna Clark", "UK Smart Cities")),
        "Policy",
        "ko",
    ),
    S(
        "d2-morning",
        kst(28, 8),
        kst(28, 9),
        "아침 세션: 시민과 함께 만드는 도시",
        "Morning: a city made with its citizens",
        (("이시민", None),),
        "Citizens",
        "ko",
    ),
    S(
        "d2-industry",
        kst(28, 10),
        kst(28, 11, 30),
        "기업 세션: 현대자동차, LG CNS, 네이버클라우드",
        "Industry: Hyundai Motor, LG CNS, Naver Cloud",
        (("박기업", "Hyundai Motor"),),
        "Industry",
        "ko",
    ),
    S(
        "d2-startups",
        kst(28, 14),
        kst(28, 15),
        "스마트시티 혁신창업 사례",
        "Smart-city start-ups",
        (("최창업", None),),
        "Startups",
        "ko",
        gaps=((600, 12),),
    ),
    S(
        "d3-global",
        kst(29, 10),
        kst(29, 11, 30),
        "세종 스마트시티 글로벌 확산 전략",
        "Global expansion strategy for Sejong smart city",
        (("Made Wirawan", "Indonesia"),),
        "Global",
        "en",
    ),
    S(
        "d3-standards",
        kst(29, 13),
        kst(29, 14),
        "국가기술표준원과 영국표준협회",
        "Standards: KATS and BSI",
        (("Tom Reed", "BSI"),),
        "Global",
        "en",
        publish=False,
    ),
    S(
        "d3-closing",
        kst(29, 17),
        kst(29, 17, 30),
        "폐회",
        "Closing",
        (),
        "Ceremony",
        "ko",
        publish=False,
        record=False,
    ),
]

FORUM_EVENT = {
    "id": EVENT_ID,
    "title": {
        "ko": "세종 스마트시티 국제포럼 2021",
        "en": "Sejong Smart City International Forum 2021",
    },
    "timezone": "Asia/Seoul",
}


def forum_program() -> Program:
    return Program(
        event=Event.model_validate(FORUM_EVENT),
        broadcasts=[
            Broadcast(
                id=f"day{n}",
                url=f"https://www.youtube.com/watch?v=day{n}",
                start=kst(26 + n, 8),
                end=kst(26 + n, 18),
            )
            for n in (1, 2, 3)
        ],
        sessions=[
            Session(
                id=s.id,
                broadcast=f"day{s.start.day - 26}",
                start=s.start,
                end=s.end,
                title={"ko": s.ko, "en": s.en},
                speakers=[Speaker(name=n, affiliation=a) for n, a in s.speakers],
                track=s.track,
                language=s.language,
                record=s.record,
            )
            for s in FORUM_SESSIONS
        ],
    )


def future_program(moment: datetime) -> Program:
    """An event around ``moment``: one session live now, one upcoming."""
    start = moment.replace(microsecond=0)
    return Program(
        event=Event(
            id=FUTURE_ID, title={"ko": "미래 포럼", "en": "Future Forum"}, timezone="Asia/Seoul"
        ),
        broadcasts=[
            Broadcast(id="main", start=start - timedelta(hours=1), end=start + timedelta(hours=5))
        ],
        sessions=[
            Session(
                id="now-on",
                broadcast="main",
                start=start - timedelta(minutes=10),
                end=start + timedelta(minutes=50),
                title={"ko": "지금 진행 중", "en": "On now"},
            ),
            Session(
                id="later",
                broadcast="main",
                start=start + timedelta(hours=2),
                end=start + timedelta(hours=3),
                title={"ko": "나중 세션", "en": "Later"},
            ),
        ],
    )


def make_mp4(path: Path, seconds: float = 4.0) -> None:
    """A small real H.264/AAC MP4 with +faststart."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=320x180:rate=25:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:sample_rate=44100:duration={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "25",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-shortest",
            "-movflags",
            "+faststart",
            str(path),
        ],
        check=True,
        timeout=60,
    )


def make_jpg(path: Path, mp4: Path) -> None:
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-ss",
            "1",
            "-i",
            str(mp4),
            "-frames:v",
            "1",
            str(path),
        ],
        check=True,
        timeout=60,
    )


@pytest.fixture(scope="session")
def media_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    def build(base: Path) -> None:
        make_mp4(base / "sample.mp4")
        make_jpg(base / "sample.jpg", base / "sample.mp4")

    base = built_once(tmp_path_factory, "api-media", build)  # made once per run
    return base / "sample.mp4", base / "sample.jpg"


def vod_record(s: S, event_id: str = EVENT_ID, **update: Any) -> VodRecord:
    gaps = [
        {
            "start": iso(s.start + timedelta(seconds=o), SEOUL),
            "end": iso(s.start + timedelta(seconds=o + d), SEOUL),
            "duration_s": float(d),
        }
        for o, d in s.gaps
    ]
    record = VodRecord.model_validate(
        {
            "id": vod_id(event_id, s.id),
            "event_id": event_id,
            "session_id": s.id,
            "broadcast_id": f"day{s.start.day - 26}",
            "title": {"ko": s.ko, "en": s.en},
            "speakers": [{"name": n, "affiliation": a} for n, a in s.speakers],
            "track": s.track,
            "language": s.language,
            "start": iso(s.start + timedelta(seconds=2), SEOUL),
            "end": iso(s.end, SEOUL),
            "scheduled_start": iso(s.start, SEOUL),
            "scheduled_end": iso(s.end, SEOUL),
            "duration_s": (s.end - s.start).total_seconds() - 2,
            "size_bytes": 0,
            "sha256": "0" * 64,
            "gaps": gaps,
            "coverage": 1.0 if not gaps else 0.99,
            "status": "complete" if not gaps else "incomplete",
            "source_url": "https://www.youtube.com/watch?v=forum",
        }
    )
    return record.model_copy(update=update)


@dataclass
class Catalog:
    """A LocalStorage published into by the real Publisher."""

    storage: LocalStorage
    split_dir: Path
    media: tuple[Path, Path]
    published: list[str] = field(default_factory=list)

    def publish(self, record: VodRecord, event: dict[str, Any] | None = None) -> VodRecord:
        event_dir = self.split_dir / record.event_id
        event_dir.mkdir(parents=True, exist_ok=True)
        if event is not None:
            (event_dir / "event.json").write_text(json.dumps(event, ensure_ascii=False))
        mp4 = event_dir / f"{record.session_id}.mp4"
        shutil.copyfile(self.media[0], mp4)
        shutil.copyfile(self.media[1], event_dir / f"{record.session_id}.jpg")
        record = record.model_copy(
            update={"size_bytes": mp4.stat().st_size, "sha256": sha256_file(mp4)}
        )
        (event_dir / f"{record.session_id}.json").write_text(
            json.dumps(dump(record), ensure_ascii=False)
        )
        result = Publisher(self.storage).publish_session(
            self.split_dir, record.event_id, record.session_id
        )
        self.published.append(result.id)
        return result

    def unpublish(self, event_id: str, session_id: str) -> None:
        Publisher(self.storage).unpublish(event_id, session_id)

    def index(self, event_id: str = EVENT_ID) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.storage.get_bytes(f"{event_id}/index.json"))
        return data


@pytest.fixture
def catalog(settings: Settings, media_files: tuple[Path, Path], tmp_path: Path) -> Catalog:
    """The forum with seven sessions published (two not: one ended, one ``record: false``)."""
    storage = LocalStorage(settings.data_dir / "public")
    cat = Catalog(storage, tmp_path / "split", media_files)
    for s in FORUM_SESSIONS:
        if s.publish:
            cat.publish(vod_record(s), FORUM_EVENT)
    return cat


@dataclass
class FakeControl:
    """A Control for the API's own tests: records calls, knows a few ids, refuses some moves."""

    calls: list[tuple[str, Any]] = field(default_factory=list)
    sessions_known: tuple[str, ...] = tuple(s.id for s in FORUM_SESSIONS)
    broadcasts_known: tuple[str, ...] = ("day1", "day2", "day3")
    locked: tuple[str, ...] = ("d1-keynote-1",)  # publishing this one is an illegal transition

    def _session(self, session_id: str) -> None:
        if session_id not in self.sessions_known:
            raise NotFoundError(f"no session {session_id!r}")

    def status(self) -> dict[str, Any]:
        self.calls.append(("status", None))
        return {
            "broadcasts": [{"id": b, "state": "done"} for b in self.broadcasts_known],
            "sessions": [{"id": s, "state": "published"} for s in self.sessions_known],
        }

    def sessions(self, event_id: str) -> list[dict[str, Any]]:
        self.calls.append(("sessions", event_id))
        if event_id != EVENT_ID:
            raise NotFoundError(f"no event {event_id!r}")
        return [
            {
                "id": "d3-standards",
                "state": "failed",
                "reason": "no coverage: capture gap",
                "vod_id": None,
            },
            {
                "id": "d1-keynote-1",
                "state": "published",
                "reason": None,
                "vod_id": vod_id(EVENT_ID, "d1-keynote-1"),
                "progress": 1.0,
            },
        ]

    def cut(self, session_id: str, request: CutRequest, source: str = "api") -> dict[str, Any]:
        self._session(session_id)
        self.calls.append(("cut", (session_id, request)))
        return {
            "id": session_id,
            "state": "splitting",
            "correction": request.model_dump(mode="json"),
        }

    def suggest(self, session_id: str) -> dict[str, Any]:
        self._session(session_id)
        self.calls.append(("suggest", session_id))
        return {"id": session_id, "confidence": 0.9, "signals": []}

    def mark(self, session_id: str, request: MarkRequest, source: str) -> dict[str, Any]:
        self._session(session_id)
        self.calls.append(("mark", (session_id, request)))
        return {"session_id": session_id, "edge": request.edge, "source": source}

    def accept(self, session_id: str, request: AcceptRequest, source: str) -> dict[str, Any]:
        self._session(session_id)
        if session_id in self.locked:
            raise IllegalTransition(f"{session_id}: not held for review")
        self.calls.append(("accept", (session_id, request)))
        return {"id": session_id, "state": "published", "source": source}

    def review(self, session_id: str) -> dict[str, Any]:
        self._session(session_id)
        self.calls.append(("review", session_id))
        return {
            "id": session_id,
            "scheduled_start": "2021-04-27T10:00:00+09:00",
            "scheduled_end": "2021-04-27T11:00:00+09:00",
            "cut_start": "2021-04-27T10:00:00+09:00",
            "cut_end": "2021-04-27T11:00:00+09:00",
            "marks": [],
            "corrections": [],
            "audit": [],
            "revision": 4,
        }

    def preview(self, session_id: str, at: datetime) -> dict[str, Any]:
        raise NotFoundError("no recording in the fake")

    def preview_dir(self) -> Path:
        return Path("/nonexistent")

    def publish(self, session_id: str) -> dict[str, Any]:
        self._session(session_id)
        if session_id in self.locked:
            raise IllegalTransition(f"{session_id}: cannot publish while capturing")
        self.calls.append(("publish", session_id))
        return {"id": session_id, "state": "publishing"}

    def unpublish(self, session_id: str) -> dict[str, Any]:
        self._session(session_id)
        self.calls.append(("unpublish", session_id))
        return {"id": session_id, "state": "unpublished"}

    def record(self, broadcast_id: str) -> dict[str, Any]:
        if broadcast_id not in self.broadcasts_known:
            raise NotFoundError(f"no broadcast {broadcast_id!r}")
        self.calls.append(("record", broadcast_id))
        return {"id": broadcast_id, "state": "capturing"}

    def stop(self, broadcast_id: str) -> dict[str, Any]:
        if broadcast_id not in self.broadcasts_known:
            raise NotFoundError(f"no broadcast {broadcast_id!r}")
        self.calls.append(("stop", broadcast_id))
        return {"id": broadcast_id, "state": "stopped"}

    def reload(self) -> dict[str, Any]:
        self.calls.append(("reload", None))
        return {
            "added": ["d4-extra"],
            "changed": [],
            "removed": [],
            "kept": ["d1-keynote-1"],
            "errors": [],
        }


@pytest.fixture
def programs() -> list[Program]:
    return [forum_program(), future_program(now())]


@pytest.fixture
def app(settings: Settings, catalog: Catalog, programs: list[Program]) -> FastAPI:
    """The real app on the real local store (no orchestrator)."""
    return create_app(settings, storage=catalog.storage, programs=lambda: programs, refresh_s=0.1)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def control() -> FakeControl:
    return FakeControl()


@pytest.fixture
def admin_client(
    settings: Settings, catalog: Catalog, programs: list[Program], control: FakeControl
) -> Iterator[TestClient]:
    app = create_app(settings, control=control, storage=catalog.storage, programs=lambda: programs)
    with TestClient(app) as c:
        yield c


@dataclass
class LiveServer:
    url: str
    port: int
    server: uvicorn.Server
    thread: threading.Thread


def start_server(app: FastAPI) -> LiveServer:
    """uvicorn on a socket bound here to port 0: the port is ours from the start (no window in
    which another process could take a port picked as free)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return LiveServer(url, port, server, thread)
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("uvicorn did not come up")


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[LiveServer]:
    live = start_server(app)
    yield live
    live.server.should_exit = True
    live.thread.join(timeout=10)


Fetch = Callable[..., httpx.Response]
