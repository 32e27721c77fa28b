"""The WebSocket is no way around the HTTP defences: against a real `tocsin serve`, subscribe
messages spend the same per-address and per-token buckets as HTTP requests (over the limit the
connection closes with 4429 and a reason naming the limit), failed authentications count, and
the origin allow-list is the same check as for HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from tests.fixtures_server import RunningServer, start_server, stop_server
from tests.live.conftest import RawClient, ws_url

SUBSCRIPTION = "subscription { events { sequence } }"


async def closed_with(client: RawClient) -> tuple[int, str]:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        for _ in range(1000):
            await client.receive()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def subscribe_until_closed(client: RawClient, most: int) -> tuple[int, int, str]:
    """Subscribes (and completes) over and over: how many were answered, and the close."""
    answered = 0
    try:
        for n in range(most):
            await client.subscribe(str(n), "{ __typename }")  # a query: one result, complete
            while (await client.receive())["type"] != "complete":
                pass
            answered += 1
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None
        return answered, closed.rcvd.code, closed.rcvd.reason
    raise AssertionError(f"{most} operations and the connection is still open")


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # Bursts of 10 (the limiter's smallest) per address and per token, refilled at one a
    # second. Each test speaks from its own loopback address (127.0.0.x), so one server does.
    server = start_server(tmp_path_factory.mktemp("ws-limits"), extra_env={
        "TOCSIN_RATE_LIMIT_PER_ADDRESS": "1", "TOCSIN_RATE_LIMIT_PER_TOKEN": "1",
        "TOCSIN_RATE_LIMIT_AUTH_FAILURES": "3",
        "TOCSIN_ALLOWED_ORIGINS": "https://ops.example.com"})
    yield server
    stop_server(server)


def connect(server: RunningServer, address: str, token: str | None = None,
            **options: Any) -> Any:
    return RawClient.connect(server, token, local_addr=(address, 0), **options)


def post(server: RunningServer, address: str, **options: Any) -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(local_address=address),
                      timeout=10) as client:
        return client.post(server.graphql, json={"query": "{ __typename }"}, **options)


async def test_subscribe_messages_spend_the_address_budget(limited: RunningServer):
    client = await connect(limited, "127.0.0.2")  # no token: only the address limit applies
    assert await client.receive() == {"type": "connection_ack"}
    answered, code, reason = await subscribe_until_closed(client, 50)
    # The burst is 10: opening the socket took one, so about nine operations get through.
    assert 7 <= answered <= 10, answered
    assert code == 4429
    assert reason.startswith("rate limited: too many requests from this address "
                             "(rateLimitPerAddress); retry after ")
    # The budget is shared with HTTP: the address is refused there too, with Retry-After,
    # while another address is not.
    r = post(limited, "127.0.0.2")
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json()["errors"][0]["extensions"]["limit"] == "rateLimitPerAddress"
    assert post(limited, "127.0.0.7").status_code == 200


async def test_subscribe_messages_spend_the_token_budget(limited: RunningServer):
    """One token's budget spans connections and addresses."""
    first = await connect(limited, "127.0.0.3", limited.admin_token)
    assert await first.receive() == {"type": "connection_ack"}
    for n in range(5):
        await first.subscribe(str(n), "{ __typename }")
        assert (await first.receive())["type"] == "next"
        assert (await first.receive())["type"] == "complete"
    await first.close()
    second = await connect(limited, "127.0.0.4", limited.admin_token)
    assert await second.receive() == {"type": "connection_ack"}
    answered, code, reason = await subscribe_until_closed(second, 50)
    assert 3 <= answered <= 5, answered  # the address 127.0.0.4 still had 9 to spend
    assert code == 4429
    assert reason.startswith("rate limited: too many requests with this token "
                             "(rateLimitPerToken); retry after ")
    # The token's budget is the same over HTTP, from an address with budget left.
    r = post(limited, "127.0.0.8", headers={"authorization": f"Bearer {limited.admin_token}"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json()["errors"][0]["extensions"]["limit"] == "rateLimitPerToken"
    # Without the token, the same address still may subscribe.
    anonymous = await connect(limited, "127.0.0.4")
    assert await anonymous.receive() == {"type": "connection_ack"}
    await anonymous.subscribe("s", "subscription { statusPage { updatedAt } }")
    assert (await anonymous.receive())["type"] == "next"
    await anonymous.close()


async def test_failed_authentications_over_the_socket_lock_the_address_out(
        limited: RunningServer):
    for _ in range(3):
        client = await connect(limited, "127.0.0.5", "not-a-real-token")
        code, reason = await closed_with(client)
        assert code == 4403 and reason.startswith("Forbidden")
    # The fourth try, even with the right token, is refused: the address is locked out.
    client = await connect(limited, "127.0.0.5", limited.admin_token)
    code, reason = await closed_with(client)
    assert code == 4429
    assert reason.startswith("rate limited: too many failed authentications from this "
                             "address (rateLimitAuthFailures); retry after ")
    # And so is HTTP with a token from that address.
    r = post(limited, "127.0.0.5", headers={"authorization": f"Bearer {limited.admin_token}"})
    assert r.status_code == 429
    assert r.json()["errors"][0]["extensions"]["limit"] == "rateLimitAuthFailures"


async def test_websocket_origins_use_the_http_allow_list(limited: RunningServer):
    for origin in ("https://evil.example", "null", f"ftp://{limited.url.split('://')[1]}"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(ws_url(limited), subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                     origin=origin, local_addr=("127.0.0.6", 0))  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403, origin
        r = post(limited, "127.0.0.6", headers={"origin": origin})
        assert r.status_code == 403, origin
        assert r.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN_ORIGIN"
    # Listed, and the server's own origin: both accepted, over the socket and over HTTP.
    for origin in ("https://ops.example.com", limited.url):
        client = await connect(limited, "127.0.0.6", limited.admin_token, origin=origin)
        assert await client.receive() == {"type": "connection_ack"}, origin
        await client.close()
        r = post(limited, "127.0.0.6", headers={"origin": origin})
        assert r.json() == {"data": {"__typename": "Query"}}, origin
