"""The database-derived gauges as Prometheus scrapes them from /metrics: the outbox (depth,
oldest due age, deliveries by plugin and status) and the SLA timers of open work — and the
request id of an event following it into its deliveries' log lines and `delivery.dead`."""

from __future__ import annotations

import logging

import pytest

from app.auth.models import Role
from app.events.models import Event
from app.incidents import service as incidents
from app.incidents.models import IncidentStatus
from app.logs import RequestIdFilter, bound_request_id
from app.notifications import service
from app.slas.clock import SlaClock
from tests.fixtures_slas import P2_RESPONSE, new_incident
from tests.notifications.conftest import (  # noqa: F401 - fixtures
    dispatcher,
    installed_registry,
    registry,
    secret_box,
    sends,
)
from tests.ops.test_metrics import scrape, value


async def notify_on_created(clock, sends, recipients: list[str]) -> None:  # noqa: F811
    channel = await service.create_channel(
        name="ops recorder", plugin="recorder", config={"path": str(sends.path)},
        now=clock.now())
    await service.create_rule(service.RuleInput(
        name="created", channel_id=channel.id, event_types=["incident.created"],
        recipients=recipients), now=clock.now())


async def test_outbox_and_deliveries_gauges_follow_the_worker(
        http, users, clock, sends, dispatcher):  # noqa: F811
    await notify_on_created(clock, sends, ["ok-1@example.org", "fail-1@example.org",
                                           "retry-1@example.org"])
    await new_incident(users[Role.RESPONDER][0], clock.now(), None)
    clock.advance(30)

    samples = await scrape(http)
    assert value(samples, "tocsin_outbox_pending") == 3
    assert value(samples, "tocsin_outbox_oldest_pending_age_seconds") == 30
    assert value(samples, "tocsin_deliveries", plugin="recorder", status="PENDING") == 3
    assert ("tocsin_deliveries", (("plugin", "recorder"), ("status", "DEAD"))) in samples

    report = await dispatcher.drain()
    assert (report.delivered, report.dead, report.retrying) == (1, 1, 1)
    samples = await scrape(http)
    assert value(samples, "tocsin_outbox_pending") == 1  # the retry, waiting for its time
    assert value(samples, "tocsin_outbox_oldest_pending_age_seconds") == 0  # not late yet
    for status, count in {"PENDING": 0, "RETRYING": 1, "DELIVERED": 1, "DEAD": 1}.items():
        assert value(samples, "tocsin_deliveries", plugin="recorder", status=status) == count

    clock.advance(25)  # the retry fell due 10 s after the attempt: 15 s late now
    samples = await scrape(http)
    assert value(samples, "tocsin_outbox_oldest_pending_age_seconds") == 15

    clock.advance(3600)  # DELIVERED counts the last hour (an index range, not the history)
    samples = await scrape(http)
    assert value(samples, "tocsin_deliveries", plugin="recorder", status="DELIVERED") == 0
    assert value(samples, "tocsin_deliveries", plugin="recorder", status="DEAD") == 1
    assert value(samples, "tocsin_deliveries", plugin="recorder", status="RETRYING") == 1


async def test_sla_timer_gauges_count_open_work_running_paused_and_breached(
        http, users, clock, covered):
    responder = users[Role.RESPONDER][0]
    waiting = await new_incident(responder, clock.now(), covered.id)  # P2: 600 s to respond
    held = await new_incident(responder, clock.now(), covered.id)
    await incidents.acknowledge(held.id, actor=responder, now=clock.now())  # RESPONSE met
    await incidents.change_status(held.id, IncidentStatus.ON_HOLD, actor=responder,
                                  now=clock.now())  # RESOLUTION paused
    await new_incident(responder, clock.now(), None)  # no policy: no timers

    def timers(samples, kind: str) -> dict[str, float]:
        return {state: value(samples, "tocsin_sla_timers", kind=kind, state=state)
                for state in ("RUNNING", "PAUSED", "BREACHED")}

    samples = await scrape(http)
    assert timers(samples, "RESPONSE") == {"RUNNING": 1, "PAUSED": 0, "BREACHED": 0}
    assert timers(samples, "RESOLUTION") == {"RUNNING": 1, "PAUSED": 1, "BREACHED": 0}

    clock.advance(P2_RESPONSE + 1)  # past due; the clock has not run yet: breached all the same
    samples = await scrape(http)
    assert timers(samples, "RESPONSE") == {"RUNNING": 0, "PAUSED": 0, "BREACHED": 1}
    await SlaClock(clock).tick()  # emits sla.breached
    assert await Event.filter(type="sla.breached", incident_id=waiting.id).count() == 1
    samples = await scrape(http)
    assert timers(samples, "RESPONSE") == {"RUNNING": 0, "PAUSED": 0, "BREACHED": 1}
    assert timers(samples, "RESOLUTION") == {"RUNNING": 1, "PAUSED": 1, "BREACHED": 0}

    await incidents.change_status(waiting.id, IncidentStatus.RESOLVED, actor=responder,
                                  now=clock.now(), resolution="fixed")
    samples = await scrape(http)  # stopped timers are history, not open work
    assert timers(samples, "RESPONSE") == {"RUNNING": 0, "PAUSED": 0, "BREACHED": 0}
    assert timers(samples, "RESOLUTION") == {"RUNNING": 0, "PAUSED": 1, "BREACHED": 0}


async def test_deliveries_log_and_append_under_the_request_id_of_their_event(
        database, users, clock, sends, dispatcher, caplog):  # noqa: F811
    await notify_on_created(clock, sends, ["ok-1@example.org", "boom-1@example.org",
                                           "fail-1@example.org"])
    with bound_request_id("req-from-the-proxy-7"):
        await new_incident(users[Role.RESPONDER][0], clock.now(), None)
    await new_incident(users[Role.RESPONDER][0], clock.now(), None)  # no request id (CLI)
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.DEBUG, logger="app.notifications.dispatcher"):
        await dispatcher.drain()

    lines = [r for r in caplog.records if r.name == "app.notifications.dispatcher"]
    sent = [r for r in lines if "via recorder" in r.getMessage()]
    assert len(sent) == 6
    assert sorted(str(r.request_id) for r in sent) == ["None"] * 3 + ["req-from-the-proxy-7"] * 3
    raised = [r for r in lines if "raised on delivery" in r.getMessage()]
    assert [r.request_id for r in raised] == ["req-from-the-proxy-7", None]
    dead = await Event.filter(type="delivery.dead").order_by("id")
    assert [e.request_id for e in dead] == ["req-from-the-proxy-7", None]


@pytest.fixture(autouse=True)
def _no_stray_request_id():
    """Each test starts outside any request."""
    with bound_request_id(None):
        yield
