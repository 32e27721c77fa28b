"""Service changes in the event log: `service.created` and `service.updated` appended in the
change's own transaction, with the actor and a snapshot (and, for an update, what changed),
nothing for an update that changes nothing, nothing left behind by a rollback."""

from __future__ import annotations

import asyncio
from itertools import pairwise

import pytest

from app import db
from app.auth.models import Role
from app.errors import Conflict
from app.events import service as events
from app.events.models import Event
from app.incidents import service
from app.incidents.models import Service


@pytest.fixture
async def manager(users):
    return users[Role.MANAGER][0]


@pytest.fixture
def published():
    """What the event log hands to the broker after commit."""
    seen: list[Event] = []

    async def publish(committed: list[Event]) -> None:
        seen.extend(committed)

    events.set_publisher(publish)
    yield seen
    events.set_publisher(None)


async def _create(manager, clock, name: str = "Checkout", **kw) -> Service:
    return await service.create_service(
        name=name, description=kw.pop("description", "Web shop checkout"),
        public=kw.pop("public", True), actor=manager, now=clock.now(), **kw)


async def test_creating_a_service_appends_service_created(manager, clock, published):
    created = await _create(manager, clock)
    [event] = await Event.all()
    assert event.type == "service.created"
    assert event.actor_id == manager.id
    assert event.service_id == created.id
    assert (event.incident_id, event.problem_id, event.priority) == (None, None, None)
    assert event.occurred_at == clock.now()
    assert event.payload == {"name": "Checkout", "description": "Web shop checkout",
                             "public": True, "slaPolicyId": None}
    assert [e.id for e in published] == [event.id]


async def test_an_update_records_each_changed_field_from_and_to(manager, clock, policy):
    created = await _create(manager, clock)
    clock.advance(60)
    await service.update_service(
        created.id,
        {"name": "Shop checkout", "description": None, "public": False,
         "sla_policy_id": policy.id},
        actor=manager, now=clock.now())
    updated = await Event.filter(type="service.updated").get()
    assert updated.actor_id == manager.id and updated.service_id == created.id
    assert updated.occurred_at == clock.now()
    assert updated.payload == {
        "name": "Shop checkout", "description": None, "public": False,
        "slaPolicyId": policy.id,
        "changes": {
            "name": {"from": "Checkout", "to": "Shop checkout"},
            "description": {"from": "Web shop checkout", "to": None},
            "public": {"from": True, "to": False},
            "slaPolicyId": {"from": None, "to": policy.id},
        },
    }


async def test_only_the_fields_that_changed_are_listed(manager, clock):
    created = await _create(manager, clock)
    await service.update_service(
        created.id, {"name": "Checkout", "description": "Checkout, now with wallets"},
        actor=manager, now=clock.now())
    updated = await Event.filter(type="service.updated").get()
    assert updated.payload["changes"] == {
        "description": {"from": "Web shop checkout", "to": "Checkout, now with wallets"}}


async def test_an_update_that_changes_nothing_appends_nothing(manager, clock, published):
    created = await _create(manager, clock)
    clock.advance(60)
    # The same values, once cleaned ("  Checkout " is "Checkout"), and no fields at all.
    await service.update_service(
        created.id, {"name": "  Checkout ", "description": "Web shop checkout", "public": True},
        actor=manager, now=clock.now())
    await service.update_service(created.id, {}, actor=manager, now=clock.now())
    assert await Event.all().values_list("type", flat=True) == ["service.created"]
    assert len(published) == 1
    assert (await Service.get(id=created.id)).updated_at == created.updated_at


async def test_a_refused_update_appends_nothing(manager, clock):
    await _create(manager, clock, "Payments")
    checkout = await _create(manager, clock)
    with pytest.raises(Conflict):
        await service.update_service(checkout.id, {"name": "Payments"}, actor=manager,
                                     now=clock.now())
    assert await Event.filter(type="service.updated").count() == 0
    assert (await Service.get(id=checkout.id)).name == "Checkout"


async def test_a_rollback_leaves_neither_the_change_nor_its_event(manager, clock, published):
    checkout = await _create(manager, clock)
    with pytest.raises(RuntimeError):
        async with db.atomic():
            await _create(manager, clock, "Payments")
            await service.update_service(checkout.id, {"name": "Shop"}, actor=manager,
                                         now=clock.now())
            raise RuntimeError("the surrounding change fails after both events were appended")
    assert await Service.all().values_list("name", flat=True) == ["Checkout"]
    assert await Event.all().values_list("type", flat=True) == ["service.created"]
    assert [e.type for e in published] == ["service.created"]  # nothing published either


async def test_concurrent_updates_record_an_unbroken_chain_of_changes(manager, clock):
    """Each update's `from` is what the previous one left: the row is locked while it
    changes (PostgreSQL), SQLite serialises writers."""
    created = await _create(manager, clock)
    await asyncio.gather(*[
        service.update_service(created.id, {"name": f"Checkout {n}"}, actor=manager,
                               now=clock.now())
        for n in range(8)
    ])
    renames = [e.payload["changes"]["name"] for e in
               await Event.filter(type="service.updated").order_by("id")]
    assert len(renames) == 8
    assert renames[0]["from"] == "Checkout"
    assert all(a["to"] == b["from"] for a, b in pairwise(renames))
    assert renames[-1]["to"] == (await Service.get(id=created.id)).name
