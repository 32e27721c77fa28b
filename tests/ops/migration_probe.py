"""Run in its own process (tortoise keeps global connections; the test session has its own):

    python -m tests.ops.migration_probe to URL MIGRATION   # migrate up to MIGRATION only
    python -m tests.ops.migration_probe read URL           # read back through today's models

`read` prints JSON: the incidents and events as the current code sees them, plus one event
appended through `events.append` (so writes work on the upgraded schema too)."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime

from app import db


async def migrate_to(url: str, migration: str) -> None:
    from tortoise.migrations.api import migrate

    await migrate(config=db.tortoise_config(url), target=f"models.{migration}")
    await db.close_db()


async def read(url: str) -> dict[str, object]:
    from app.events import service as events
    from app.events.models import Event
    from app.incidents.models import Incident

    await db.init_db(url)
    try:
        incidents = [
            {"number": i.number, "title": i.title, "status": str(i.status),
             "priority": str(i.priority), "service": (await i.service).name if i.service_id
             else None, "created_at": i.created_at.isoformat()}
            for i in await Incident.all().order_by("id")
        ]
        logged = [
            {"id": e.id, "type": e.type, "incident": e.incident_id, "payload": e.payload,
             "note": e.note, "public": e.public}
            for e in await Event.all().order_by("id")
        ]
        first = await Incident.all().order_by("id").first()
        async with db.atomic():
            added = await events.append("incident.note_added", now=datetime.now(UTC),
                                        incident=first, note="after the upgrade")
        return {"incidents": incidents, "events": logged, "appended": added.id}
    finally:
        await db.close_db()


if __name__ == "__main__":
    command, url, *rest = sys.argv[1:]
    if command == "to":
        asyncio.run(migrate_to(url, rest[0]))
    else:
        print(json.dumps(asyncio.run(read(url))))
