"""Every GraphQL error leaves with an `extensions.code`: domain errors keep theirs, errors in
the request itself (syntax, validation, variable coercion) get BAD_USER_INPUT, and anything
unexpected is logged in full and reaches the client only as INTERNAL_SERVER_ERROR."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from app.errors import DomainError

log = logging.getLogger("app.graphql")

MASKED_MESSAGE = "Internal server error"


def public_error(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, DomainError):
        return error
    if original is None or isinstance(original, GraphQLError):
        if error.extensions and "code" in error.extensions:
            return error
        code = "BAD_USER_INPUT" if error.path is None else "INTERNAL_SERVER_ERROR"
        return GraphQLError(
            error.message,
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions={**(error.extensions or {}), "code": code},
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
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is not None and errors:
            result.errors = [public_error(e) for e in errors]
