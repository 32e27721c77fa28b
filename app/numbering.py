"""Human numbers for numbered things ("incident" → INC-42, "problem" → PRB-7), handed out from
the `counters` table inside the caller's transaction, so a rolled-back creation gives its
number back and concurrent creations never share one."""

from __future__ import annotations

from app import db


async def next_number(kind: str) -> int:
    conn = db.current_transaction().connection
    mark = db.placeholders(conn, 1)
    rows = await conn.execute_query_dict(
        f"INSERT INTO counters (kind, value) VALUES ({mark}, 1) "
        "ON CONFLICT (kind) DO UPDATE SET value = counters.value + 1 RETURNING value",
        [kind],
    )
    return int(rows[0]["value"])
