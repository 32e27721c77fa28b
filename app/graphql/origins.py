"""Which browser origins may talk to the API: the one check shared by GraphQL over HTTP and
over WebSocket (a WebSocket handshake is never preflighted, so it needs the check as much as a
POST does). CORS headers themselves come from Starlette's middleware with the same list."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def origin_allowed(headers: Mapping[str, str], allowed: Sequence[str]) -> bool:
    """True for no Origin (not a browser), a listed origin (or `*`), or the server's own
    origin: `http(s)://<Host header>`. Anything else, `null` included, is refused."""
    origin = headers.get("origin")
    if origin is None or "*" in allowed or origin in allowed:
        return True
    scheme, sep, authority = origin.partition("://")
    host = headers.get("host")
    return (bool(sep) and scheme.lower() in ("http", "https") and host is not None
            and authority.lower() == host.strip().lower())
