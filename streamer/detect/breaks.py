"""From raw signals to break candidates and change points.

A *break* is a stretch between two talks: quiet or noisy (applause) audio, and/or a holding
slate or black picture. A *change point* is where the picture and the sound change at once
without a break (talks back to back): weaker evidence, so it gets a lower score.

The slate is learnt, not configured: a static picture (keyframes that do not change) that
recurs in more than one place of the broadcast is the holding slate.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from streamer.detect.signals import CHUNK_S, Keyframe, Signals

QUIET_DB = -42.0  # below this a chunk is room tone, not a talk
NOISE_ZCR = 0.30  # above this (and loud) a chunk is applause or hiss, not a voice or a tone
STATIC_DIFF = 2.0  # mean |Δ| per thumbnail pixel below which two keyframes are one picture
SLATE_MATCH = 8.0  # mean |Δ| below which a picture is the learnt slate
SCENE_DIFF = 15.0  # mean |Δ| below which two keyframes are never a cut
SCENE_RATIO = 2.0  # ... and how far above the usual motion around it a cut stands
SCENE_CONTEXT = 8  # keyframes either side that define the usual motion
BLACK_LUMA = 20.0


@dataclass(frozen=True)
class Signal:
    kind: str  # silence, noise, slate, black, freeze, scene, audio_change, mark, schedule
    at: datetime
    score: float


@dataclass
class Break:
    start: datetime
    end: datetime
    score: float
    signals: list[Signal] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()


def diff(a: bytes, b: bytes) -> float:
    """Mean absolute difference of two thumbnails (0–255)."""
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def static_runs(frames: list[Keyframe], min_s: float) -> list[list[Keyframe]]:
    """Runs of keyframes showing one unchanging picture for at least ``min_s``."""
    runs: list[list[Keyframe]] = []
    current: list[Keyframe] = []
    for kf in frames:
        if current and diff(current[-1].thumb, kf.thumb) < STATIC_DIFF:
            current.append(kf)
            continue
        if current and (current[-1].at - current[0].at).total_seconds() >= min_s:
            runs.append(current)
        current = [kf]
    if current and (current[-1].at - current[0].at).total_seconds() >= min_s:
        runs.append(current)
    return runs


def learn_slates(windows: list[Signals], min_s: float) -> list[bytes]:
    """Pictures that stay still for ``min_s`` and recur: at least two runs far apart."""
    protos = [
        (run[0].at, run[len(run) // 2].thumb)
        for w in windows
        for run in static_runs(w.keyframes, min_s)
        if run[len(run) // 2].luma > BLACK_LUMA  # black is its own signal
    ]
    slates: list[bytes] = []
    for at, thumb in protos:
        if any(diff(thumb, s) < SLATE_MATCH for s in slates):
            continue
        far = [t for t2, t in protos if abs((t2 - at).total_seconds()) > 2 * min_s]
        if any(diff(thumb, t) < SLATE_MATCH for t in far):
            slates.append(thumb)
    return slates


def _spans(flags: list[tuple[datetime, bool]], step_s: float) -> list[tuple[datetime, datetime]]:
    """Maximal runs of True in a time series whose samples cover ``step_s`` each."""
    spans: list[tuple[datetime, datetime]] = []
    opened: datetime | None = None
    last: datetime | None = None
    for at, on in flags:
        if on and opened is None:
            opened = at
        if not on and opened is not None and last is not None:
            spans.append((opened, at))
            opened = None
        last = at
    if opened is not None and last is not None:
        spans.append((opened, last + timedelta(seconds=step_s)))
    return spans


def _audio_breaks(sig: Signals, min_s: float) -> list[Break]:
    flags = [(c.at, c.rms_db < QUIET_DB or c.zcr >= NOISE_ZCR) for c in sig.chunks]
    out: list[Break] = []
    for a, b in _spans(flags, CHUNK_S):
        if (b - a).total_seconds() < min_s:
            continue
        inside = [c for c in sig.chunks if a <= c.at < b]
        noisy = sum(1 for c in inside if c.zcr >= NOISE_ZCR and c.rms_db >= QUIET_DB)
        kind = "noise" if noisy * 2 > len(inside) else "silence"
        a, b = _refine_silence(sig, a, b)
        score = 0.75 if kind == "silence" else 0.6
        out.append(Break(a, b, score, [Signal(kind, a, score), Signal(kind, b, score)]))
    return out


def _refine_silence(sig: Signals, a: datetime, b: datetime) -> tuple[datetime, datetime]:
    """silencedetect's edges are sample-exact; chunk edges are only half-second ones."""
    for s, e in sig.silences:
        if abs((s - a).total_seconds()) <= CHUNK_S * 1.5:
            a = s
        if abs((e - b).total_seconds()) <= CHUNK_S * 1.5:
            b = e
    return a, b


def _video_breaks(sig: Signals, slates: list[bytes], min_s: float) -> list[Break]:
    frames = sig.keyframes
    out: list[Break] = []
    for kind in ("slate", "black"):
        if kind == "slate":
            flags = [(k.at, any(diff(k.thumb, s) < SLATE_MATCH for s in slates)) for k in frames]
        else:
            flags = [(k.at, k.luma < BLACK_LUMA) for k in frames]
        step = _step(frames)
        for a, b in _spans(flags, step):
            # the picture changed somewhere between two keyframes: take the middle
            a = max(sig.start, a - timedelta(seconds=step / 2))
            b = b - timedelta(seconds=step / 2)
            if (b - a).total_seconds() >= min_s:
                out.append(Break(a, b, 0.7, [Signal(kind, a, 0.7), Signal(kind, b, 0.7)]))
    return out


def _step(frames: list[Keyframe]) -> float:
    gaps = sorted((b.at - a.at).total_seconds() for a, b in itertools.pairwise(frames))
    return gaps[len(gaps) // 2] if gaps else 2.0


def find_breaks(sig: Signals, slates: list[bytes], min_s: float) -> list[Break]:
    """Audio and picture breaks, merged where they overlap (both together score highest)."""
    audio = _audio_breaks(sig, min_s)
    video = _video_breaks(sig, slates, min_s)
    merged: list[Break] = []
    for v in video:
        partners = [a for a in audio if a.start < v.end and a.end > v.start]
        if not partners:
            merged.append(v)
            continue
        for a in partners:
            audio.remove(a)
        # audio edges are the precise ones; the picture confirms
        start = min(p.start for p in partners)
        end = max(p.end for p in partners)
        score = min(0.98, max(p.score for p in partners) + 0.2)
        merged.append(
            Break(start, end, score, v.signals + [s for p in partners for s in p.signals])
        )
    merged.extend(audio)
    for f_start, f_end in sig.freezes:
        for brk in merged:
            if f_start < brk.end and f_end > brk.start:
                brk.signals.append(Signal("freeze", f_start, 0.4))
    return sorted(merged, key=lambda b: b.start)


def change_points(sig: Signals) -> list[Signal]:
    """Cuts in the picture, scored higher where the sound changes at the same moment.

    A cut is a keyframe-to-keyframe difference well above the usual motion around it, so a
    busy picture does not read as a string of cuts.
    """
    out: list[Signal] = []
    frames = sig.keyframes
    diffs = [diff(a.thumb, b.thumb) for a, b in itertools.pairwise(frames)]
    for i, d in enumerate(diffs):
        around = sorted(diffs[max(0, i - SCENE_CONTEXT) : i] + diffs[i + 1 : i + 1 + SCENE_CONTEXT])
        usual = around[len(around) // 2] if around else 0.0
        if d < SCENE_DIFF or d < SCENE_RATIO * usual:
            continue
        prev, kf = frames[i], frames[i + 1]
        at = prev.at + (kf.at - prev.at) / 2
        score = 0.25 + (0.1 if _audio_changes(sig, prev.at, kf.at) else 0.0)
        out.append(Signal("scene", at, score))
    return out


def _audio_changes(sig: Signals, a: datetime, b: datetime) -> bool:
    """Pitch (zero crossings) or level differs clearly before ``a`` and after ``b``."""
    span = timedelta(seconds=4)
    before = [c for c in sig.chunks if a - span <= c.at < a]
    after = [c for c in sig.chunks if b <= c.at < b + span]
    if not before or not after:
        return False
    zb = sum(c.zcr for c in before) / len(before)
    za = sum(c.zcr for c in after) / len(after)
    lb = sum(c.rms_db for c in before) / len(before)
    la = sum(c.rms_db for c in after) / len(after)
    return abs(za - zb) > 0.15 * max(za, zb, 1e-6) or abs(la - lb) > 6.0
