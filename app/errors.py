"""Domain errors. Services raise these; the GraphQL layer turns each into an error whose
`extensions.code` is the error's code. Nothing here knows about GraphQL."""

from __future__ import annotations


class DomainError(Exception):
    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def extensions(self) -> dict[str, str]:
        """Picked up by graphql-core as the GraphQL error's `extensions`."""
        extensions = {"code": self.code}
        if self.field:
            extensions["field"] = self.field
        return extensions


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class NotFound(DomainError):
    code = "NOT_FOUND"


class BadUserInput(DomainError):
    code = "BAD_USER_INPUT"


class InvalidTransition(DomainError):
    code = "INVALID_TRANSITION"


class Conflict(DomainError):
    code = "CONFLICT"
