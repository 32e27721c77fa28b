"""Every mutation leaves an audit record: a field extension on each Mutation field runs the
resolver inside one transaction and writes the "OK" record in that same transaction (a
rollback takes both), or records the refusal afterwards (see app/audit/service.py)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from strawberry.extensions import FieldExtension

from app import db
from app.audit import service as audit
from app.errors import DomainError, Unauthenticated

log = logging.getLogger(__name__)

TARGET_ARGUMENTS = ("id", "user_id", "incident_id", "problem_id", "channel_id", "policy_id")


def target_of(kwargs: dict[str, Any], result: Any = None) -> str | None:
    """The id the mutation acted on: its id-like argument, else what it created."""
    for name in TARGET_ARGUMENTS:
        if isinstance(kwargs.get(name), str):
            return str(kwargs[name])
    if result is None:
        return None
    for attribute in ("reference", "id"):
        value = getattr(result, attribute, None)
        if isinstance(value, str):
            return value
    nested = getattr(result, "api_token", None)  # CreatedApiToken: never its secret
    if nested is not None:
        return str(nested.id)
    return result if isinstance(result, str) else None


class AuditedMutation(FieldExtension):
    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Any, **kwargs: Any
    ) -> Any:
        context = info.context
        operation = info.field_name
        actor_id = context.user.id if context.user is not None else None
        if actor_id is None:
            # Anonymous: every mutation refuses it before touching the database, so no
            # transaction is opened for it (an unauthenticated flood stays cheap); should one
            # ever accept it, its success is still recorded, in a transaction of its own.
            result = await next_(source, info, **kwargs)
            await audit.record(operation, actor_id=None, address=context.client_address,
                               target=target_of(kwargs, result), outcome=audit.OK,
                               now=context.now())
            return result
        try:
            async with db.atomic():
                result = await next_(source, info, **kwargs)
                await audit.record(operation, actor_id=actor_id, address=context.client_address,
                                   target=target_of(kwargs, result), outcome=audit.OK,
                                   now=context.now())
            return result
        except Exception as exc:
            if actor_id is not None and not isinstance(exc, Unauthenticated):
                outcome = exc.code if isinstance(exc, DomainError) else "INTERNAL_SERVER_ERROR"
                try:
                    await audit.record(operation, actor_id=actor_id,
                                       address=context.client_address,
                                       target=target_of(kwargs), outcome=outcome,
                                       now=context.now())
                except Exception:  # the database may be why it failed; the log still has it
                    log.warning("could not record the refused %s", operation, exc_info=True)
            raise


def audit_every_mutation(mutation_type: Any) -> None:
    """Attach AuditedMutation to each field of the Mutation type (once)."""
    for field in mutation_type.__strawberry_definition__.fields:
        if not any(isinstance(e, AuditedMutation) for e in field.extensions):
            field.extensions.append(AuditedMutation())
