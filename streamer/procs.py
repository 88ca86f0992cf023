"""The one place that runs subprocesses.

It finds ffmpeg and ffprobe, checks their versions once, applies timeouts, and ends every
process the same way: terminate, wait, then kill.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from streamer.errors import ToolError, ToolTimeout

log = logging.getLogger(__name__)

MIN_FFMPEG = (4, 3)
TERMINATE_GRACE_S = 5.0


@dataclass(frozen=True)
class Tool:
    name: str
    path: str
    version: str


@dataclass(frozen=True)
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def _parse_version(text: str) -> tuple[int, ...] | None:
    match = re.search(r"version (?:n)?(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


@functools.cache
def find(name: str) -> Tool:
    """Locate ``ffmpeg`` or ``ffprobe`` on PATH and check its version (cached)."""
    path = shutil.which(name)
    if path is None:
        raise ToolError(f"{name} not found on PATH; install it (Debian: apt-get install -y ffmpeg)")
    try:
        out = subprocess.run(
            [path, "-version"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"{name} at {path} does not run: {exc}") from exc
    first = out.splitlines()[0] if out else ""
    version = _parse_version(first)
    if version is not None and version < MIN_FFMPEG:
        raise ToolError(f"{name} {first!r} is too old; need {'.'.join(map(str, MIN_FFMPEG))}+")
    return Tool(name=name, path=path, version=first)


def ffmpeg() -> str:
    return find("ffmpeg").path


def ffprobe() -> str:
    return find("ffprobe").path


def stop(proc: subprocess.Popen[Any], grace_s: float = TERMINATE_GRACE_S) -> int:
    """End a process: terminate, wait ``grace_s``, then kill. Returns its exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            log.warning("pid %s ignored SIGTERM; killing", proc.pid)
            proc.kill()
            proc.wait()
    return proc.returncode


DISK_FULL = os.strerror(errno.ENOSPC)  # "No space left on device"


def run(
    args: Sequence[str],
    *,
    timeout: float,
    check: bool = True,
    input_bytes: bytes | None = None,
) -> Result:
    """Run to completion with a timeout; a failure raises ToolError with stderr's tail."""
    argv = [str(a) for a in args]
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise ToolError(f"cannot start {argv[0]}: {exc}") from exc
    try:
        out, err = proc.communicate(input=input_bytes, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        stop(proc)
        proc.communicate()
        raise ToolTimeout(f"{argv[0]} timed out after {timeout:.0f}s") from exc
    result = Result(
        argv, proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    )
    # ffmpeg exits 0 when the disk fills up while it writes its trailer (it only says so)
    if check and (proc.returncode != 0 or DISK_FULL in result.stderr):
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise ToolError(f"{argv[0].rsplit('/', 1)[-1]} failed (rc={proc.returncode}): {tail}")
    return result


def spawn(
    args: Sequence[str],
    *,
    stdout: IO[Any] | int | None = subprocess.DEVNULL,
    stderr: IO[Any] | int | None = subprocess.DEVNULL,
    cwd: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running process (end it with :func:`stop`)."""
    argv = [str(a) for a in args]
    try:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, cwd=cwd
        )
    except OSError as exc:
        raise ToolError(f"cannot start {argv[0]}: {exc}") from exc


# Recorded segments are bytes someone else served. Left to probing, a "segment" that is an
# HLS or concat playlist makes ffmpeg open the files or URLs it lists; so the format is named
# and the protocols and demuxers are limited to what reading local segments needs.
FETCHED_PROTOCOLS = "file,pipe,concat,concatf,subfile"
_FETCHED_FORMATS = {"mpegts": "mpegts", "concat": "concat,mpegts"}


def fetched_input(options: dict[str, Any] | None = None, *, fmt: str = "mpegts") -> dict[str, Any]:
    """ffmpeg-python input options for fetched data: ``fmt`` is ``mpegts`` for segments, or
    ``concat`` for our own concat script over them (its entries may only be MPEG-TS)."""
    return {
        **(options or {}),
        "f": fmt,
        "protocol_whitelist": FETCHED_PROTOCOLS,
        "format_whitelist": _FETCHED_FORMATS[fmt],
    }


def fetched_probe_args() -> list[str]:
    """ffprobe options for segments or the MP4s cut from them: MPEG-TS or MP4 only."""
    return ["-protocol_whitelist", FETCHED_PROTOCOLS, "-format_whitelist", "mpegts,mov"]
