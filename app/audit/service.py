"""Writing and reading audit records.

A mutation's success is recorded inside the mutation's own transaction, so a rolled-back
change leaves no "OK" record. A refusal (FORBIDDEN, BAD_USER_INPUT, …) by a known actor is
recorded afterwards in a transaction of its own, with the error code as its outcome.
Unauthenticated attempts are not recorded (they have no actor; the failed-authentication
rate limit and the logs cover them), so anonymous floods cannot fill the table.
"""

from __future__ import annotations

from datetime import datetime

from app import db
from app.audit.models import AuditEntry
from app.pagination import Page, decode_cursor, encode_cursor

OK = "OK"


async def record(
    operation: str, *, actor_id: int | None, address: str | None, target: str | None,
    outcome: str, now: datetime,
) -> AuditEntry:
    async with db.atomic() as tx:
        return await AuditEntry.create(
            at=now, actor_id=actor_id, address=(address or None) and address[:64],
            operation=operation[:100], target=(target or None) and target[:200],
            outcome=outcome[:40], using_db=tx.connection,
        )


async def list_entries(*, first: int, after: str | None) -> Page[AuditEntry]:
    """Newest first; the cursor is the entry id."""
    query = AuditEntry.all()
    total = await query.count()
    if after is not None:
        (last_id,) = decode_cursor(after, 1)
        if not isinstance(last_id, int):
            from app.errors import BadUserInput

            raise BadUserInput("after is not a valid cursor", field="after")
        query = query.filter(id__lt=last_id)
    rows = await query.order_by("-id").limit(first + 1)
    items = rows[:first]
    return Page(
        items=items,
        cursors=[encode_cursor([e.id]) for e in items],
        has_next=len(rows) > first,
        has_previous=after is not None,
        total=total,
    )
