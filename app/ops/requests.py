"""The outermost ASGI middleware: one request id per HTTP request or WebSocket connection,
HTTP metrics, one access log line, and closing WebSockets with 1001 when the server drains.

The id is the client's `X-Request-ID` when it is sane (1 to 128 characters of letters, digits
and `-_.:/+=@`), else a fresh UUID; it is returned in the `X-Request-ID` response header and
bound in `app.logs` for the whole request, so every log line and every event the request
appends carries it.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from app.logs import bound_request_id
from app.ops.metrics import Metrics

log = logging.getLogger("tocsin.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEADER = b"x-request-id"
_SANE = re.compile(r"^[A-Za-z0-9\-_.:/+=@]{1,128}$")
GOING_AWAY = 1001


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == HEADER:
            try:
                text = value.decode("ascii")
            except UnicodeDecodeError:
                break
            if _SANE.match(text):
                return text
            break
    return uuid.uuid4().hex


class _OpenWebSocket:
    """One accepted WebSocket, so draining can close it with 1001 from outside its handler."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.accepted = False
        self.closed = False

    async def send(self, message: Message) -> None:
        if self.closed:
            return  # the server closed it while draining; the handler's late sends go nowhere
        if message["type"] == "websocket.accept":
            self.accepted = True
        elif message["type"] == "websocket.close":
            self.closed = True
        await self._send(message)

    async def going_away(self) -> None:
        if self.accepted and not self.closed:
            self.closed = True
            await self._send({"type": "websocket.close", "code": GOING_AWAY,
                              "reason": "server shutting down"})


class OpenWebSockets:
    """The WebSockets open in this app; `close_all` is its draining hook."""

    def __init__(self) -> None:
        self.sockets: set[_OpenWebSocket] = set()

    async def close_all(self) -> None:
        """Close every open WebSocket with 1001 "going away"."""
        for socket in list(self.sockets):
            try:
                await socket.going_away()
            except Exception as exc:  # already gone: nothing to close
                log.debug("closing a WebSocket while draining: %s", exc)


QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})  # probes: access lines at DEBUG


class RequestMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Callable[[], set[str]],
                 websockets: OpenWebSockets) -> None:
        self.app = app
        self.metrics = metrics
        self._routes = routes
        self._known: set[str] | None = None
        self.websockets = websockets

    def route_label(self, path: str) -> str:
        if self._known is None:
            self._known = self._routes()
        return path if path in self._known else "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_from(scope.get("headers") or [])
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                headers.append((HEADER, request_id.encode("ascii")))
                message["headers"] = headers
            await send(message)

        path = scope.get("path", "")
        route = self.route_label(path)
        with bound_request_id(request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                self.metrics.http_requests.labels(
                    method=scope.get("method", ""), route=route, status=str(status)).inc()
                self.metrics.http_duration.labels(route=route).observe(elapsed)
                log.log(logging.DEBUG if path in QUIET_PATHS else logging.INFO,
                        "%s %s %d %.1fms", scope.get("method"), path, status, elapsed * 1000,
                         extra={"fields": {"method": scope.get("method"), "path": path,
                                           "status": status,
                                           "durationMs": round(elapsed * 1000, 1)}})

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_from(scope.get("headers") or [])
        socket = _OpenWebSocket(send)

        async def receive_unless_closed() -> Message:
            message = await receive()
            if socket.closed and message["type"] != "websocket.disconnect":
                return {"type": "websocket.disconnect", "code": GOING_AWAY}
            return message

        self.websockets.sockets.add(socket)
        self.metrics.websockets.inc()
        try:
            with bound_request_id(request_id):
                await self.app(scope, receive_unless_closed, socket.send)
        finally:
            self.websockets.sockets.discard(socket)
            self.metrics.websockets.dec()
