"""Grouped fan-out. Subscribers whose operations are identical (same document, variables
that matter, root field and role) form one group; each event that passes a group's filter is
rendered once for the group and the same payload goes to every member. Per subscriber only
a sequence check and a queue append remain (the socket write happens in its connection).

`events(after:)` joins first, then replays from the log while live frames wait in the
subscriber's backlog, then flushes the backlog past what the replay sent: no gap, no
duplicate at the seam.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from app.auth.models import User
from app.config import Settings
from app.events.models import Event
from app.events.schema import EventType
from app.graphql.context import Context
from app.graphql.loaders import Loaders
from app.incidents.schema import IncidentType
from app.live import streams
from app.live.direct import text_frame
from app.live.operations import Operation, render
from app.statuspage.schema import to_graphql
from app.timesource import Clock

log = logging.getLogger(__name__)


class Connection(Protocol):
    protocol: str

    def next_frame(self, op_id: str, payload: str) -> str: ...

    def push(self, frame: str, wire: bytes | None = None) -> None: ...


class Subscriber:
    __slots__ = ("backlog", "connection", "group", "last_sent", "op_id")

    def __init__(self, connection: Connection, op_id: str, group: Group) -> None:
        self.connection = connection
        self.op_id = op_id
        self.group = group
        self.last_sent = 0
        self.backlog: list[tuple[int, str]] | None = None


@dataclass(eq=False)
class Group:
    key: tuple[Any, ...]
    operation: Operation
    user: User | None
    filter: streams.EventFilter
    incident_id: int | None
    members: dict[Subscriber, None]


class Fanout:
    def __init__(self, schema: Any, clock: Clock, settings: Settings) -> None:
        self.schema = schema
        self.clock = clock
        self.settings = settings
        self.groups: dict[tuple[Any, ...], Group] = {}
        self._status_content: object = None

    # -- membership -----------------------------------------------------------------------
    def join(self, connection: Connection, op_id: str, operation: Operation, user: User | None,
             flt: streams.EventFilter, incident_id: int | None = None) -> Subscriber:
        key = (operation.field, user.role if user else None, operation.document.text,
               operation.operation_name, operation.group_variables)
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(key, operation, user, flt, incident_id, {})
        subscriber = Subscriber(connection, op_id, group)
        group.members[subscriber] = None
        return subscriber

    def leave(self, subscriber: Subscriber) -> None:
        group = subscriber.group
        group.members.pop(subscriber, None)
        if not group.members:
            self.groups.pop(group.key, None)

    @property
    def subscriber_count(self) -> int:
        return sum(len(g.members) for g in self.groups.values())

    # -- rendering ------------------------------------------------------------------------
    def _context(self, user: User | None, loaders: Loaders) -> Context:
        return Context(user=user, clock=self.clock, settings=self.settings, loaders=loaders)

    async def render_for(self, group: Group, root: Any, loaders: Loaders | None = None) -> str:
        body = await render(self.schema, group.operation, root,
                            self._context(group.user, loaders or Loaders()))
        return body.decode()

    @staticmethod
    def _send(group: Group, sequence: int, payload: str,
              members: Iterable[Subscriber] | None = None) -> None:
        # Subscribers of a group nearly all share one protocol and operation id, hence one
        # frame: its text and its serialised bytes are built once, not per subscriber.
        frames: dict[tuple[str, str], tuple[str, bytes]] = {}
        for subscriber in list(members if members is not None else group.members):
            if sequence <= subscriber.last_sent:
                continue
            connection = subscriber.connection
            frame_key = (connection.protocol, subscriber.op_id)
            frame = frames.get(frame_key)
            if frame is None:
                text = connection.next_frame(subscriber.op_id, payload)
                frame = frames[frame_key] = (text, text_frame(text))
            if subscriber.backlog is not None:
                subscriber.backlog.append((sequence, frame[0]))
            else:
                subscriber.last_sent = sequence
                connection.push(*frame)

    # -- the live path --------------------------------------------------------------------
    async def deliver(self, events: list[Event]) -> None:
        """Called by the log follower with each batch of committed events, in order."""
        if not self.groups or not events:
            return
        loaders = Loaders()
        by_field: dict[str | None, list[Group]] = {}
        for group in self.groups.values():
            by_field.setdefault(group.operation.field, []).append(group)
        for event in events:
            matching = [g for g in by_field.get("events", ()) if g.filter.matches(event)]
            if matching:
                root = EventType.from_model(event)
                payloads = await asyncio.gather(
                    *(self.render_for(g, root, loaders) for g in matching))
                for group, payload in zip(matching, payloads, strict=True):
                    self._send(group, event.id, payload)
        await self._incidents_changed(events, by_field.get("incidentChanged", []), loaders)
        await self._status_page(events, by_field.get("statusPage", []), loaders)

    async def _incidents_changed(self, events: list[Event], groups: list[Group],
                                 loaders: Loaders) -> None:
        if not groups:
            return
        last_event: dict[int, int] = {}
        for event in events:
            if event.incident_id is not None:
                last_event[event.incident_id] = event.id
        wanted = [g for g in groups if g.incident_id in last_event]
        if not wanted:
            return
        incidents = await streams.incidents_by_id(sorted({g.incident_id for g in wanted
                                                           if g.incident_id is not None}))
        for group in wanted:
            assert group.incident_id is not None
            incident = incidents.get(group.incident_id)
            if incident is not None:
                payload = await self.render_for(group, IncidentType.from_model(incident), loaders)
                self._send(group, last_event[group.incident_id], payload)

    async def _status_page(self, events: list[Event], groups: list[Group],
                           loaders: Loaders) -> None:
        if not groups:
            self._status_content = None
            return
        if not streams.status_page_may_change(events):
            return
        page = await streams.status_page(self.clock.now())
        content = streams.page_content(page)
        if content == self._status_content:
            return
        self._status_content = content
        root = to_graphql(page)
        for group in groups:
            self._send(group, events[-1].id, await self.render_for(group, root, loaders))

    # -- the first frames of a new subscriber ----------------------------------------------
    async def replay(self, subscriber: Subscriber, after: int) -> None:
        """Send the logged events after `after`, then hand over to the live stream."""
        subscriber.backlog = []
        group = subscriber.group
        try:
            cursor = after
            while True:
                events, last = await streams.replay_page(group.filter, cursor)
                loaders = Loaders()  # one batch of lookups per page, not per event
                payloads = await asyncio.gather(
                    *(self.render_for(group, EventType.from_model(e), loaders) for e in events))
                for event, payload in zip(events, payloads, strict=True):
                    subscriber.last_sent = event.id
                    subscriber.connection.push(
                        subscriber.connection.next_frame(subscriber.op_id, payload))
                if last == cursor:
                    break
                cursor = last
        finally:
            backlog, subscriber.backlog = subscriber.backlog, None
            for sequence, frame in backlog:
                if sequence > subscriber.last_sent:
                    subscriber.last_sent = sequence
                    subscriber.connection.push(frame)

    async def send_status_page(self, subscriber: Subscriber) -> None:
        """A statusPage subscriber's first frame: the page as it is now."""
        subscriber.backlog = []  # a change meanwhile must not be overtaken by this older page
        try:
            page = await streams.status_page(self.clock.now())
            self._status_content = streams.page_content(page)
            payload = await self.render_for(subscriber.group, to_graphql(page))
            subscriber.connection.push(subscriber.connection.next_frame(subscriber.op_id, payload))
        finally:
            backlog, subscriber.backlog = subscriber.backlog, None
            for sequence, frame in backlog:
                subscriber.last_sent = sequence
                subscriber.connection.push(frame)
