"""Fixtures shared by every area. Area fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import fcntl
import math
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streamer.config import Settings
from streamer.simulate import M3U8_TYPE, TS_TYPE, HttpServer, ReplayServer, Response
from tests import ports

TEST_TOKEN = "test-admin-token-0123456789abcdefghijklmnop"  # >= 32 characters
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
# Debian's Chromium, as the machine's notes say to start it (closed network, root, headless)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a fresh data dir, the embedded defaults otherwise."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path / "data",
        schedules=tmp_path / "schedules",
        admin_token=TEST_TOKEN,  # type: ignore[arg-type]
        # the simulated broadcasts and webhook receivers of the tests are on 127.0.0.1
        allow_private_sources=True,
    )


@pytest.fixture
def free_port() -> int:
    return ports.free_port()


def built_once(factory: pytest.TempPathFactory, name: str, build: Callable[[Path], object]) -> Path:
    """A directory that ``build`` fills once per test run, shared by the xdist workers.

    Pre-encoded media are read-only, so one copy serves every worker: the first to ask builds
    it under a lock while the others wait, then all reuse it (without xdist: once per session).
    """
    base = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the run's root; each worker's own basetemp is a folder in it
    root = base / f"once-{name}"
    with open(base / f"once-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (root / ".built").is_file():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            build(root)
            (root / ".built").touch()
    return root


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# ---- a live source whose timeline is computed, not encoded ---------------------------------


class ScriptedLive:
    """A live HLS broadcast on 127.0.0.1 whose timeline follows ``clock``, not an encoder.

    Slot ``n`` is the segment of wall time ``[n*s, (n+1)*s)``; it is produced when the clock
    passes its end, so the source never falls behind real time however loaded the machine is
    (an ffmpeg ``-re`` encoder does, and its PROGRAM-DATE-TIME then lags). Faults are made in
    the source's timeline by construction: ``pause(n)`` skips the next ``n`` slots (epoch
    numbering jumps, as ffmpeg restarted with ``-hls_start_number_source epoch``),
    ``restart()`` numbers from 0 again, ``kill()`` freezes the playlist, ``stop()`` ends it.
    The bytes are real ffmpeg segments (``ReplayServer.prepare``), consecutive in content
    and timestamps for ``len(segments)`` slots from the first window. ``produced`` and ``served``
    tell the tests what the source made and what each playlist listed.
    """

    def __init__(
        self,
        segments: list[bytes],
        *,
        segment_s: float = 1.0,
        window: int = 10,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.segments = segments
        self.segment_s = segment_s
        self.window = window
        self.clock = clock
        self._lock = threading.Lock()
        first = self._slot_now() - window + 1  # a full window at once, as after wait_ready
        self._origin = first  # content is consecutive from here for len(segments) slots
        self._next_slot = first
        self._base = 0  # seq = slot - base; epoch-like until a reset
        self._skip_until = first
        self.frozen = False
        self.ended = False
        self.produced: list[tuple[int, datetime]] = []  # (seq, pdt) of every segment made
        self._run: list[tuple[int, datetime, bytes]] = []  # the current encoder run
        self._new_run = False
        self._files: dict[int, bytes] = {}  # what is still on disk, by seq
        self.served: list[list[int]] = []  # the seqs each playlist answer listed
        self._server: HttpServer | None = None

    def _slot_now(self) -> int:
        return math.floor(self.clock() / self.segment_s) - 1  # the newest complete slot

    def _produce(self) -> None:
        """Make every slot the clock has passed (caller holds the lock)."""
        newest = self._slot_now()
        while not self.frozen and not self.ended and self._next_slot <= newest:
            slot = self._next_slot
            self._next_slot += 1
            if slot < self._skip_until:
                continue
            seq = slot - self._base
            pdt = datetime.fromtimestamp(slot * self.segment_s, UTC)
            data = self.segments[(slot - self._origin) % len(self.segments)]
            if self._new_run:  # the new encoder's first segment replaces the old playlist
                self._run, self._new_run = [], False
            self.produced.append((seq, pdt))
            self._run.append((seq, pdt, data))
            self._files[seq] = data
            self._files.pop(seq - self.window - 4, None)  # ffmpeg's delete_segments

    # ---- controls -------------------------------------------------------------------------

    def start(self) -> ScriptedLive:
        if self._server is None:
            self._server = HttpServer(self._route)
        return self

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("ScriptedLive not started")
        return f"{self._server.base}/media.m3u8"

    def newest_seq(self) -> int | None:
        with self._lock:
            self._produce()
            return self._run[-1][0] if self._run else None

    def wait_produced(self, n: int, timeout: float = 120.0) -> None:
        """Block until the source has made ``n`` more segments than it had (a condition,
        bounded generously: the clock advances however loaded the machine is)."""
        with self._lock:
            self._produce()
            target = len(self.produced) + n
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                self._produce()
                if len(self.produced) >= target:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"the source made fewer than {n} segments in {timeout:.0f}s")

    def pause(self, slots: int) -> None:
        """The encoder stops for ``slots`` segments, then goes on (epoch numbering)."""
        with self._lock:
            self._produce()
            self._skip_until = self._next_slot + slots
            self._new_run = True

    def restart(self) -> None:
        """The encoder restarts at once with its numbering at 0 (a sequence reset)."""
        with self._lock:
            self._produce()
            self._base = self._next_slot
            self._files.clear()
            self._new_run = True

    def kill(self) -> None:
        """The source dies: the playlist stays as it was, without ENDLIST."""
        with self._lock:
            self._produce()
            self.frozen = True

    def stop(self) -> None:
        """The broadcast ends cleanly: EXT-X-ENDLIST."""
        with self._lock:
            self._produce()
            self.ended = True

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> ScriptedLive:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- serving --------------------------------------------------------------------------

    def playlist(self) -> str:
        with self._lock:
            self._produce()
            listed = self._run[-self.window :]
            self.served.append([seq for seq, _, _ in listed])
            ended = self.ended
        lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{math.ceil(self.segment_s)}",
            f"#EXT-X-MEDIA-SEQUENCE:{listed[0][0] if listed else 0}",
        ]
        for seq, pdt, _ in listed:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{pdt.isoformat(timespec='milliseconds')}")
            lines.append(f"#EXTINF:{self.segment_s:.3f},")
            lines.append(f"seg{seq}.ts")
        if ended:
            lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    def _route(self, path: str) -> Response | None:
        if path == "/media.m3u8":
            return (200, M3U8_TYPE, self.playlist().encode())
        match = re.fullmatch(r"/seg(\d+)\.ts", path)
        if match is None:
            return None
        seq = int(match.group(1))
        with self._lock:
            self._produce()
            data = self._files.get(seq)
        return None if data is None else (200, TS_TYPE, data)


def replay_segments(root: Path, count: int, width: int = 320, height: int = 180) -> list[bytes]:
    """``count`` consecutive one-second ffmpeg segments (small and 10 fps: cheap to make)."""
    server = ReplayServer(
        root, width=width, height=height, fps=10, count=count, video_bitrate="300k"
    )
    server.prepare()
    return [(server.source_dir / f"seg{i}.ts").read_bytes() for i in range(count)]


@pytest.fixture(scope="session")
def live_segments(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    """Two minutes of real segments for :class:`ScriptedLive`, made once per run."""
    root = built_once(tmp_path_factory, "scripted", lambda out: replay_segments(out, 120))
    return replay_segments(root, 120)  # read back: prepare() finds the files made
