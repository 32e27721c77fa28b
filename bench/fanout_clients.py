"""The fan-out load generator, run as its own process by bench/fanout.py: opens N WebSocket
subscribers against a URL and reports delivery times. It reads commands on stdin and answers
one JSON line each on stdout; it stops when stdin closes or its deadline passes.

  arm K        -> {"armed": true}; from now on count K messages per subscriber
  t0 NS        -> after all N*K arrived (or 60 s): latency percentiles against NS and the
                  time the last one arrived
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import websockets

DEADLINE = 600.0  # seconds: the generator never outlives a stuck benchmark


class Subscribers:
    def __init__(self) -> None:
        self.arrivals: list[int] = []
        self.expected = 0
        self.done = asyncio.Event()

    def arrived(self) -> None:
        self.arrivals.append(time.monotonic_ns())
        if len(self.arrivals) >= self.expected > 0:
            self.done.set()


async def subscriber(url: str, protocol: str | None, init: dict[str, Any] | None,
                     query: str | None, state: Subscribers, ready: list[int]) -> None:
    options: dict[str, Any] = {"compression": None, "max_size": None, "open_timeout": 60,
                               "ping_interval": None}
    if protocol:
        options["subprotocols"] = [protocol]
    async with websockets.connect(url, **options) as socket:
        if init is not None:
            await socket.send(json.dumps({"type": "connection_init", "payload": init}))
            await socket.recv()
            await socket.send(json.dumps({"id": "1", "type": "subscribe",
                                          "payload": {"query": query}}))
            await socket.send(json.dumps({"type": "ping"}))
            while json.loads(await socket.recv()).get("type") != "pong":
                pass
        ready[0] += 1
        async for message in socket:
            if isinstance(message, str) and message.startswith('{"type":"ping"'):
                await socket.send('{"type":"pong"}')
                continue
            state.arrived()


def percentile(values: list[int], fraction: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--protocol")
    parser.add_argument("--token")
    parser.add_argument("--query")
    args = parser.parse_args()
    init = {"authorization": f"Bearer {args.token}"} if args.token else None
    state = Subscribers()
    ready = [0]
    tasks: list[asyncio.Task[None]] = []
    for start in range(0, args.count, 250):  # stay under the listen backlog
        tasks += [asyncio.create_task(subscriber(args.url, args.protocol, init, args.query,
                                                 state, ready))
                  for _ in range(start, min(args.count, start + 250))]
        while ready[0] < len(tasks):
            failed = [t for t in tasks if t.done() and t.exception()]
            if failed:
                raise failed[0].exception()  # type: ignore[misc]
            await asyncio.sleep(0.01)
    print(json.dumps({"ready": ready[0]}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().split():
        if line[0] == "arm":
            state.arrivals = []
            state.expected = int(line[1]) * args.count
            state.done.clear()
            print(json.dumps({"armed": True}), flush=True)
        elif line[0] == "t0":
            t0 = int(line[1])
            try:
                await asyncio.wait_for(state.done.wait(), 60)
            except TimeoutError:
                pass
            latencies = [t - t0 for t in state.arrivals] or [0]
            print(json.dumps({
                "delivered": len(state.arrivals),
                "p50_ms": percentile(latencies, 0.50) / 1e6,
                "p99_ms": percentile(latencies, 0.99) / 1e6,
                "last_ms": max(latencies) / 1e6,
            }), flush=True)
    for task in tasks:
        task.cancel()


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), DEADLINE))
    except (TimeoutError, KeyboardInterrupt):
        sys.exit(1)
