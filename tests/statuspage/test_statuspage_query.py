"""The public statusPage query: no token, derived service status, nothing internal."""

from __future__ import annotations

from app.auth.models import Role
from app.incidents import service
from app.incidents.models import Impact, IncidentStatus, Urgency

PAGE = """{ statusPage { updatedAt services { name status }
  incidents { reference title status priority updates { message } } } }"""


async def test_status_page_shows_public_services_and_public_incidents_only(api, users, clock):
    admin = users[Role.ADMIN][0]
    web = await service.create_service(name="Web", description=None, public=True, actor=admin,
                                       now=clock.now())
    await service.create_service(name="Internal batch", description=None, public=False,
                                 actor=admin, now=clock.now())
    hidden = await service.create_incident(service.NewIncident(
        title="db01 disk full", impact=Impact.MEDIUM, urgency=Urgency.HIGH, service_id=web.id),
        actor=admin, now=clock.now())
    shown = await service.create_incident(service.NewIncident(
        title="LB misconfig on edge-3", impact=Impact.LOW, urgency=Urgency.LOW,
        service_id=web.id, public=True, public_title="Slow page loads"),
        actor=admin, now=clock.now())
    await service.add_note(shown.id, "We are on it", public=True, actor=admin, now=clock.now())
    await service.add_note(shown.id, "edge-3 needs a reboot", public=False, actor=admin,
                           now=clock.now())

    page = (await api(PAGE, role=None)).ok()["statusPage"]
    assert page["services"] == [{"name": "Web", "status": "PARTIAL_OUTAGE"}]
    assert page["incidents"] == [{"reference": shown.reference, "title": "Slow page loads",
                                  "status": "NEW", "priority": "P5",
                                  "updates": [{"message": "We are on it"}]}]
    text = str(page)
    assert "edge-3" not in text and "db01" not in text and "admin" not in text

    await service.change_status(hidden.id, IncidentStatus.CANCELLED, actor=admin,
                                now=clock.now())
    page = (await api(PAGE, role=None)).ok()["statusPage"]
    assert page["services"] == [{"name": "Web", "status": "OPERATIONAL"}]


async def test_status_rule_takes_the_most_urgent_of_all_open_incidents(api, users, clock):
    admin = users[Role.ADMIN][0]
    web = await service.create_service(name="Web", description=None, public=True, actor=admin,
                                       now=clock.now())

    async def status() -> str:
        page = (await api("{ statusPage { services { status } } }", role=None)).ok()
        return page["statusPage"]["services"][0]["status"]

    async def opened(impact: Impact, urgency: Urgency):
        return await service.create_incident(service.NewIncident(
            title="x", impact=impact, urgency=urgency, service_id=web.id), actor=admin,
            now=clock.now())

    p4 = await opened(Impact.LOW, Urgency.MEDIUM)
    assert await status() == "OPERATIONAL"
    p3 = await opened(Impact.LOW, Urgency.HIGH)
    assert await status() == "DEGRADED"
    p1 = await opened(Impact.HIGH, Urgency.HIGH)
    await service.acknowledge(p1.id, actor=admin, now=clock.now())
    await service.change_status(p1.id, IncidentStatus.ON_HOLD, actor=admin, now=clock.now())
    assert await status() == "MAJOR_OUTAGE"  # on hold is still open
    await service.update_incident(p1.id, {"urgency": Urgency.MEDIUM}, actor=admin,
                                  now=clock.now())
    assert await status() == "PARTIAL_OUTAGE"  # now a P2
    await service.resolve(p1.id, "fixed", actor=admin, now=clock.now())
    assert await status() == "DEGRADED"
    for incident in (p3, p4):
        await service.change_status(incident.id, IncidentStatus.CANCELLED, actor=admin,
                                    now=clock.now())
    assert await status() == "OPERATIONAL"


async def test_incidents_list_only_public_open_ones_with_updates_newest_first(api, users,
                                                                               clock):
    admin = users[Role.ADMIN][0]
    hidden_service = await service.create_service(name="Payroll", description=None,
                                                  public=False, actor=admin, now=clock.now())
    no_service = await service.create_incident(service.NewIncident(
        title="Mail delays", impact=Impact.LOW, urgency=Urgency.LOW, public=True),
        actor=admin, now=clock.now())
    await service.create_incident(service.NewIncident(
        title="payroll", impact=Impact.HIGH, urgency=Urgency.HIGH,
        service_id=hidden_service.id, public=True), actor=admin, now=clock.now())
    for n in range(3):
        await service.add_note(no_service.id, f"update {n}", public=True, actor=admin,
                               now=clock.advance(60))
    page = (await api("{ statusPage { services { name } incidents { reference title createdAt "
                      "updates { at message } } } }", role=None)).ok()["statusPage"]
    assert page["services"] == []
    assert [i["title"] for i in page["incidents"]] == ["Mail delays"]
    updates = page["incidents"][0]["updates"]
    assert [u["message"] for u in updates] == ["update 2", "update 1", "update 0"]
    assert updates[0]["at"] > updates[1]["at"] > updates[2]["at"]
    await service.resolve(no_service.id, "done", actor=admin, now=clock.now())
    page = (await api("{ statusPage { incidents { reference } } }", role=None)).ok()
    assert page["statusPage"]["incidents"] == []
