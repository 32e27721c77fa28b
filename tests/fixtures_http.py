"""A real HTTP server on a free port of 127.0.0.1 (optionally HTTPS), for the plugins that
speak HTTP: each test gives it a `respond(request) -> Reply` function and reads back the
requests it received."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[ReceivedRequest], Reply]


class HttpPeer:
    def __init__(self, respond: Responder, tls: ssl.SSLContext | None = None) -> None:
        self.respond = respond
        self.requests: list[ReceivedRequest] = []
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                request = ReceivedRequest(
                    self.command, self.path,
                    {name.lower(): value for name, value in self.headers.items()},
                    self.rfile.read(length),
                )
                peer.requests.append(request)
                reply = peer.respond(request)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                try:
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST = do_PUT = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.scheme = "https" if tls is not None else "http"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_peer() -> Iterator[Callable[..., HttpPeer]]:
    """Starts HTTP(S) peers: `http_peer(respond, tls=None)`; all are stopped after the test."""
    started: list[HttpPeer] = []

    def start(respond: Responder, tls: ssl.SSLContext | None = None) -> HttpPeer:
        peer = HttpPeer(respond, tls)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.close()
