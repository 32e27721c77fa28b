"""Protocol rules and limits, spoken by hand against a real server with small limits:
keep-alive pings, the connection_init timeout, the cap on subscriptions per connection,
allowed origins, duplicate ids, and closing a consumer that cannot keep up."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import websockets

from tests.fixtures_server import RunningServer, start_server, stop_server
from tests.live.conftest import RawClient, add_note, create_incident, ws_url


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    server = start_server(tmp_path_factory.mktemp("strict"), extra_env={
        "TOCSIN_WS_KEEPALIVE_SECONDS": "0.5",
        "TOCSIN_WS_INIT_TIMEOUT_SECONDS": "0.5",
        "TOCSIN_WS_MAX_SUBSCRIPTIONS": "2",
        "TOCSIN_WS_QUEUE_SIZE": "5",
        "TOCSIN_ALLOWED_ORIGINS": "https://status.example.com",
    })
    yield server
    stop_server(server)


async def closed_with(client: RawClient) -> tuple[int, str]:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        for _ in range(1000):
            await client.receive()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def test_server_sends_keep_alive_pings(strict: RunningServer):
    client = await RawClient.connect(strict, strict.admin_token)
    assert await client.receive() == {"type": "connection_ack"}
    assert await client.receive(seconds=3) == {"type": "ping"}
    await client.send({"type": "ping"})
    assert await client.receive() in ({"type": "pong"}, {"type": "ping"})
    await client.close()
    legacy = await RawClient.connect(strict, strict.admin_token, protocol="graphql-ws")
    assert [await legacy.receive() for _ in range(3)] == [
        {"type": "connection_ack"}, {"type": "ka"}, {"type": "ka"}]
    await legacy.close()


async def test_a_connection_that_never_initialises_is_closed(strict: RunningServer):
    client = await RawClient.connect(strict, init=False)
    assert await closed_with(client) == (4408, "Connection initialisation timeout")


async def test_subscribe_before_init_and_twice_the_same_id(strict: RunningServer):
    early = await RawClient.connect(strict, init=False)
    await early.subscribe("1", "subscription { statusPage { updatedAt } }")
    assert await closed_with(early) == (4401, "Unauthorized")
    twice = await RawClient.connect(strict, strict.admin_token)
    await twice.receive()
    await twice.subscribe("same", "subscription { events { sequence } }")
    await twice.subscribe("same", "subscription { events { sequence } }")
    assert await closed_with(twice) == (4409, "Subscriber for same already exists")


async def test_subscriptions_per_connection_are_capped(strict: RunningServer):
    client = await RawClient.connect(strict, strict.admin_token)
    await client.receive()
    for n in range(3):
        await client.subscribe(str(n), "subscription { events { sequence } }")
    refusal = await client.receive()
    assert refusal["type"] == "error" and refusal["id"] == "2"
    assert "at most 2" in refusal["payload"][0]["message"]
    await client.close()


async def test_origins_outside_the_allow_list_are_refused(strict: RunningServer):
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(ws_url(strict), subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                 origin="https://evil.example")  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
    allowed = await RawClient.connect(strict, strict.admin_token,
                                      origin="https://status.example.com")
    assert await allowed.receive() == {"type": "connection_ack"}
    await allowed.close()


async def test_invalid_documents_get_an_error_not_a_closed_socket(strict: RunningServer):
    client = await RawClient.connect(strict, strict.admin_token)
    await client.receive()
    await client.subscribe("bad", "subscription { events { nope } }")
    answer = await client.receive()
    assert answer["type"] == "error"
    assert answer["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    await client.subscribe("bad-id", "subscription { incidentChanged(id: \"xyz\") { id } }")
    answer = await client.receive()
    assert answer["payload"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}
    await client.close()


async def test_a_consumer_that_cannot_keep_up_is_closed_with_a_reason(strict: RunningServer):
    await check_slow_consumer_is_closed(strict)


async def check_slow_consumer_is_closed(strict: RunningServer) -> None:
    """Needs a server with TOCSIN_WS_QUEUE_SIZE=5."""
    incident = await create_incident(strict, title="firehose")
    big = "x" * 19_000
    for n in range(25):
        await add_note(strict, incident, f"{n} {big}")
    # 25 aliases of the note: ~475 KB per frame, ~12 MB in all, more than socket buffers hold.
    notes = " ".join(f"n{i}: note" for i in range(25))
    client = await RawClient.connect(strict, strict.admin_token, max_size=None)
    await client.receive()
    # Subscribe, then do not read: the server's writer blocks and its queue of 5 fills up.
    await client.subscribe("1", "subscription { events(after: \"0\") { " + notes + " } }")
    await asyncio.sleep(2)
    assert await closed_with(client) == (1013, "slow consumer: 5 messages waiting to be sent")
