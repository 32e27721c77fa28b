"""The fan-out baseline, run as its own process: a bare `websockets` server that broadcasts
pre-rendered bytes. Subscribers connect to /; a message "go K FRAME" on /control broadcasts
FRAME K times to every subscriber (websockets.broadcast: no per-subscriber work at all)."""

from __future__ import annotations

import argparse
import asyncio

import websockets
from websockets.asyncio.server import ServerConnection, broadcast, serve

DEADLINE = 600.0


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    subscribers: set[ServerConnection] = set()

    async def handler(connection: ServerConnection) -> None:
        if connection.request is not None and connection.request.path == "/control":
            async for message in connection:
                _, count, frame = str(message).split(" ", 2)
                for _ in range(int(count)):
                    broadcast(subscribers, frame)
                    await asyncio.sleep(0)
            return
        subscribers.add(connection)
        try:
            await connection.wait_closed()
        finally:
            subscribers.discard(connection)

    async with serve(handler, "127.0.0.1", args.port, compression=None, backlog=4096,
                     ping_interval=None):
        print("listening", flush=True)
        await asyncio.sleep(DEADLINE)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except (KeyboardInterrupt, websockets.ConnectionClosed):
        pass
