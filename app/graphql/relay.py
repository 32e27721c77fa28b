"""Relay building blocks shared by every domain: the Node interface, PageInfo, and the
generic Connection/Edge types (named e.g. IncidentConnection / IncidentEdge)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import strawberry
from strawberry.types.nodes import SelectedField, Selection

from app.graphql.context import Info
from app.pagination import Page

T = TypeVar("T")


@strawberry.interface
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total: strawberry.Private[int | Callable[[], Awaitable[int]]]

    @strawberry.field
    async def total_count(self) -> int:
        """Counted only when asked for: on a large table the count costs more than the page."""
        return self.total if isinstance(self.total, int) else await self.total()


def connection_from_page(page: Page, nodes: list[T]) -> Connection[T]:
    edges = [Edge(cursor=c, node=n) for c, n in zip(page.cursors, nodes, strict=True)]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
        total=page.total,
    )


def selected_node_fields(info: Info) -> set[str]:
    """The fields asked for on `edges { node { … } }` of the connection being resolved,
    through fragments too: what a list read may load for the whole page at once."""
    found: set[str] = set()

    def walk(selections: list[Selection], path: tuple[str, ...]) -> None:
        for selection in selections:
            if not isinstance(selection, SelectedField):  # a fragment: look inside
                walk(selection.selections, path)
            elif not path:
                found.add(selection.name)
            elif selection.name == path[0]:
                walk(selection.selections, path[1:])

    for connection in info.selected_fields:
        walk(connection.selections, ("edges", "node"))
    return found
