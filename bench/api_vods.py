"""GET /api/v1/vods with 5,000 VODs in the catalog, against the same JSON as a static file.

One uvicorn worker serves both: the API (first page, and the same request with If-None-Match)
and the identical bytes through Starlette's StaticFiles (the baseline, with and without
If-None-Match). The load generator (wrk if installed, else a small asyncio client) runs in
another process on loopback. Each scenario runs ROUNDS times, interleaved; medians reported.

    .venv/bin/python bench/api_vods.py [--vods 5000] [--duration 4] [--connections 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ROUNDS = 3


def build_catalog(root: Path, vods: int, events: int = 5) -> None:
    """``events.json`` + ``{event}/index.json`` in the published format, ``vods`` items."""
    from streamer.publish.local import LocalStorage
    from streamer.timeutil import iso
    from streamer.vod import VodRecord, dump, vod_id

    storage = LocalStorage(root)
    seoul = timedelta(hours=9)
    tracks = ["Keynote", "Policy", "Industry", "Startups", "Global"]
    per_event = vods // events
    summaries = []
    for e in range(events):
        event_id = f"forum-{2021 + 2 * e}"
        event = {
            "id": event_id,
            "title": {
                "ko": f"세종 스마트시티 국제포럼 {2021 + 2 * e}",
                "en": f"Forum {2021 + 2 * e}",
            },
            "timezone": "Asia/Seoul",
        }
        items = []
        base = datetime(2021 + 2 * e, 4, 27, 0, 0, tzinfo=UTC) - seoul
        for n in range(per_event):
            start = base + timedelta(days=n // 40, minutes=9 * 60 + (n % 40) * 15)
            end = start + timedelta(minutes=14)
            session_id = f"s{n:04d}"
            record = VodRecord.model_validate(
                {
                    "id": vod_id(event_id, session_id),
                    "event_id": event_id,
                    "session_id": session_id,
                    "broadcast_id": f"day{n // 40 + 1}",
                    "title": {"ko": f"세션 {n}: 스마트시티와 시민", "en": f"Session {n}: cities"},
                    "speakers": [{"name": f"Speaker {n}", "affiliation": "Sejong"}],
                    "track": tracks[n % len(tracks)],
                    "language": "ko" if n % 3 else "en",
                    "start": iso(start),
                    "end": iso(end),
                    "scheduled_start": iso(start),
                    "scheduled_end": iso(end),
                    "duration_s": 840.0,
                    "media_url": f"/media/{event_id}/{session_id}.mp4",
                    "thumbnail_url": f"/media/{event_id}/{session_id}.jpg",
                    "size_bytes": 123456789,
                    "sha256": f"{n:064x}",
                    "source_url": "https://www.youtube.com/watch?v=bench",
                    "published_at": iso(end + timedelta(hours=1)),
                    "updated_at": iso(end + timedelta(hours=1)),
                    "version": 1,
                }
            )
            items.append(dump(record))
        index = {"event": event, "items": items, "generated_at": iso(datetime.now(UTC))}
        storage.put_bytes(
            f"{event_id}/index.json",
            json.dumps(index, ensure_ascii=False, indent=1).encode(),
            content_type="application/json",
            cache_control="public, max-age=60",
        )
        summaries.append(
            {
                "id": event_id,
                "title": event["title"],
                "timezone": "Asia/Seoul",
                "index_url": f"/media/{event_id}/index.json",
                "count": len(items),
                "updated_at": items[-1]["updated_at"],
            }
        )
    doc = {"events": summaries, "generated_at": iso(datetime.now(UTC))}
    storage.put_bytes(
        "events.json",
        json.dumps(doc, ensure_ascii=False).encode(),
        content_type="application/json",
        cache_control="public, max-age=60",
    )


def serve(root: Path, static: Path, port: int) -> None:
    """The server process: the real app plus a StaticFiles mount for the baseline."""
    import uvicorn
    from fastapi.staticfiles import StaticFiles

    from streamer.api.app import create_app
    from streamer.config import Settings
    from streamer.publish.local import LocalStorage

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=root.parent / "data",
        admin_token="bench-admin-token-0123456789abcdefghijkl",  # type: ignore[arg-type]
    )
    app = create_app(settings, storage=LocalStorage(root))
    app.mount("/bench-static", StaticFiles(directory=static), name="bench-static")
    uvicorn.run(app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- load generation ---------------------------------------------------------------------------


VARY_LUA = """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, wrk.path .. "?n=" .. counter)
end
"""


def run_wrk(
    url: str, headers: dict[str, str], duration: float, conns: int, script: Path | None = None
) -> dict[str, float]:
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(duration))}s", "--latency"]
    if script is not None:
        cmd += ["-s", str(script)]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    if non2xx or errors:
        raise RuntimeError(f"wrk saw errors:\n{out}")
    return {"rps": rps, "p99_ms": p99}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


async def _client(port: int, request: bytes, until: float, lat: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            if status not in (200, 304):
                raise RuntimeError(f"status {status}")
            m = re.search(rb"(?i)content-length:\s*(\d+)", head)
            if m:
                await reader.readexactly(int(m.group(1)))
            lat.append(time.perf_counter() - t0)
    finally:
        writer.close()


def run_asyncio(
    port: int, path: str, headers: dict[str, str], duration: float, conns: int
) -> dict[str, float]:
    """The fallback load generator (when wrk is missing), run in a child process."""
    code = f"""
import asyncio, json, sys, time
sys.path.insert(0, {str(Path(__file__).parent)!r})
from api_vods import _client
lat = []
req = {_request(path, headers)!r}
until = time.perf_counter() + {duration}
async def main():
    await asyncio.gather(*[_client({port}, req, until, lat) for _ in range({conns})])
start = time.perf_counter(); asyncio.run(main()); took = time.perf_counter() - start
lat.sort()
print(json.dumps({{"rps": len(lat) / took, "p99_ms": lat[int(len(lat) * 0.99)] * 1000}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout)
    return result


def _request(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vods", type=int, default=5000)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--load", choices=["auto", "wrk", "asyncio"], default="auto")
    parser.add_argument(
        "--serve", nargs=3, metavar=("ROOT", "STATIC", "PORT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[0]), Path(args.serve[1]), int(args.serve[2]))
        return

    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    root, static = work / "public", work / "static"
    static.mkdir(parents=True)
    t0 = time.perf_counter()
    build_catalog(root, args.vods)
    print(f"catalog: {args.vods} VODs written in {time.perf_counter() - t0:.1f}s")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(root), str(static), str(port)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        plain = {"Accept-Encoding": "identity"}
        api = httpx.get(f"{base}/api/v1/vods", headers=plain)
        api.raise_for_status()
        assert len(api.json()["items"]) == 50 and api.json()["next"]
        (static / "vods.json").write_bytes(api.content)
        st = httpx.get(f"{base}/bench-static/vods.json", headers=plain)
        assert st.content == api.content, "the baseline must serve the same bytes"
        print(
            f"first page: {len(api.content)} bytes; api ETag {api.headers['etag']}, "
            f"static ETag {st.headers['etag']}"
        )
        scenarios: dict[str, tuple[str, dict[str, str]]] = {
            "api 200": ("/api/v1/vods", plain),
            "static 200": ("/bench-static/vods.json", plain),
            "api 304": ("/api/v1/vods", {**plain, "If-None-Match": api.headers["etag"]}),
            "static 304": (
                "/bench-static/vods.json",
                {**plain, "If-None-Match": st.headers["etag"]},
            ),
        }
        for name, (path, headers) in scenarios.items():
            status = httpx.get(base + path, headers=headers).status_code
            assert status == int(name[-3:]), (name, status)
        use_wrk = args.load == "wrk" or (args.load == "auto" and shutil.which("wrk") is not None)
        print(
            f"load generator: {'wrk' if use_wrk else 'asyncio client'}, "
            f"{args.connections} connections, {args.duration}s per run, {ROUNDS} rounds"
        )
        vary = work / "vary.lua"
        vary.write_text(VARY_LUA)
        if use_wrk:
            # every request a new query string: validation, routing and the filter/page memo,
            # without the raw-request cache in front of the router
            scenarios["api 200 routed"] = ("/api/v1/vods", plain)
        results: dict[str, list[dict[str, float]]] = {k: [] for k in scenarios}
        for _ in range(ROUNDS):
            for name, (path, headers) in scenarios.items():
                if use_wrk:
                    script = vary if name.endswith("routed") else None
                    r = run_wrk(base + path, headers, args.duration, args.connections, script)
                else:
                    r = run_asyncio(port, path, headers, args.duration, args.connections)
                results[name].append(r)
                print(f"  {name:<14} {r['rps']:9.0f} req/s  p99 {r['p99_ms']:7.2f} ms")
        med = {
            k: {m: statistics.median(x[m] for x in v) for m in ("rps", "p99_ms")}
            for k, v in results.items()
        }
        print("\n| scenario | req/s (median of 3) | p99 ms (median of 3) |")
        print("|---|---:|---:|")
        for k, v in med.items():
            print(f"| {k} | {v['rps']:.0f} | {v['p99_ms']:.2f} |")
        r200 = med["api 200"]["rps"] / med["static 200"]["rps"]
        r304 = med["api 304"]["rps"] / med["static 304"]["rps"]
        r304_vs_static = med["api 304"]["rps"] / med["static 200"]["rps"]
        print(f"\nratio api/static, 200: {r200:.2f}x (goal >= 0.8)")
        if "api 200 routed" in med:
            routed = med["api 200 routed"]["rps"] / med["static 200"]["rps"]
            print(f"ratio api (routed, no response cache)/static, 200: {routed:.2f}x")
        print(
            f"ratio api/static, 304: {r304:.2f}x; api 304 vs static 200: {r304_vs_static:.2f}x "
            "(goal >= 1.0)"
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
