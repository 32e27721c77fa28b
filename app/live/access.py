"""Ends live connections whose access has ended. A connection's token is checked once, in
connection_init; after that:

- a token that expires closes its connections at the expiry instant, by one event-loop timer
  per connection (a heap entry: nothing runs until it is due, however many are idle);
- a token revoked, a user deactivated or a user's role lowered, in this process or any other,
  arrives as an access event (app.auth.access) on the log follower, and the connections it
  concerns are found through an index by user and closed.

Closing uses 4403, as a refused connection_init does; the client may reconnect with what it
still holds (after a demotion, its new rights). Only access events are looked at, one type
check per event: the fan-out path is untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from app.auth import service as auth
from app.auth.access import ACCESS_EVENT_TYPES, access_cut
from app.auth.models import ApiToken, Role, User
from app.events.models import Event
from app.timesource import Clock

FORBIDDEN = 4403


class Guarded(Protocol):
    closed: bool
    user: User | None
    token_id: int | None
    expiry: asyncio.TimerHandle | None

    def close_soon(self, code: int, reason: str) -> None: ...


class AccessGuard:
    def __init__(self) -> None:
        self.by_user: dict[int, set[Guarded]] = {}
        self.changes_applied = 0  # access events seen so far

    async def authenticate(self, conn: Guarded, token: str, clock: Clock) -> None:
        """Admit `conn` as `token`'s user; Unauthenticated when the token is not valid."""
        changes = self.changes_applied
        api_token = await auth.authenticate_token(token, now=clock.now())
        # An access event applied during that read may have been committed after it.
        while changes != self.changes_applied:
            changes = self.changes_applied
            api_token = await auth.authenticate_token(token, now=clock.now())
        if not conn.closed:
            self.admit(conn, api_token, clock.now())

    def admit(self, conn: Guarded, api_token: ApiToken, now: datetime) -> None:
        """`conn` now speaks for `api_token`'s user, until the token expires or is cut."""
        user: User = api_token.user
        conn.user = user
        conn.token_id = api_token.id
        held = self.by_user.get(user.id)
        if held is None:
            held = self.by_user[user.id] = set()
        held.add(conn)
        if api_token.expires_at is not None:
            delay = max((api_token.expires_at - now).total_seconds(), 0.0)
            conn.expiry = asyncio.get_running_loop().call_later(
                delay, conn.close_soon, FORBIDDEN, "Forbidden: token expired")

    def release(self, conn: Guarded) -> None:
        if conn.expiry is not None:
            conn.expiry.cancel()
            conn.expiry = None
        if conn.user is not None and (held := self.by_user.get(conn.user.id)) is not None:
            held.discard(conn)
            if not held:
                del self.by_user[conn.user.id]

    def apply(self, events: Iterable[Event]) -> None:
        """Close the connections that committed access events take rights from."""
        for event in events:
            if event.type not in ACCESS_EVENT_TYPES:
                continue
            self.changes_applied += 1
            cut = access_cut(event)
            if cut is None:
                continue
            for conn in list(self.by_user.get(cut.user_id, ())):
                if conn.user is not None and cut.applies_to(conn.token_id, Role(conn.user.role)):
                    conn.close_soon(FORBIDDEN, f"Forbidden: {cut.reason}")
