"""The API over HTTP, each figure side by side with a bare baseline in the same run.

For each database (SQLite; PostgreSQL when TOCSIN_BENCH_POSTGRES_URL is set) it seeds bench
databases (bench/seed.py), starts Tocsin and the baseline (bench/baseline.py) as separate
uvicorn processes on 127.0.0.1 (bench/serve.py), and drives them from a separate load process
(bench/load.py):
- list read: `incidents(first: 50)` with service, assignee, priority, status and slaTimers,
  idle and under a steady write load of lifecycle mutations (through GraphQL for Tocsin,
  through plain SQL for the baseline);
- the same read at 10 and 100 items, and at 1k / 100k stored incidents (1M with
  TOCSIN_BENCH_FULL=1): page time must not grow with what is stored;
- lifecycle write: createIncident + acknowledge + resolve through GraphQL against the same
  rows, events and outbox rows written in plain SQL;
- once, on SQLite: the event loop's tail latency at saturation, uvloop against asyncio.
Before measuring it checks that both servers answer the same JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from bench import seed as seeding
from bench.load import Connection, build_request

QUERY = """query($first: Int) { incidents(first: $first) { edges { cursor node {
  id reference title status priority createdAt service { name } assignee { name }
  slaTimers { kind state dueAt remainingSeconds } } } pageInfo { hasNextPage endCursor } } }"""

DURATION = float(os.environ.get("TOCSIN_BENCH_SECONDS", "4"))
WARMUP = 1.0
READERS = 8  # connections of the read load
WRITE_RATE = 8.0  # lifecycles per second = 24 mutations per second
WRITERS = 4  # connections of the lifecycle write benchmark
SATURATION = 32  # connections for the event loop comparison


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def server(app: str, url: str, loop: str = "asyncio") -> AsyncIterator[int]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.serve", app, "--port", str(port), "--database-url", url,
        "--loop", loop, stdout=asyncio.subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.returncode is not None:
                raise RuntimeError(f"the {app} server exited with {proc.returncode}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        yield port
    finally:
        if proc.returncode is None:
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), timeout=10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


async def load(*args: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.load", *args, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"bench.load {' '.join(args[:1])} failed ({proc.returncode})")
    result: dict[str, Any] = orjson.loads(out)
    return result


def read_args(port: int, seeded: seeding.Seeded, first: int, *, graphql: bool,
              concurrency: int = READERS) -> list[str]:
    common = ["read", "--port", str(port), "--token", seeded.token, "--concurrency",
              str(concurrency), "--duration", str(DURATION), "--warmup", str(WARMUP)]
    if graphql:
        body = orjson.dumps({"query": QUERY, "variables": {"first": first}}).decode()
        return [*common, "--method", "POST", "--path", "/graphql", "--body", body]
    return [*common, "--method", "GET", "--path", f"/incidents?first={first}"]


def writer_args(port: int, seeded: seeding.Seeded, *, graphql: bool, rate: float | None,
                concurrency: int, duration: float, warmup: float) -> list[str]:
    args = ["lifecycle", "--port", str(port), "--token", seeded.token, "--via",
            "graphql" if graphql else "sql", "--service-id", seeded.service_id,
            "--assignee-id", seeded.assignee_id, "--concurrency", str(concurrency),
            "--duration", str(duration), "--warmup", str(warmup)]
    return [*args, "--rate", str(rate)] if rate else args


def _without_clock(body: Any) -> Any:
    """The answer minus what moves with the clock (remaining seconds)."""
    for edge in body["data"]["incidents"]["edges"]:
        for timer in edge["node"]["slaTimers"]:
            timer.pop("remainingSeconds")
    return body


async def check_same_json(ours: int, base: int, seeded: seeding.Seeded) -> None:
    headers = {"Authorization": f"Bearer {seeded.token}"}
    a, b = Connection(ours), Connection(base)
    await a.open()
    await b.open()
    try:
        body = orjson.dumps({"query": QUERY, "variables": {"first": 50}})
        _, graphql = await a.send(build_request("POST", "/graphql", body, headers))
        _, bare = await b.send(build_request("GET", "/incidents?first=50", None, headers))
    finally:
        a.close()
        b.close()
    if _without_clock(orjson.loads(graphql)) != _without_clock(orjson.loads(bare)):
        raise RuntimeError(f"the baseline answers other JSON than GraphQL:\n{graphql[:600]!r}"
                           f"\n{bare[:600]!r}")


def row(name: str, ours: dict[str, Any], base: dict[str, Any], key: str = "rps",
        unit: str = "req/s (baseline: bare Starlette + same SQL)",
        ratio: float | None = None) -> dict[str, Any]:
    figure, baseline = ours[key], base[key]
    if ratio is None:
        ratio = figure / baseline if figure is not None and baseline else None
    return {"name": name, "figure": figure, "baseline": baseline, "ratio": ratio, "unit": unit,
            "p50_ms": ours.get("p50_ms"), "p99_ms": ours.get("p99_ms"),
            "baseline_p50_ms": base.get("p50_ms"), "baseline_p99_ms": base.get("p99_ms")}


def progress(text: str) -> None:
    print(f"  … {text}", file=sys.stderr, flush=True)


async def pair(ours_args: list[str], base_args: list[str]) -> tuple[dict[str, Any],
                                                                   dict[str, Any]]:
    """Baseline, then Tocsin, back to back."""
    progress(" ".join(ours_args[:1] + ours_args[-1:])[:80])
    base = await load(*base_args)
    ours = await load(*ours_args)
    for result in (base, ours):
        if result.get("errors"):
            raise RuntimeError(f"{result['errors']} requests failed: {result.get('body')!r:.300}")
    return ours, base


async def under_writes(read: list[str], write: list[str]) -> tuple[dict[str, Any],
                                                                   dict[str, Any]]:
    writer = asyncio.ensure_future(load(*write))
    await asyncio.sleep(0.5)
    reader = await load(*read)
    return reader, await writer


async def measure_backend(label: str, urls: Callable[[], Awaitable[str]],
                          compare_loops: bool) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    stored_counts = [1_000, 100_000] + ([1_000_000] if os.environ.get("TOCSIN_BENCH_FULL") == "1"
                                        else [])
    seeded = {n: await seeding.seed(await urls(), n) for n in stored_counts}
    small = seeded[1_000]
    async with server("tocsin", small.url) as ours, server("baseline", small.url) as base:
        await check_same_json(ours, base, small)
        o, b = await pair(read_args(ours, small, 50, graphql=True),
                          read_args(base, small, 50, graphql=False))
        rows.append(row(f"list read 50, idle, {label}", o, b))
        for first in (10, 100):
            o, b = await pair(read_args(ours, small, first, graphql=True),
                              read_args(base, small, first, graphql=False))
            rows.append(row(f"list read {first} items, {label}", o, b))
        span = DURATION + WARMUP + 1.0
        ow = writer_args(ours, small, graphql=True, rate=WRITE_RATE, concurrency=2,
                         duration=span, warmup=0.0)
        bw = writer_args(base, small, graphql=False, rate=WRITE_RATE, concurrency=2,
                         duration=span, warmup=0.0)
        b, bwrote = await under_writes(read_args(base, small, 50, graphql=False), bw)
        o, owrote = await under_writes(read_args(ours, small, 50, graphql=True), ow)
        rows.append(row(f"list read 50, under {owrote['mutations_per_s']:.0f} mutations/s "
                        f"(baseline {bwrote['mutations_per_s']:.0f}), {label}", o, b))
        o, b = await pair(
            writer_args(ours, small, graphql=True, rate=None, concurrency=WRITERS,
                        duration=DURATION, warmup=WARMUP),
            writer_args(base, small, graphql=False, rate=None, concurrency=WRITERS,
                        duration=DURATION, warmup=WARMUP))
        rows.append(row(f"lifecycle write (create+ack+resolve), {label}", o, b,
                        key="mutations_per_s",
                        unit="mutations/s (baseline: the same rows in plain SQL)"))
    pages: dict[int, dict[str, Any]] = {}
    for n in stored_counts:
        db = seeded[n]
        async with server("tocsin", db.url) as ours, server("baseline", db.url) as base:
            o, b = await pair(read_args(ours, db, 50, graphql=True),
                              read_args(base, db, 50, graphql=False))
        pages[n] = o
        rows.append(row(f"list read 50, {n:,} stored, {label}", o, b))
    for n in stored_counts[1:]:
        rows.append({"name": f"page time {n:,} vs 1,000 stored, {label}",
                     "figure": pages[n]["p50_ms"], "baseline": pages[1_000]["p50_ms"],
                     "ratio": pages[n]["p50_ms"] / pages[1_000]["p50_ms"],
                     "unit": "ms p50 (target: ratio 0.8-1.2)"})
    if compare_loops:
        async with server("tocsin", small.url, "uvloop") as uv, \
                server("tocsin", small.url, "asyncio") as aio:
            u, a = await pair(read_args(uv, small, 50, graphql=True, concurrency=SATURATION),
                              read_args(aio, small, 50, graphql=True, concurrency=SATURATION))
        rows.append(row(f"p99 at saturation ({SATURATION} conns), uvloop vs asyncio, {label}",
                        u, a, key="p99_ms", unit="ms p99 (baseline: asyncio loop)"))
        rows.append(row(f"throughput at saturation, uvloop vs asyncio, {label}", u, a,
                        unit="req/s (baseline: asyncio loop)"))
    return rows


async def run() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        made = iter(range(100))

        async def sqlite_url() -> str:
            return f"sqlite://{Path(tmp) / f'api-{next(made)}.db'}"

        rows += await measure_backend("SQLite", sqlite_url, compare_loops=True)
    base = seeding.postgres_base()
    if not base:
        rows.append({"name": "PostgreSQL: skipped (set TOCSIN_BENCH_POSTGRES_URL)",
                     "figure": None, "baseline": None, "ratio": None, "unit": ""})
        return rows
    created: list[str] = []

    async def postgres_url() -> str:
        name, url = await seeding.create_postgres_database(base)
        created.append(name)
        return url

    try:
        rows += await measure_backend("PostgreSQL", postgres_url, compare_loops=False)
    finally:
        for name in created:
            await seeding.drop_postgres_database(base, name)
    return rows
