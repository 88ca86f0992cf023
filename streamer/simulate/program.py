"""A simulated conference day with known talk boundaries, rendered as a recording directory.

:func:`plan_day` draws (seeded) a day of talks: each talk has its own picture (``testsrc2``
turned to its own hue) and its own tone; between talks a break of ``break_s`` seconds shows a
slate with near-silence or applause-like noise, or only silence, or nothing at all (talks back
to back). The schedule handed to the service says each talk starts ``late_s`` earlier than it
truly does (0–12 minutes by default), on a minute grid.

:func:`render_day` encodes the whole day with one ffmpeg run (lavfi sources whose hue, tone
and slate switch by time expressions, so the encode has one continuous timestamp line) at a low
resolution, and writes it through :class:`TimelineWriter` as a recording directory that
``split``, ``inspect`` and ``suggest`` read like a real one.
"""

from __future__ import annotations

import math
import random
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from streamer import procs
from streamer.capture.timeline import TimelineWriter
from streamer.schedule.model import Broadcast, Event, Program, Session, Speaker
from streamer.timeutil import iso

EVENT_ID = "simcon"
BROADCAST_ID = "day1"
SLATE_COLOR = "0x203060"
SLATE_MARK = "0xf0c020"
GOLDEN = math.pi * (3 - math.sqrt(5))  # hue step: neighbours never look alike


class BreakKind(StrEnum):
    """What the stream shows between talks."""

    SLATE_QUIET = "slate_quiet"  # holding slate, near-silence
    SLATE_APPLAUSE = "slate_applause"  # holding slate, applause-like noise
    SILENCE = "silence"  # the stage camera stays on, the room is quiet
    NONE = "none"  # no break: the next talk follows at once


@dataclass(frozen=True)
class DaySpec:
    """What to draw. Durations are seconds; ``kinds`` are chosen per break (seeded)."""

    start: datetime = datetime(2026, 5, 1, 0, 30, tzinfo=UTC)
    talks: int = 8
    talk_s: tuple[float, float] = (1200.0, 1500.0)
    break_s: tuple[float, float] = (20.0, 90.0)
    late_s: tuple[float, float] = (0.0, 720.0)
    kinds: tuple[BreakKind, ...] = (BreakKind.SLATE_QUIET, BreakKind.SLATE_APPLAUSE)
    lead_s: float = 60.0  # recording before the first scheduled start
    tail_s: float = 60.0  # recording after the last talk
    grid_s: float = 60.0  # schedules are written on this grid
    seed: int = 0
    width: int = 160
    height: int = 90
    fps: int = 10
    segment_s: int = 2
    sample_rate: int = 8000
    timezone: str = "Asia/Seoul"


@dataclass(frozen=True)
class Piece:
    """A stretch of the rendered day: a talk (``index`` ≥ 0) or a break (``index`` -1)."""

    start_s: float
    end_s: float
    kind: str  # "talk" or a BreakKind value
    index: int


@dataclass(frozen=True)
class Talk:
    id: str
    scheduled_start: datetime
    scheduled_end: datetime
    true_start: datetime
    true_end: datetime
    break_before: BreakKind
    break_after: BreakKind

    @property
    def late_s(self) -> float:
        return (self.true_start - self.scheduled_start).total_seconds()


@dataclass
class Day:
    spec: DaySpec
    talks: list[Talk]
    pieces: list[Piece] = field(default_factory=list)

    @property
    def recording_start(self) -> datetime:
        return self.spec.start

    @property
    def duration_s(self) -> float:
        return self.pieces[-1].end_s

    @property
    def recording_end(self) -> datetime:
        return self.spec.start + timedelta(seconds=self.duration_s)

    def talk(self, talk_id: str) -> Talk:
        return next(t for t in self.talks if t.id == talk_id)

    def program(self) -> Program:
        """The schedule given to the service (scheduled times, not the truth)."""
        return Program(
            event=Event(id=EVENT_ID, title={"en": "Sim Con"}, timezone=self.spec.timezone),
            broadcasts=[
                Broadcast(
                    id=BROADCAST_ID,
                    url="https://example.org/live",
                    start=self.recording_start,
                    end=self.recording_end,
                )
            ],
            sessions=[
                Session(
                    id=t.id,
                    broadcast=BROADCAST_ID,
                    start=t.scheduled_start,
                    end=t.scheduled_end,
                    title={"en": f"Talk {n + 1}"},
                    speakers=[Speaker(name=f"Speaker {n + 1}")],
                    language="en",
                )
                for n, t in enumerate(self.talks)
            ],
        )

    def schedule_yaml(self) -> str:
        """The program as schedule YAML (DESIGN §4), times with offsets."""
        lines = [
            "event:",
            f"  id: {EVENT_ID}",
            "  title: {en: Sim Con}",
            f"  timezone: {self.spec.timezone}",
            "broadcasts:",
            f"  - id: {BROADCAST_ID}",
            "    url: https://example.org/live",
            f"    start: {iso(self.recording_start)}",
            f"    end: {iso(self.recording_end)}",
            "sessions:",
        ]
        for n, t in enumerate(self.talks):
            lines += [
                f"  - id: {t.id}",
                f"    broadcast: {BROADCAST_ID}",
                f"    start: {iso(t.scheduled_start)}",
                f"    end: {iso(t.scheduled_end)}",
                f"    title: Talk {n + 1}",
            ]
        return "\n".join(lines) + "\n"

    def truth(self) -> list[dict[str, object]]:
        return [
            {
                "id": t.id,
                "scheduled_start": iso(t.scheduled_start),
                "true_start": iso(t.true_start),
                "true_end": iso(t.true_end),
                "late_s": round(t.late_s, 3),
                "break_before": t.break_before.value,
            }
            for t in self.talks
        ]


def _grid(moment: datetime, step_s: float) -> datetime:
    epoch = moment.timestamp()
    return datetime.fromtimestamp(math.floor(epoch / step_s) * step_s, UTC)


def plan_day(spec: DaySpec) -> Day:
    """Draw the day: true talk times from durations and breaks, the schedule from lateness."""
    rng = random.Random(spec.seed)

    def frames(seconds: float) -> float:
        # whole frames, so the encode's pieces end exactly where the truth says
        return round(seconds * spec.fps) / spec.fps

    kinds = [rng.choice(spec.kinds) for _ in range(spec.talks + 1)]
    first = _grid(spec.start + timedelta(seconds=spec.lead_s), spec.grid_s)
    cursor = frames((first - spec.start).total_seconds() + rng.uniform(*spec.late_s))
    pieces = [Piece(0.0, cursor, kinds[0].value, -1)]
    true: list[tuple[float, float]] = []
    for i in range(spec.talks):
        talk = frames(rng.uniform(*spec.talk_s))
        true.append((cursor, cursor + talk))
        pieces.append(Piece(cursor, cursor + talk, "talk", i))
        cursor += talk
        gap = 0.0 if kinds[i + 1] is BreakKind.NONE else frames(rng.uniform(*spec.break_s))
        if i == spec.talks - 1:
            gap = frames(spec.tail_s)
        if gap > 0:
            pieces.append(Piece(cursor, cursor + gap, kinds[i + 1].value, -1))
        cursor += gap
    at = spec.start
    starts: list[datetime] = [first]
    for i in range(1, spec.talks):
        wanted = _grid(at + timedelta(seconds=true[i][0] - rng.uniform(*spec.late_s)), spec.grid_s)
        # never scheduled before the previous one, nor after the truth
        floor = starts[-1] + timedelta(seconds=spec.grid_s)
        ceiling = _grid(at + timedelta(seconds=true[i][0]), spec.grid_s)
        starts.append(min(max(wanted, floor), ceiling))
    last_len = _grid(at + timedelta(seconds=true[-1][1] - true[-1][0]), spec.grid_s) - at
    ends = [*starts[1:], starts[-1] + max(last_len, timedelta(seconds=spec.grid_s))]
    talks = [
        Talk(
            id=f"talk-{i + 1}",
            scheduled_start=starts[i],
            scheduled_end=ends[i],
            true_start=at + timedelta(seconds=true[i][0]),
            true_end=at + timedelta(seconds=true[i][1]),
            break_before=kinds[i],
            break_after=kinds[i + 1],
        )
        for i in range(spec.talks)
    ]
    return Day(spec, talks, pieces)


def _looks(day: Day) -> list[tuple[Piece, int | None]]:
    """Each piece with the picture/tone number it shows (None: the slate).

    Talks are 0..n-1; the lead-in and tail of a day without breaks are other programmes
    (n, n+1); a silent break keeps the last talk's picture, without its tone.
    """
    n = len(day.talks)
    out: list[tuple[Piece, int | None]] = []
    last = 0
    for p in day.pieces:
        if p.kind == "talk":
            last = p.index
            out.append((p, p.index))
        elif p.kind == BreakKind.NONE.value:
            last = n if p.start_s == 0 else n + 1
            out.append((p, last))
        elif p.kind == BreakKind.SILENCE.value:
            out.append((p, last))
        else:
            out.append((p, None))
    return out


def _video(spec: DaySpec, look: int | None, seconds: float) -> str:
    size, rate = f"{spec.width}x{spec.height}", spec.fps
    if look is None:  # the holding slate: a still picture, the same every time
        return (
            f"color=c={SLATE_COLOR}:size={size}:rate={rate}:d={seconds:.3f},"
            f"drawbox=x=iw/4:y=ih/3:w=iw/2:h=ih/3:color={SLATE_MARK}:t=fill"
        )
    hue = round(GOLDEN * look % (2 * math.pi), 3)
    # brightness too: a hue turn alone barely changes a busy test picture
    light = 0.25 * (look % 3) - 0.25
    return (
        f"testsrc2=size={size}:rate={rate}:d={seconds:.3f},"
        f"hue=H={hue},eq=brightness={light},format=yuv420p"
    )


def _audio(spec: DaySpec, kind: str, look: int | None, seconds: float) -> str:
    rate, d = spec.sample_rate, f"{seconds:.3f}"
    if kind in ("talk", BreakKind.NONE.value) and look is not None:
        tone = 220.0 + 37.0 * look  # a voice's pitch range: few zero crossings
        return f"sine=f={tone:g}:r={rate}:d={d},volume='0.5*(0.75+0.25*sin(2*PI*2*t))':eval=frame"
    if kind == BreakKind.SLATE_APPLAUSE.value:
        return (
            f"anoisesrc=a=0.25:c=white:r={rate}:d={d}:seed=7,"
            "volume='0.6+0.4*sin(2*PI*1.3*t)':eval=frame"
        )
    return f"anoisesrc=a=0.002:c=white:r={rate}:d={d}:seed=11"  # room tone


def filters(day: Day) -> str:
    """The lavfi graph of the whole day: one source pair per piece, concatenated."""
    spec = day.spec
    chains: list[str] = []
    labels: list[str] = []
    for i, (p, look) in enumerate(_looks(day)):
        seconds = p.end_s - p.start_s
        chains.append(f"{_video(spec, look, seconds)}[v{i}]")
        chains.append(f"{_audio(spec, p.kind, look, seconds)},aformat=channel_layouts=mono[a{i}]")
        labels.append(f"[v{i}][a{i}]")
    chains.append(f"{''.join(labels)}concat=n={len(labels)}:v=1:a=1[v][a]")
    return ";".join(chains)


def render_day(day: Day, directory: Path, *, timeout_s: float = 3600.0) -> Path:
    """Encode the day and write it as a recording directory (one part, no gaps)."""
    spec = day.spec
    graph = filters(day)
    gop = spec.segment_s * spec.fps
    with tempfile.TemporaryDirectory(prefix="simday-") as tmp:
        out = Path(tmp)
        procs.run(
            [
                procs.ffmpeg(), "-nostdin", "-hide_banner", "-v", "error", "-y",
                "-filter_complex", graph, "-map", "[v]", "-map", "[a]",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0",
                "-c:a", "aac", "-b:a", "24k", "-ac", "1",
                "-f", "hls", "-hls_time", str(spec.segment_s), "-hls_list_size", "0",
                "-hls_segment_filename", str(out / "s%06d.ts"), str(out / "index.m3u8"),
            ],
            timeout=timeout_s,
        )  # fmt: skip
        text = (out / "index.m3u8").read_text()
        durations = [float(d) for d in re.findall(r"#EXTINF:([0-9.]+),", text)]
        files = sorted(out.glob("s*.ts"))
        if directory.exists():
            shutil.rmtree(directory)
        with TimelineWriter(directory) as writer:
            writer.write_meta(
                {
                    "source_url": "https://example.org/live",
                    "broadcast_id": BROADCAST_ID,
                    "simulated": True,
                }
            )
            writer.start()
            clock = day.recording_start
            for seq, (path, dur) in enumerate(zip(files, durations, strict=True)):
                writer.write_segment(1, seq, path.read_bytes(), clock, dur, True)
                clock += timedelta(seconds=dur)
            writer.end("ended", "ENDLIST")
    return directory
