"""Writing frames straight to uvicorn's `websockets-sansio` protocol object.

The ASGI path for one text message is a coroutine chain per write (our writer task, Starlette's
exception-middleware `send` wrapper, uvicorn's `send`, which awaits the socket's writability,
asks the websockets `ServerProtocol` to build the frame and writes it). For a fan-out that is
most of the cost per subscriber, so when the connection is served by uvicorn's
`WebSocketsSansIOProtocol` and is in a state where uvicorn's own `send` would write at once,
we do what that `send` does, without the layers: the frame's bytes (serialised once by the
websockets library, the same bytes for every subscriber of a group) go to `transport.write`.

The protocol object is found as the owner of the ASGI `receive` callable (uvicorn passes its
bound method; Starlette passes `receive` through unwrapped). Anything else (another server,
another uvicorn WebSocket implementation, a wrapped `receive`, negotiated extensions such as
permessage-deflate, which would change the bytes) means no direct writer, and the connection
uses the ASGI `send` as before.
"""

from __future__ import annotations

from typing import Any

from websockets.frames import Frame, Opcode
from websockets.protocol import State

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # pragma: no cover - uvicorn without it: everything goes through ASGI
    WebSocketsSansIOProtocol = None  # type: ignore[assignment,misc]

OPEN = State.OPEN
# What `writable()` reads on the uvicorn protocol and its websockets connection; checked once
# per connection so that a uvicorn that renamed any of them falls back to the ASGI path.
_PROTOCOL_ATTRIBUTES = ("transport", "conn", "writable", "close_sent", "disconnected",
                        "handshake_complete", "initial_response")
_CONNECTION_ATTRIBUTES = ("state", "extensions", "writes", "expect_continuation_frame", "side")


def text_frame(text: str) -> bytes:
    """One unmasked, unfragmented text frame as a server sends it, with no extensions."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def find(receive: Any) -> Any | None:
    """The uvicorn sansio protocol behind an ASGI `receive`, once the handshake is done and if
    the frames it would send are exactly `text_frame`'s; else None."""
    protocol = getattr(receive, "__self__", None)
    if WebSocketsSansIOProtocol is None or not isinstance(protocol, WebSocketsSansIOProtocol):
        return None
    if not all(hasattr(protocol, name) for name in _PROTOCOL_ATTRIBUTES):
        return None
    conn = protocol.conn
    if not all(hasattr(conn, name) for name in _CONNECTION_ATTRIBUTES):
        return None
    if conn.extensions or conn.side.name != "SERVER":
        return None
    if not protocol.handshake_complete or protocol.initial_response is not None:
        return None
    return protocol


def writable(protocol: Any) -> bool:
    """True when uvicorn's `send` would write a text frame right now without waiting: the
    connection is open, no close was sent or received, and the socket's buffer is below its
    high-water mark (uvicorn clears `writable` in `pause_writing`)."""
    conn = protocol.conn
    return (conn.state is OPEN and not protocol.close_sent and not protocol.disconnected
            and protocol.writable.is_set() and not conn.writes
            and not conn.expect_continuation_frame and not protocol.transport.is_closing())
