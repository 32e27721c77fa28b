"""The fan-out load generator, run as its own process by bench/fanout.py: opens N WebSocket
subscribers against a URL and reports delivery times. It reads commands on stdin and answers
one JSON line each on stdout; it stops when stdin closes or its deadline passes.

  arm K        -> {"armed": true}; from now on count K messages per subscriber
  t0 NS        -> after all N*K arrived (or 60 s): latency percentiles against NS and the
                  time the last one arrived

It must cost less per message than the servers it measures, on the same cores: each
subscriber is a plain asyncio protocol around the websockets library's sans-I/O
`ClientProtocol` (handshake, framing, answering pings), with no task, queue or await per
message. (The library's asyncio client spends ~5x more per message here and was the
bottleneck of the measurement.) `--processes P` spreads the subscribers over P processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any, cast

from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

DEADLINE = 600.0  # seconds: the generator never outlives a stuck benchmark
PING = b'{"type":"ping"'
PONG = b'{"type":"pong"}'


class Subscribers:
    def __init__(self) -> None:
        self.arrivals: list[int] = []
        self.expected = 0
        self.done = asyncio.Event()

    def arrived(self) -> None:
        self.arrivals.append(time.monotonic_ns())
        if len(self.arrivals) >= self.expected > 0:
            self.done.set()


class Subscriber(asyncio.Protocol):
    """One WebSocket client: handshake, then (with `init`) connection_init, subscribe, and a
    ping whose pong says the subscription is in place; then every text frame is an arrival."""

    def __init__(self, url: str, protocol: str | None, init: dict[str, Any] | None,
                 query: str | None, state: Subscribers, ready: asyncio.Future[None]) -> None:
        self.conn = ClientProtocol(
            parse_uri(url), subprotocols=[Subprotocol(protocol)] if protocol else None,
            max_size=None)
        self.init = init
        self.query = query
        self.state = state
        self.ready = ready
        self.live = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.conn.send_request(self.conn.connect())
        self.flush()

    def flush(self) -> None:
        assert self.transport is not None
        data = self.conn.data_to_send()
        if data:
            self.transport.write(b"".join(data))

    def send(self, message: dict[str, Any]) -> None:
        self.conn.send_text(json.dumps(message).encode())

    def data_received(self, data: bytes) -> None:
        self.conn.receive_data(data)
        for event in self.conn.events_received():
            if self.live and isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    if bytes(event.data[:len(PING)]) == PING:
                        self.conn.send_text(PONG)
                    else:
                        self.state.arrived()
            elif isinstance(event, Response):
                if self.conn.handshake_exc is not None:
                    self.fail(self.conn.handshake_exc)
                elif self.init is None:
                    self.go_live()
                else:
                    self.send({"type": "connection_init", "payload": self.init})
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                kind = json.loads(event.data).get("type")
                if kind == "connection_ack":
                    self.send({"id": "1", "type": "subscribe", "payload": {"query": self.query}})
                    self.send({"type": "ping"})
                elif kind == "pong":
                    self.go_live()
        self.flush()

    def go_live(self) -> None:
        self.live = True
        if not self.ready.done():
            self.ready.set_result(None)

    def fail(self, exc: BaseException) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(exc or ConnectionError("closed before it was ready"))


def percentile(values: list[int], fraction: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def open_subscribers(args: argparse.Namespace, state: Subscribers) -> list[Subscriber]:
    loop = asyncio.get_running_loop()
    uri = parse_uri(args.url)
    init = {"authorization": f"Bearer {args.token}"} if args.token else None
    opened: list[Subscriber] = []
    for start in range(0, args.count, 250):  # stay under the listen backlog
        batch = []
        for _ in range(start, min(args.count, start + 250)):
            ready: asyncio.Future[None] = loop.create_future()
            batch.append(ready)
            _, subscriber = await loop.create_connection(
                lambda ready=ready: Subscriber(args.url, args.protocol, init, args.query, state,
                                               ready), uri.host, uri.port)
            opened.append(subscriber)
        await asyncio.wait_for(asyncio.gather(*batch), 60)
    return opened


async def serve_commands(args: argparse.Namespace) -> None:
    state = Subscribers()
    opened = await open_subscribers(args, state)
    print(json.dumps({"ready": len(opened)}), flush=True)
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
            try:
                await asyncio.wait_for(state.done.wait(), 60)
            except TimeoutError:
                pass
            # Raw arrival times: the parent (one of P processes) merges them.
            print(json.dumps({"arrivals": state.arrivals}), flush=True)
    for subscriber in opened:
        if subscriber.transport is not None:
            subscriber.transport.close()


def summarise(arrivals: list[int], t0: int) -> dict[str, float]:
    latencies = [t - t0 for t in arrivals] or [0]
    return {"delivered": len(arrivals), "p50_ms": percentile(latencies, 0.50) / 1e6,
            "p99_ms": percentile(latencies, 0.99) / 1e6, "last_ms": max(latencies) / 1e6}


def coordinate(args: argparse.Namespace, argv: list[str]) -> None:
    """P child processes with N/P subscribers each; commands go to all, answers are merged."""
    counts = [args.count // args.processes + (i < args.count % args.processes)
              for i in range(args.processes)]
    base = [a for a in argv if a]
    children = [subprocess.Popen(
        [sys.executable, "-m", "bench.fanout_clients", *base, "--count", str(c),
         "--processes", "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for c in counts]

    def ask(text: str | None) -> list[dict[str, Any]]:
        for child in children:
            assert child.stdin is not None
            if text is not None:
                child.stdin.write(text + "\n")
                child.stdin.flush()
        answers = []
        for child in children:
            assert child.stdout is not None
            line = child.stdout.readline()
            if not line:
                raise RuntimeError("a load-generator process stopped")
            answers.append(json.loads(line))
        return answers

    try:
        print(json.dumps({"ready": sum(a["ready"] for a in ask(None))}), flush=True)
        for command in sys.stdin:
            words = command.split()
            answers = ask(command.strip())
            if words[0] == "t0":
                arrivals = [t for a in answers for t in a["arrivals"]]
                print(json.dumps(summarise(arrivals, int(words[1]))), flush=True)
            else:
                print(json.dumps(answers[0]), flush=True)
    finally:
        for child in children:
            assert child.stdin is not None
            child.stdin.close()
        for child in children:
            child.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--protocol")
    parser.add_argument("--token")
    parser.add_argument("--query")
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    if args.processes > 1 or os.environ.get("TOCSIN_FANOUT_CHILD") is None:
        # Even one process goes through the coordinator: it summarises the raw arrivals.
        os.environ["TOCSIN_FANOUT_CHILD"] = "1"
        rest = []
        skip = False
        for word in sys.argv[1:]:
            if skip:
                skip = False
            elif word in ("--count", "--processes"):
                skip = True
            else:
                rest.append(word)
        coordinate(args, rest)
        return
    asyncio.run(asyncio.wait_for(serve_commands(args), DEADLINE))


if __name__ == "__main__":
    try:
        main()
    except (TimeoutError, KeyboardInterrupt):
        sys.exit(1)
