"""The load generator: run as its own process (`python -m bench.load …`) so the server under
test never shares an interpreter with its client. It speaks plain HTTP/1.1 with keep-alive
over asyncio streams (pre-built request bytes, no client library), so a client request costs a
few microseconds and the server, not the client, is what gets measured.

Two modes, each printing one JSON object on standard output:
- `read`: N connections in a closed loop on one request for a bounded time (after a warm-up);
  throughput, p50, p99, and the first body (for the caller to check).
- `lifecycle`: create + acknowledge + resolve one incident after another, either through
  GraphQL or through the baseline's plain-SQL endpoints; paced to a rate (`--rate`, the steady
  write load) or as fast as `--concurrency` loops go (the lifecycle write benchmark).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import orjson

CREATE = """mutation($input: CreateIncidentInput!) { createIncident(input: $input) { id } }"""
ACKNOWLEDGE = """mutation($id: ID!) { acknowledgeIncident(id: $id) { status } }"""
RESOLVE = """mutation($id: ID!, $r: String!) { resolveIncident(id: $id, resolution: $r) {
  status } }"""


class Connection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def build_request(method: str, path: str, body: bytes | None, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


async def read_load(port: int, raw: bytes, concurrency: int, duration: float,
                    warmup: float) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    first_body: bytes | None = None
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration

    async def loop() -> None:
        nonlocal errors, first_body
        conn = Connection(port)
        await conn.open()
        try:
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                status, body = await conn.send(raw)
                t1 = time.perf_counter()
                if status != 200:
                    errors += 1
                if first_body is None:
                    first_body = body
                if measure_from <= t1 <= stop_at:  # completed inside the window
                    latencies.append(t1 - t0)
        finally:
            conn.close()

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    return {"requests": len(latencies), "rps": len(latencies) / duration,
            "p50_ms": _ms(percentile(latencies, 50)), "p99_ms": _ms(percentile(latencies, 99)),
            "errors": errors, "body": (first_body or b"").decode()}


class Lifecycle:
    """One incident's create → acknowledge → resolve, through GraphQL or the baseline's SQL."""

    def __init__(self, mode: str, token: str, service_id: str, assignee_id: str) -> None:
        self.mode = mode
        self.headers = {"Authorization": f"Bearer {token}"}
        self.service_id, self.assignee_id = service_id, assignee_id

    def _graphql(self, query: str, variables: dict[str, Any]) -> bytes:
        body = orjson.dumps({"query": query, "variables": variables})
        return build_request("POST", "/graphql", body, self.headers)

    async def run(self, conn: Connection, n: int) -> int:
        """Returns the number of mutations made (3)."""
        if self.mode == "graphql":
            status, body = await conn.send(self._graphql(CREATE, {"input": {
                "title": f"load {n}", "impact": "HIGH", "urgency": "LOW",
                "serviceId": self.service_id, "assigneeId": self.assignee_id}}))
            found = orjson.loads(body)
            if status != 200 or "errors" in found:
                raise RuntimeError(f"createIncident failed: {body[:300]!r}")
            incident = found["data"]["createIncident"]["id"]
            for raw in (self._graphql(ACKNOWLEDGE, {"id": incident}),
                        self._graphql(RESOLVE, {"id": incident, "r": "fixed"})):
                status, body = await conn.send(raw)
                if status != 200 or b'"errors"' in body:
                    raise RuntimeError(f"mutation failed: {body[:300]!r}")
            return 3
        body = orjson.dumps({"title": f"load {n}", "impact": "HIGH", "urgency": "LOW",
                             "serviceId": self.service_id, "assigneeId": self.assignee_id})
        status, answer = await conn.send(build_request("POST", "/sql/incidents", body,
                                                       self.headers))
        if status != 200:
            raise RuntimeError(f"plain SQL create failed: {answer[:300]!r}")
        incident = orjson.loads(answer)["id"]
        for step, extra in (("acknowledge", {}), ("resolve", {"resolution": "fixed"})):
            status, answer = await conn.send(build_request(
                "POST", f"/sql/incidents/{incident}/{step}", orjson.dumps(extra), self.headers))
            if status != 200:
                raise RuntimeError(f"plain SQL {step} failed: {answer[:300]!r}")
        return 3


async def lifecycle_load(port: int, lifecycle: Lifecycle, concurrency: int, duration: float,
                         warmup: float, rate: float | None) -> dict[str, Any]:
    """Closed loop (rate None) or paced at `rate` lifecycles per second in total."""
    mutations = 0
    latencies: list[float] = []
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration
    counter = iter(range(10**9))

    async def loop(index: int) -> None:
        nonlocal mutations
        conn = Connection(port)
        await conn.open()
        interval = concurrency / rate if rate else 0.0
        next_at = start + index * interval / concurrency
        try:
            while True:
                if rate:
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                    next_at += interval
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                made = await lifecycle.run(conn, next(counter))
                t1 = time.perf_counter()
                if measure_from <= t1 <= stop_at:
                    mutations += made
                    latencies.append(t1 - t0)
        finally:
            conn.close()

    await asyncio.gather(*(loop(i) for i in range(concurrency)))
    return {"lifecycles_per_s": len(latencies) / duration, "mutations_per_s": mutations / duration,
            "p50_ms": _ms(percentile(latencies, 50)), "p99_ms": _ms(percentile(latencies, 99))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load")
    parser.add_argument("mode", choices=["read", "lifecycle"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--token", default="")
    # read
    parser.add_argument("--method", default="POST")
    parser.add_argument("--path", default="/graphql")
    parser.add_argument("--body", default=None, help="request body (JSON text)")
    # lifecycle
    parser.add_argument("--via", choices=["graphql", "sql"], default="graphql")
    parser.add_argument("--rate", type=float, default=None, help="lifecycles per second")
    parser.add_argument("--service-id", default="")
    parser.add_argument("--assignee-id", default="")
    args = parser.parse_args(argv)
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    if args.mode == "read":
        raw = build_request(args.method, args.path,
                            args.body.encode() if args.body is not None else None, headers)
        result = asyncio.run(read_load(args.port, raw, args.concurrency, args.duration,
                                       args.warmup))
    else:
        lifecycle = Lifecycle(args.via, args.token, args.service_id, args.assignee_id)
        result = asyncio.run(lifecycle_load(args.port, lifecycle, args.concurrency,
                                            args.duration, args.warmup, args.rate))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
