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
