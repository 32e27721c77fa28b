"""Fan-out: one event to N WebSocket subscribers of `events`, against a real `tocsin serve`,
with the subscribers held by a separate load-generator process (bench/fanout_clients.py).
The baseline is a bare `websockets` server broadcasting pre-rendered bytes of the same size
to the same load generator (bench/fanout_baseline.py), measured in the same run.

N is 1,000 (10,000 with TOCSIN_BENCH_FULL=1). Figures: deliveries/s over a burst of events,
p99 latency of one event to all (from just before the triggering mutation, or control
message, to each arrival), server CPU per delivered message (the server process's user+system
time over the burst) and resident memory per idle subscriber.

The load generator shares the machine's cores with the server, so it is built to cost less per
message than either server (sans-I/O clients, no task per message): with the websockets
asyncio client it was the bottleneck, and both figures mostly measured it. The servers' CPU
per delivery is read from /proc and does not depend on it.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
QUERY = ('subscription { events(types: ["incident.note_added"]) '
         "{ sequence type note incident { reference status } } }")
FRAME = ('{"id":"1","type":"next","payload":{"data":{"events":{"sequence":"1234",'
         '"type":"incident.note_added","note":"bench note 12","incident":'
         '{"reference":"INC-1","status":"NEW"}}}}}')
BURST = 20
# Load-generator processes; one keeps up with both servers here (see bench/fanout_clients.py).
PROCS = ("--processes", os.environ.get("TOCSIN_BENCH_FANOUT_PROCESSES", "1"))
SINGLE_ROUNDS = 5
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def resident_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class LoadGenerator:
    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.fanout_clients", *args], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the load generator stopped")
        return json.loads(line)  # type: ignore[no-any-return]

    def command(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


async def measure(load: LoadGenerator, server_pid: int, fire: Any) -> dict[str, float]:
    """p99 of single events, then a burst: deliveries/s and server CPU per delivery."""
    singles: list[float] = []
    for _ in range(SINGLE_ROUNDS):
        load.command("arm 1")
        load.read()
        t0 = time.monotonic_ns()
        await fire(1)
        load.command(f"t0 {t0}")
        singles.append(load.read()["p99_ms"])
    load.command(f"arm {BURST}")
    load.read()
    cpu0 = cpu_seconds(server_pid)
    t0 = time.monotonic_ns()
    await fire(BURST)
    load.command(f"t0 {t0}")
    burst = load.read()
    cpu1 = cpu_seconds(server_pid)
    delivered = burst["delivered"]
    return {"p99_ms": sorted(singles)[len(singles) // 2],
            "per_second": delivered / (burst["last_ms"] / 1000),
            "cpu_us": (cpu1 - cpu0) * 1e6 / max(delivered, 1),
            "complete": float(delivered)}


async def measure_tocsin(n: int, tmp: Path) -> dict[str, float]:
    port = free_port()
    env = {**os.environ, "TOCSIN_DATABASE_URL": f"sqlite://{tmp / 'bench.db'}",
           "TOCSIN_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT),
           "TOCSIN_WS_MAX_SUBSCRIPTIONS": "10", "TOCSIN_BROKER_URL": "memory://",
           # every simulated subscriber comes from 127.0.0.1 with one token
           "TOCSIN_RATE_LIMIT_PER_ADDRESS": "0", "TOCSIN_RATE_LIMIT_PER_TOKEN": "0"}
    out = tmp / "serve.out"
    server = subprocess.Popen(  # noqa: ASYNC220 (the bench waits on its peers on purpose)
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
                              cwd=tmp, env=env, stdout=out.open("w"),
                              stderr=(tmp / "serve.err").open("w"))
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            for _ in range(300):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            token = out.read_text().strip()
            headers = {"authorization": f"Bearer {token}"}

            async def call(query: str, variables: dict[str, Any]) -> dict[str, Any]:
                body = (await http.post("/graphql", json={"query": query,
                                                          "variables": variables},
                                        headers=headers)).json()
                assert not body.get("errors"), body
                return body["data"]  # type: ignore[no-any-return]

            incident = (await call("""mutation { createIncident(input: {title: "bench",
                impact: LOW, urgency: LOW}) { id } }""", {}))["createIncident"]["id"]
            notes = [0]

            async def fire(count: int) -> None:
                for _ in range(count):
                    notes[0] += 1
                    await call("mutation($id: ID!, $n: String!) { addIncidentNote(id: $id, "
                               "note: $n) { sequence } }", {"id": incident,
                                                            "n": f"bench note {notes[0]}"})

            await asyncio.sleep(1)
            idle = resident_kib(server.pid)
            load = LoadGenerator("--url", f"ws://127.0.0.1:{port}/graphql", "--count", str(n),
                                 *PROCS, "--protocol", "graphql-transport-ws", "--token", token,
                                 "--query", QUERY)
            try:
                load.read()
                await asyncio.sleep(1)
                figures = await measure(load, server.pid, fire)
                figures["memory_kib"] = (resident_kib(server.pid) - idle) / n
            finally:
                load.stop()
            return figures
    finally:
        server.terminate()
        server.wait(timeout=30)


async def measure_baseline(n: int) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-m", "bench.fanout_baseline", "--port",
                               str(port)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        server.stdout.readline()
        idle = resident_kib(server.pid)
        load = LoadGenerator("--url", f"ws://127.0.0.1:{port}/", "--count", str(n), *PROCS)
        try:
            load.read()
            await asyncio.sleep(1)
            async with websockets.connect(f"ws://127.0.0.1:{port}/control") as control:

                async def fire(count: int) -> None:
                    await control.send(f"go {count} {FRAME}")

                figures = await measure(load, server.pid, fire)
            figures["memory_kib"] = (resident_kib(server.pid) - idle) / n
        finally:
            load.stop()
        return figures
    finally:
        server.terminate()
        server.wait(timeout=30)


async def run() -> list[dict[str, Any]]:
    n = 10_000 if os.environ.get("TOCSIN_BENCH_FULL") == "1" else 1_000
    with tempfile.TemporaryDirectory() as tmp:
        ours = await measure_tocsin(n, Path(tmp))
    bare = await measure_baseline(n)
    label = f"fan-out to {n:,} subscribers"
    return [
        {"name": f"{label}: deliveries/s", "figure": ours["per_second"],
         "baseline": bare["per_second"], "ratio": ours["per_second"] / bare["per_second"],
         "unit": "deliveries/s (baseline: bare websockets broadcast of pre-rendered bytes)"},
        {"name": f"{label}: p99 latency of one event", "figure": ours["p99_ms"],
         "baseline": bare["p99_ms"], "ratio": ours["p99_ms"] / bare["p99_ms"],
         "unit": "ms, lower is better (ours includes the triggering mutation)"},
        {"name": f"{label}: server CPU per delivery", "figure": ours["cpu_us"],
         "baseline": bare["cpu_us"], "ratio": ours["cpu_us"] / bare["cpu_us"],
         "unit": "µs, lower is better"},
        {"name": f"{label}: memory per idle subscriber", "figure": ours["memory_kib"],
         "baseline": bare["memory_kib"], "ratio": ours["memory_kib"] / bare["memory_kib"],
         "unit": "KiB resident, lower is better"},
    ]


if __name__ == "__main__":
    for row in asyncio.run(run()):
        print(row)
