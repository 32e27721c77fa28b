"""Direct writes to uvicorn's sansio WebSocket protocol (app/live/direct.py), against a real
uvicorn and a real websockets client: the protocol object is found only when its frames are
exactly what we serialise, direct frames arrive intact and in order with ASGI ones, and the
write is refused once the connection closes or the socket's buffer is over its high-water
mark. The server-level behaviours (ordering, the slow-consumer close) are checked again with
direct writes switched off, so both paths stay covered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
import websockets

from app.live import direct
from tests.fixtures_server import RunningServer, free_port, start_server, stop_server
from tests.live.conftest import RawClient, add_note, create_incident
from tests.live.test_protocol_limits import check_slow_consumer_is_closed

Probe = Callable[[Any, Any, Any], Any]


@asynccontextmanager
async def serve(app: Probe, **config: Any) -> AsyncIterator[str]:
    # The WebSocket settings of `tocsin serve` (app/cli.py): ws="auto" picks websockets-sansio.
    options: dict[str, Any] = {"ws": "auto", "ws_per_message_deflate": False, **config}
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off",
                                           log_level="warning", **options))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        await task


def probe_app(found: list[Any], wrap_receive: bool = False) -> Probe:
    """Accepts, looks for the protocol, then sends "asgi 1", a direct frame "direct 2" when
    it may, and "asgi 3"; then waits for the client to go."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if wrap_receive:
            inner = receive

            async def receive() -> Any:
                return await inner()
        await receive()
        await send({"type": "websocket.accept"})
        protocol = direct.find(receive)
        found.append(protocol)
        await send({"type": "websocket.send", "text": "asgi 1"})
        if protocol is not None and direct.writable(protocol):
            protocol.transport.write(direct.text_frame("direct 2 ü"))
        await send({"type": "websocket.send", "text": "asgi 3"})
        while (await receive())["type"] != "websocket.disconnect":
            pass
        found.append(protocol is not None and direct.writable(protocol))

    return app


async def test_frames_written_directly_arrive_in_order_with_asgi_ones():
    found: list[Any] = []
    async with serve(probe_app(found)) as url:
        async with websockets.connect(url, compression=None) as socket:
            assert [await socket.recv() for _ in range(3)] == ["asgi 1", "direct 2 ü", "asgi 3"]
        await asyncio.sleep(0.1)
    assert found[0] is not None
    assert found[1] is False  # closed: no more direct writes


@pytest.mark.parametrize("setting", [
    {"ws_per_message_deflate": True},  # negotiated compression changes the bytes
    pytest.param({"ws": "websockets"},  # uvicorn's legacy implementation: only the ASGI path
                 marks=[pytest.mark.filterwarnings("ignore::DeprecationWarning"),
                        pytest.mark.filterwarnings("ignore:The `websockets` implementation")]),
])
async def test_no_direct_writer_where_its_frames_would_be_wrong(setting: dict[str, Any]):
    found: list[Any] = []
    async with serve(probe_app(found), **setting) as url:
        async with websockets.connect(url) as socket:
            assert [await socket.recv() for _ in range(2)] == ["asgi 1", "asgi 3"]
    assert found[0] is None


async def test_no_direct_writer_behind_a_wrapped_receive():
    found: list[Any] = []
    async with serve(probe_app(found, wrap_receive=True)) as url:
        async with websockets.connect(url, compression=None) as socket:
            assert [await socket.recv() for _ in range(2)] == ["asgi 1", "asgi 3"]
    assert found[0] is None


async def test_not_writable_once_the_buffer_is_over_its_high_water_mark():
    result: list[int] = []
    done = asyncio.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        protocol = direct.find(receive)
        protocol.transport.set_write_buffer_limits(high=64 * 1024)
        written = 0
        frame = direct.text_frame("x" * 65_536)
        while direct.writable(protocol) and written < 200:  # the client reads nothing
            protocol.transport.write(frame)
            written += 1
        result.append(written)
        done.set()
        await send({"type": "websocket.close", "code": 1000})

    async with serve(app) as url:
        async with websockets.connect(url, compression=None, max_size=None):
            await asyncio.wait_for(done.wait(), 10)
    assert 0 < result[0] < 200  # stopped at the mark (kernel buffers + 64 KiB), not at 13 MB


# -- the whole server with direct writes off: the ASGI path keeps the same guarantees ---------
@pytest.fixture(scope="module")
def asgi_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("asgi-only"), extra_env={
        "TOCSIN_WS_DIRECT_WRITES": "false", "TOCSIN_WS_QUEUE_SIZE": "5"})
    yield server
    stop_server(server)


async def test_without_direct_writes_events_arrive_in_order(asgi_only: RunningServer):
    incident = await create_incident(asgi_only, title="in order")
    client = await RawClient.connect(asgi_only, asgi_only.admin_token)
    assert await client.receive() == {"type": "connection_ack"}
    await client.subscribe("1", 'subscription { events(types: ["incident.note_added"]) '
                                "{ sequence note } }")
    await client.send({"type": "ping"})
    assert await client.receive() == {"type": "pong"}
    sequences = [await add_note(asgi_only, incident, f"note {n}") for n in range(5)]
    received = [(await client.receive())["payload"]["data"]["events"] for _ in range(5)]
    assert [e["sequence"] for e in received] == sequences
    assert [e["note"] for e in received] == [f"note {n}" for n in range(5)]
    await client.close()


async def test_without_direct_writes_a_slow_consumer_is_closed(asgi_only: RunningServer):
    await check_slow_consumer_is_closed(asgi_only)
