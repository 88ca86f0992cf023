"""The timeline reader parses only what was appended since it last read a file, and anything
else (a rewrite in place, a truncation, a replacement, a torn line) reads as a fresh parse."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamer.capture import timeline_rows
from streamer.capture.timeline_rows import read_rows


def _row(k: int) -> bytes:
    if k % 5 == 4:
        return json.dumps({"t": "part", "part": k, "reason": f"r{k} – ü"}).encode() + b"\n"
    seg = {
        "t": "seg", "part": 1, "seq": k, "start": f"2026-12-02T10:{k % 60:02d}:00+00:00",
        "dur": 2.0, "bytes": 100 + k, "file": f"part-001/{k:08d}.ts",
    }  # fmt: skip
    return json.dumps(seg).encode() + b"\n"


def _fresh(path: Path) -> list[tuple[object, ...]]:
    timeline_rows._cache.pop(os.path.abspath(path), None)
    return read_rows(path)


# each step: append rows, append half a row (torn), rewrite a byte in place, truncate, replace
step = st.one_of(
    st.tuples(st.just("append"), st.integers(1, 4)),
    st.tuples(st.just("torn"), st.integers(1, 30)),
    st.tuples(st.just("poke"), st.integers(0, 10_000)),
    st.tuples(st.just("truncate"), st.integers(0, 10_000)),
    st.tuples(st.just("replace"), st.integers(0, 6)),
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(step, min_size=1, max_size=12))
def test_reads_after_any_change_equal_a_fresh_parse(
    tmp_path: Path, steps: list[tuple[str, int]]
) -> None:
    path = tmp_path / "timeline.jsonl"
    path.write_bytes(b"")
    timeline_rows._cache.clear()
    k = 0
    for kind, n in steps:
        data = path.read_bytes()
        if kind == "append":
            with path.open("ab") as f:
                for _ in range(n):
                    f.write(_row(k))
                    k += 1
        elif kind == "torn":
            with path.open("ab") as f:
                f.write(_row(k)[:n])
        elif kind == "poke" and data:
            at = n % len(data)
            with path.open("r+b") as f:  # same inode, same size, one byte changed
                f.seek(at)
                f.write(b"7" if data[at : at + 1] != b"7" else b"8")
        elif kind == "truncate":
            with path.open("r+b") as f:
                f.truncate(n % (len(data) + 1))
        elif kind == "replace":
            tmp = tmp_path / "new.jsonl"
            tmp.write_bytes(b"".join(_row(j) for j in range(n)))
            tmp.replace(path)
        seen = read_rows(path)
        assert seen == _fresh(path), (kind, n)
        read_rows(path)  # leave the cache as a reader would


def test_only_the_new_lines_are_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "timeline.jsonl"
    path.write_bytes(b"".join(_row(k) for k in range(50)))
    assert len(read_rows(path)) == 50
    parsed: list[int] = []
    real = timeline_rows._parse

    def counting(data: bytes, start: int, end: int) -> list[tuple[object, ...]]:
        rows = real(data, start, end)
        parsed.append(len(rows))
        return rows

    monkeypatch.setattr(timeline_rows, "_parse", counting)
    with path.open("ab") as f:
        f.write(_row(50) + _row(51))
    assert len(read_rows(path)) == 52
    assert sum(parsed) == 2  # the two appended rows, not the 50 before them
    assert not list(tmp_path.glob("*.tmp"))


def test_a_missing_file_has_no_rows(tmp_path: Path) -> None:
    assert read_rows(tmp_path / "nothing.jsonl") == []
