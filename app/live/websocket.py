"""GraphQL over WebSocket at /graphql: `graphql-transport-ws` (the graphql-ws library's
protocol) and the legacy `graphql-ws` (subscriptions-transport-ws), as a plain ASGI app.

Writing: under uvicorn's `websockets-sansio` protocol (the default with `websockets`
installed) a frame whose connection has nothing waiting goes straight onto the transport, as
bytes the websockets library serialised once for every subscriber of a group (see
`direct.py`); there is no task and no await per subscriber. Otherwise, and whenever the
socket's write buffer is over its high-water mark, frames wait in the connection's bounded
queue, drained through the ASGI `send` by a writer task that exists only while there is
something to write (idle connections cost no task). A connection whose queue fills up is
closed with code 1013 and a reason instead of growing without bound. Keep-alive pings and the
connection_init timeout are driven by one sweeper for all connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson
from graphql import GraphQLError, OperationType
from starlette.datastructures import Headers

from app.auth.models import Role, User
from app.auth.service import bearer_token
from app.errors import DomainError, NotFound, Unauthenticated
from app.events.schema import hidden_event_types, parse_sequence
from app.graphql.context import Context
from app.graphql.errors import public_error
from app.graphql.ids import decode_id, decode_optional_id
from app.graphql.origins import origin_allowed
from app.graphql.ratelimit import RateLimiter, Refusal, token_key
from app.live import direct, streams
from app.live.access import AccessGuard
from app.live.fanout import Fanout, Subscriber
from app.live.operations import DocumentCache, OperationError

log = logging.getLogger(__name__)

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
SLOW_CONSUMER = 1013  # "try again later": clients reconnect and resume with `after`
RATE_LIMITED = 4429  # like HTTP 429; the reason names the limit and when to retry
_closing: set[asyncio.Task[None]] = set()  # closes in flight (tasks need a strong reference)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def _error(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


class WsConnection:
    __slots__ = ("_send", "acked", "address", "closed", "direct", "expiry", "init_received",
                 "last_ping", "limit", "opened_at", "protocol", "queue", "subscriptions", "tasks",
                 "token_id", "token_key", "user", "writer")

    def __init__(self, send: Send, protocol: str, limit: int, now: float,
                 address: str | None) -> None:
        self._send = send
        self.protocol = protocol
        self.limit = limit
        self.queue: deque[str] = deque()
        self.writer: asyncio.Task[None] | None = None
        self.direct: Any = None  # uvicorn's sansio protocol, when frames may bypass ASGI
        self.user: User | None = None
        self.token_id: int | None = None  # the ApiToken it authenticated with
        self.expiry: asyncio.TimerHandle | None = None  # closes it when that token expires
        self.token_key: str | None = None  # the rate limiter's key of the token it sent
        self.acked = False
        self.init_received = False
        self.closed = False
        self.opened_at = now
        self.last_ping = now
        self.address = address
        self.subscriptions: dict[str, Subscriber] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def legacy(self) -> bool:
        return self.protocol == LEGACY_WS

    def next_frame(self, op_id: str, payload: str) -> str:
        kind = '"data"' if self.protocol == LEGACY_WS else '"next"'
        return '{"id":' + orjson.dumps(op_id).decode() + ',"type":' + kind + ',"payload":' \
            + payload + "}"

    def message(self, kind: str, op_id: str | None = None, payload: Any = None) -> None:
        body: dict[str, Any] = {"type": kind}
        if op_id is not None:
            body["id"] = op_id
        if payload is not None:
            body["payload"] = payload
        self.push(orjson.dumps(body).decode())

    def push(self, frame: str, wire: bytes | None = None) -> None:
        """Send `frame` (text; `wire` is its serialised frame when the caller has it) after
        everything pushed before it."""
        if self.closed:
            return
        if self.writer is None and not self.queue:
            protocol = self.direct
            if protocol is not None and direct.writable(protocol):
                protocol.transport.write(wire if wire is not None else direct.text_frame(frame))
                return
        if len(self.queue) >= self.limit:
            self.close_soon(SLOW_CONSUMER,
                            f"slow consumer: {self.limit} messages waiting to be sent")
            return
        self.queue.append(frame)
        if self.writer is None:
            self.writer = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self.queue and not self.closed:
                await self._send({"type": "websocket.send", "text": self.queue.popleft()})
        except Exception as exc:  # the peer went away mid-write
            log.debug("websocket write failed: %s", exc)
            self.closed = True
        finally:
            self.writer = None

    def close_soon(self, code: int, reason: str) -> None:
        """Close from synchronous code; nothing pushed from now on is sent."""
        if not self.closed:
            self.closed = True
            task = asyncio.create_task(self._send_close(code, reason))
            _closing.add(task)
            task.add_done_callback(_closing.discard)

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        await self._send_close(code, reason)

    async def _send_close(self, code: int, reason: str) -> None:
        self.queue.clear()
        with contextlib.suppress(Exception):
            await self._send({"type": "websocket.close", "code": code, "reason": reason})


class GraphQLWebSocket:
    """The ASGI endpoint; `live` supplies the fan-out, schema, settings and clock."""

    def __init__(self, live: Any) -> None:
        self.live = live
        self.connections: set[WsConnection] = set()
        self.guard = AccessGuard()

    @property
    def limiter(self) -> RateLimiter:
        return self.live.limiter  # type: ignore[no-any-return]

    @property
    def fanout(self) -> Fanout:
        return self.live.fanout  # type: ignore[no-any-return]

    @property
    def documents(self) -> DocumentCache:
        return self.live.documents  # type: ignore[no-any-return]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        settings = self.live.settings
        if not origin_allowed(Headers(scope=scope), settings.allowed_origins):
            await send({"type": "websocket.close", "code": 1008, "reason": "origin not allowed"})
            return
        offered = scope.get("subprotocols") or []
        protocol = next((p for p in (TRANSPORT_WS, LEGACY_WS) if p in offered), None)
        await send({"type": "websocket.accept", "subprotocol": protocol})
        if protocol is None:
            await send({"type": "websocket.close", "code": 4406,
                        "reason": "Subprotocol not acceptable"})
            return
        client = scope.get("client")
        conn = WsConnection(send, protocol, settings.ws_queue_size,
                            asyncio.get_running_loop().time(), client[0] if client else None)
        # Opening a connection costs one request from the address's budget, like a POST.
        refusal = await self.limiter.check_address(conn.address)
        if refusal is not None:
            await rate_limited(conn, refusal)
            return
        if settings.ws_direct_writes:
            conn.direct = direct.find(receive)
        self.connections.add(conn)
        try:
            while not conn.closed:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    text = (message.get("bytes") or b"").decode("utf-8", "replace")
                await self.on_message(conn, text)
        finally:
            conn.closed = True
            self.connections.discard(conn)
            self.guard.release(conn)
            for op_id in list(conn.subscriptions):
                self.stop(conn, op_id)

    # -- messages -------------------------------------------------------------------------
    async def on_message(self, conn: WsConnection, text: str) -> None:
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await conn.close(4400, "Invalid message received")
            return
        kind = message["type"]
        op_id = message.get("id")
        if kind == "connection_init":
            await self.on_init(conn, message.get("payload"))
        elif kind == "ping" and not conn.legacy:
            conn.message("pong")
        elif kind == "pong" and not conn.legacy:
            pass
        elif kind in ("subscribe", "start") and (kind == "start") == conn.legacy:
            if not conn.acked:
                await conn.close(4401, "Unauthorized")
            elif not isinstance(op_id, str) or not op_id:
                await conn.close(4400, "Invalid message received: id must be a string")
            elif op_id in conn.subscriptions or op_id in conn.tasks:
                await conn.close(4409, f"Subscriber for {op_id} already exists")
            elif (refusal := await self.check_rate(conn)) is not None:
                await rate_limited(conn, refusal)
            else:
                await self.start(conn, op_id, message.get("payload"))
        elif kind in ("complete", "stop") and (kind == "stop") == conn.legacy:
            if isinstance(op_id, str):
                self.stop(conn, op_id)
        elif kind == "connection_terminate" and conn.legacy:
            await conn.close(1000, "terminated")
        else:
            await conn.close(4400, f"Invalid message received: unknown type {kind!r}")

    async def on_init(self, conn: WsConnection, payload: Any) -> None:
        if conn.init_received:
            await conn.close(4429, "Too many initialisation requests")
            return
        conn.init_received = True
        header = None
        if isinstance(payload, dict):
            header = payload.get("authorization") or payload.get("Authorization")
        if header and (refusal := await self.limiter.check_auth_lockout(conn.address)
                       ) is not None:
            await rate_limited(conn, refusal)
            return
        try:
            token = bearer_token(header if isinstance(header, str) else None)
            if token is not None:
                await self.guard.authenticate(conn, token, self.live.clock)
                conn.token_key = token_key(token)
        except Unauthenticated as exc:
            await self.limiter.auth_failed(conn.address)
            if conn.legacy:
                conn.message("connection_error", payload=_error(exc.message, exc.code))
                await asyncio.sleep(0)
            await conn.close(4403, f"Forbidden: {exc.message}")
            return
        conn.acked = True
        conn.message("connection_ack")
        if conn.legacy:
            conn.message("ka")

    async def check_rate(self, conn: WsConnection) -> Refusal | None:
        """Each subscribe (or query over the socket) is one request, per address and per
        token: the same buckets as HTTP, so a socket is no way around the limits."""
        return await self.limiter.check_request(conn.address, conn.token_key)

    def fail(self, conn: WsConnection, op_id: str, errors: list[dict[str, Any]]) -> None:
        if conn.legacy:
            conn.message("data", op_id, {"data": None, "errors": errors})
            conn.message("complete", op_id)
        else:
            conn.message("error", op_id, errors)

    async def start(self, conn: WsConnection, op_id: str, payload: Any) -> None:
        if len(conn.subscriptions) + len(conn.tasks) >= self.live.settings.ws_max_subscriptions:
            self.fail(conn, op_id, [_error(
                f"too many subscriptions on one connection (at most "
                f"{self.live.settings.ws_max_subscriptions})", "BAD_USER_INPUT")])
            return
        try:
            operation = self.documents.prepare(payload)
        except OperationError as exc:
            self.fail(conn, op_id, exc.formatted())
            return
        if operation.kind != OperationType.SUBSCRIPTION:
            task = asyncio.create_task(self.run_once(conn, op_id, payload))
            conn.tasks[op_id] = task
            task.add_done_callback(lambda _t: conn.tasks.pop(op_id, None))
            return
        args = operation.arguments
        try:
            after: int | None = None
            incident_id: int | None = None
            flt = streams.EventFilter()
            conn_user: User | None
            if operation.field == "events":
                conn_user = _require(conn.user, Role.VIEWER)
                after = parse_sequence(args.get("after"))
                types = args.get("types")
                flt = streams.EventFilter(
                    types=frozenset(types) if types else None,
                    service_id=decode_optional_id(args.get("serviceId"), "Service", "serviceId"),
                    incident_id=decode_optional_id(args.get("incidentId"), "Incident",
                                                   "incidentId"),
                    min_priority=args.get("minPriority"),
                    hidden_types=hidden_event_types(Role(conn_user.role)),
                )
            elif operation.field == "incidentChanged":
                conn_user = _require(conn.user, Role.VIEWER)
                incident_id = decode_id(args["id"], "Incident")
                if not await streams.incident_exists(incident_id):
                    raise NotFound("no such incident", field="id")
            else:
                conn_user = conn.user
        except DomainError as exc:
            self.fail(conn, op_id, [dict(public_error(GraphQLError(
                exc.message, path=[operation.field or ""], original_error=exc,
                extensions=exc.extensions)).formatted)])
            return
        if conn.closed or op_id in conn.subscriptions:
            return
        subscriber = self.fanout.join(conn, op_id, operation, conn_user, flt, incident_id)
        conn.subscriptions[op_id] = subscriber
        first: Awaitable[None] | None = None
        if after is not None:
            first = self.fanout.replay(subscriber, after)
        elif operation.field == "statusPage":
            first = self.fanout.send_status_page(subscriber)
        if first is not None:
            task = asyncio.create_task(_quietly(first))
            conn.tasks[op_id] = task
            task.add_done_callback(lambda _t: conn.tasks.pop(op_id, None))

    async def run_once(self, conn: WsConnection, op_id: str, payload: dict[str, Any]) -> None:
        """A query or mutation sent over the socket: one result, then complete."""
        context = Context(user=conn.user, clock=self.live.clock, settings=self.live.settings,
                          client_address=conn.address)
        result = await self.live.schema.execute(
            payload["query"], variable_values=payload.get("variables"), context_value=context,
            operation_name=payload.get("operationName"))
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [public_error(e).formatted for e in result.errors]
        conn.push(conn.next_frame(op_id, orjson.dumps(body).decode()))
        conn.message("complete", op_id)

    def stop(self, conn: WsConnection, op_id: str) -> None:
        subscriber = conn.subscriptions.pop(op_id, None)
        if subscriber is not None:
            self.fanout.leave(subscriber)
        task = conn.tasks.pop(op_id, None)
        if task is not None:
            task.cancel()

    # -- keep-alive and init timeout --------------------------------------------------------
    async def sweep_forever(self) -> None:
        settings = self.live.settings
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, settings.ws_keepalive_seconds / 2))
            now = loop.time()
            for conn in list(self.connections):
                if not conn.acked:
                    if now - conn.opened_at > settings.ws_init_timeout_seconds:
                        conn.close_soon(4408, "Connection initialisation timeout")
                elif now - conn.last_ping >= settings.ws_keepalive_seconds:
                    conn.last_ping = now
                    conn.message("ka" if conn.legacy else "ping")

    async def close_all(self) -> None:
        await asyncio.gather(*(c.close(1001, "server shutting down")
                               for c in list(self.connections)))


def _require(user: User | None, role: Role) -> User:
    from app.auth.permissions import require_role

    return require_role(user, role)


async def rate_limited(conn: WsConnection, refusal: Refusal) -> None:
    await conn.close(RATE_LIMITED, f"rate limited: {refusal.message} ({refusal.limit}); "
                                   f"retry after {refusal.retry_after} s")


async def _quietly(work: Awaitable[None]) -> None:
    try:
        await work
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("subscription start-up failed")
