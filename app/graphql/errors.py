"""Every GraphQL error leaves with an `extensions.code`: domain errors keep theirs, errors in
the request itself (syntax, validation, variable coercion) get BAD_USER_INPUT, and anything
unexpected is logged in full and reaches the client only as INTERNAL_SERVER_ERROR."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from app.errors import DomainError
from app.graphql.limits import limit_error_extensions, strip_suggestions

log = logging.getLogger("app.graphql")

MASKED_MESSAGE = "Internal server error"


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) says the database cannot be reached right now."""
    import asyncpg
    from tortoise.exceptions import DBConnectionError

    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, (OSError, DBConnectionError, asyncpg.PostgresConnectionError,
                             asyncpg.exceptions.CannotConnectNowError,
                             asyncpg.exceptions.AdminShutdownError,
                             asyncpg.exceptions.InterfaceError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def public_error(error: GraphQLError, *, hide_suggestions: bool = False) -> GraphQLError:
    original = error.original_error
    if isinstance(original, DomainError):
        return error
    if original is None or isinstance(original, GraphQLError):
        message = strip_suggestions(error.message) if hide_suggestions else error.message
        if error.extensions and "code" in error.extensions and message == error.message:
            return error
        extensions = limit_error_extensions(error)
        if extensions is None:
            code = "BAD_USER_INPUT" if error.path is None else "INTERNAL_SERVER_ERROR"
            extensions = {**(error.extensions or {}), "code": code}
        return GraphQLError(
            message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions=extensions,
        )
    if database_unavailable(original):
        log.warning("database unavailable in %s: %s", error.path, original)
        return GraphQLError(
            "the database is unavailable; try again shortly",
            nodes=error.nodes, source=error.source, positions=error.positions, path=error.path,
            extensions={"code": "SERVICE_UNAVAILABLE"},
        )
    log.error("unexpected error in %s", error.path, exc_info=original)
    return GraphQLError(
        MASKED_MESSAGE,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={"code": "INTERNAL_SERVER_ERROR"},
    )


class ErrorCodes(SchemaExtension):
    def __init__(self, *, hide_suggestions: bool = False) -> None:
        self.hide_suggestions = hide_suggestions

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = [public_error(e, hide_suggestions=self.hide_suggestions)
                             for e in errors]
