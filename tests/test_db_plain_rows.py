"""db.plain_rows reads what the models read: same attribute names, same Python values
(timezone-aware UTC datetimes, booleans, JSON), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from app import db
from app.auth.models import Role
from app.incidents import service
from app.incidents.models import Impact, Incident, Urgency
from app.slas.models import SlaPolicy, SlaTimer
from tests.fixtures_slas import new_incident


async def test_plain_rows_equal_the_models(users, clock, covered, manager):
    responder = users[Role.RESPONDER][0]
    made = await new_incident(responder, clock.now(), covered.id)
    clock.advance(90.5)
    await service.acknowledge(made.id, actor=responder, now=clock.now(), note=None)
    await service.create_incident(service.NewIncident(
        title="no service", impact=Impact.LOW, urgency=Urgency.LOW, public=True,
        started_at=clock.now() - timedelta(minutes=5)), actor=responder, now=clock.now())

    for model, query in ((Incident, Incident.all().order_by("id")),
                         (SlaTimer, SlaTimer.all().order_by("id")),
                         (SlaPolicy, SlaPolicy.all())):
        models = await query
        plain = await db.plain_rows(query)
        assert len(plain) == len(models) > 0
        for m, p in zip(models, plain, strict=True):
            for name in model._meta.fields_db_projection:
                assert getattr(p, name) == getattr(m, name), (model, name)
                if getattr(m, name) is not None and name.endswith("_at"):
                    assert getattr(p, name).utcoffset() == timedelta(0)
    acknowledged = (await db.plain_rows(Incident.filter(id=made.id)))[0]
    assert acknowledged.acknowledged_at == clock.now()
    assert acknowledged.public is False
