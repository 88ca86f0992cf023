"""Property-based fuzzing (issue 17): every input ends in a result or a clear error.

~200 examples each in CI; ``scripts/fuzz.sh`` runs 10,000 (``STREAMER_FUZZ_EXAMPLES``).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamer.api.app import create_app
from streamer.api.ranges import RangeNotSatisfiable, parse_range
from streamer.capture.playlist import parse
from streamer.config import Settings
from streamer.errors import CaptureError, ScheduleError
from streamer.pipeline.control import CutRequest
from streamer.publish.memory import MemoryStorage
from streamer.schedule.importers import import_schedule
from streamer.schedule.load import check_program, program_from_data
from tests.conftest import TEST_TOKEN

FUZZ = settings(
    max_examples=int(os.environ.get("STREAMER_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
SCALAR = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | TEXT
KEYS = st.sampled_from(
    ["event", "id", "title", "timezone", "broadcasts", "sessions", "url", "start", "end",
     "broadcast", "speakers", "name", "track", "language", "record", "ko", "en", "tags"]
) | TEXT  # fmt: skip
DATA = st.recursive(
    SCALAR,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(KEYS, kids, max_size=6),
    max_leaves=25,
)


# ---- the m3u8 parser -------------------------------------------------------------------------

M3U8_LINES = st.sampled_from(
    ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2", "#EXT-X-MEDIA-SEQUENCE:5",
     "#EXTINF:2.0,", "#EXTINF:-1,", "#EXTINF:abc,", "#EXT-X-DISCONTINUITY", "#EXT-X-ENDLIST",
     "#EXT-X-PROGRAM-DATE-TIME:2021-04-27T10:00:00Z", "#EXT-X-PROGRAM-DATE-TIME:garbage",
     "#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360", "#EXT-X-STREAM-INF:BANDWIDTH=x",
     "#EXT-X-KEY:METHOD=AES-128,URI=\"k\"", "#EXT-X-MAP:URI=\"init.mp4\"", "seg1.ts",
     "http://127.0.0.1/x.ts", "file:///etc/passwd", "", "<html>"]
) | TEXT  # fmt: skip


@FUZZ
@given(st.lists(M3U8_LINES, max_size=30))
def test_m3u8_parser(lines: list[str]) -> None:
    try:
        parse("\n".join(lines), "https://cdn.example/live.m3u8")
    except CaptureError as exc:
        assert "cdn.example" in str(exc)


# ---- the Range parser ------------------------------------------------------------------------

RANGE = st.one_of(
    TEXT,
    st.builds(
        lambda unit, specs: f"{unit}={','.join(specs)}",
        st.sampled_from(["bytes", "BYTES", "items", " bytes", ""]),
        st.lists(
            st.builds(
                lambda a, b: f"{a}-{b}",
                st.integers(0, 10**20).map(str) | st.just(""),
                st.integers(0, 10**20).map(str) | st.just("") | TEXT,
            ),
            max_size=20,
        ),
    ),
)


@FUZZ
@given(RANGE, st.integers(0, 10**12))
def test_range_parser(header: str, size: int) -> None:
    try:
        ranges = parse_range(header, size)
    except RangeNotSatisfiable as exc:
        assert exc.size == size
        return
    for lo, hi in ranges or []:
        assert 0 <= lo <= hi < size


# ---- schedule loaders and importers (their code is not changed here) ---------------------------


@FUZZ
@given(DATA)
def test_schedule_from_data(data: Any) -> None:
    try:
        program_from_data(data if isinstance(data, dict) else {"event": data})
    except ScheduleError as exc:
        assert all(isinstance(p, str) for p in exc.problems)


@FUZZ
@given(DATA)
def test_schedule_yaml_file(tmp_path_factory: pytest.TempPathFactory, data: Any) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "event.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    program, errors, _ = check_program(path)
    assert (program is None) == bool(errors)
    assert all(e.startswith(str(path)) for e in errors)


PRETALX = st.fixed_dictionaries(
    {"schedule": st.fixed_dictionaries({"conference": DATA}, optional={"version": TEXT})}
)
CSV = st.lists(st.lists(TEXT | SCALAR.map(str), max_size=8).map(",".join), max_size=8).map(
    lambda rows: "\n".join(["title,start,end,room,speakers", *rows])
)
XML = st.lists(
    st.sampled_from(["<schedule>", "</schedule>", "<conference>", "</conference>", "<day>",
                     "</day>", "<room name=\"A\">", "</room>", "<event id=\"1\">", "</event>",
                     "<title>", "</title>", "<date>", "</date>", "<start>", "</start>",
                     "<duration>", "</duration>", "<!DOCTYPE x>", "&amp;"]) | TEXT,
    max_size=30,
).map("".join)  # fmt: skip


@FUZZ
@given(
    st.one_of(
        PRETALX.map(lambda d: ("schedule.json", json.dumps(d))),
        CSV.map(lambda t: ("schedule.csv", t)),
        XML.map(lambda t: ("schedule.xml", t)),
    ),
    st.sampled_from([None, "Asia/Seoul", "Not/AZone"]),
)
def test_schedule_importers(
    tmp_path_factory: pytest.TempPathFactory, source: tuple[str, str], zone: str | None
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / source[0]
    path.write_text(source[1], "utf-8", errors="surrogatepass")
    with contextlib.suppress(ScheduleError):  # a clear error is fine; anything else is not
        import_schedule(path, timezone=zone)


# ---- the admin cut body ------------------------------------------------------------------------


class CutOnly:
    def cut(self, session_id: str, request: CutRequest, source: str = "api") -> dict[str, Any]:
        return {"id": session_id, "start": str(request.start), "end": str(request.end)}


@pytest.fixture(scope="module")
def admin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    base = tmp_path_factory.mktemp("fuzz-app")
    conf = Settings(_env_file=None, data_dir=base, admin_token=TEST_TOKEN)  # type: ignore[call-arg, arg-type]
    app = create_app(conf, storage=MemoryStorage(), control=CutOnly())  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


CUT_VALUE = st.one_of(
    SCALAR,
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["0001-01-01T00:00:00", "9999-12-31T23:59:59+14:00", "2021-04-27T10:00",
                     "2021-02-30T10:00:00", "1e400", "NaN"]),
    st.floats(),
)  # fmt: skip
CUT_BODY = st.one_of(
    st.dictionaries(
        st.sampled_from(["start", "end", "start_offset_s", "end_offset_s"]) | TEXT,
        CUT_VALUE,
        max_size=5,
    ).map(lambda d: json.dumps(d, allow_nan=True)),
    TEXT,
    st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
)


@FUZZ
@given(CUT_BODY)
def test_admin_cut_bodies(admin: TestClient, body: str) -> None:
    r = admin.post(
        "/api/v1/admin/sessions/d1-talk/cut",
        content=body.encode("utf-8", "surrogatepass"),
        headers={"Authorization": f"Bearer {TEST_TOKEN}", "Content-Type": "application/json"},
    )
    assert r.status_code in (200, 400, 413, 422), r.text
    if r.status_code != 200:
        error = r.json()["error"]
        assert error["code"] and error["message"]


def test_fuzz_examples_setting_is_read() -> None:
    assert FUZZ.max_examples == int(os.environ.get("STREAMER_FUZZ_EXAMPLES", "200"))
    assert Path(__file__).parent.joinpath("..", "..", "scripts", "fuzz.sh").resolve().exists()
