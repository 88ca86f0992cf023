"""Helpers shared by the split tests: the ffmpeg runs a split makes, and packet hashes."""

from __future__ import annotations

import subprocess

import pytest

from streamer import procs


def record_runs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The argv of every ``procs.run`` from now on (each still runs), in order."""
    runs: list[list[str]] = []
    real = procs.run

    def run(argv: list[str], **kw: object) -> object:
        runs.append(list(argv))
        return real(argv, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(procs, "run", run)
    return runs


def framemd5(url: str, *args: str) -> list[str]:
    """ffmpeg's ``framemd5`` lines of the packets of ``url`` (stream copy; ``args`` pick the
    streams and bitstream filters), header lines left out."""
    out = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", url, *(args or ("-map", "0")), "-c", "copy",
         "-f", "framemd5", "-"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    return [line for line in out.splitlines() if line[:1].isdigit()]


def packet_hashes(url: str, *args: str) -> list[str]:
    """Just the md5 column of :func:`framemd5`."""
    return [line.split(",")[5].strip() for line in framemd5(url, *args)]
