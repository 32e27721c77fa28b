"""The outbox and the worker, on the frozen clock: deliveries written with their event, sent
through the installed recorder plugin, retried on the schedule, dead-lettered, leases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app import db
from app.auth.models import Role
from app.events.models import Event
from app.incidents import service as incidents
from app.incidents.models import Impact, Urgency
from app.notifications import service
from app.notifications.dispatcher import Dispatcher
from app.notifications.models import Delivery, DeliveryStatus, NotificationChannel
from app.notifications.registry import Registry
from app.timesource import FrozenClock
from tests.notifications.conftest import dispatch_settings


async def _incident(users, clock, *, impact=Impact.HIGH, urgency=Urgency.HIGH, service_id=None):
    actor = users[Role.RESPONDER][0]
    return await incidents.create_incident(
        incidents.NewIncident(title="Card payments fail", impact=impact, urgency=urgency,
                              service_id=service_id),
        actor=actor, now=clock.now(),
    )


async def _rule(channel, clock, recipients, **extra):
    return await service.create_rule(
        service.RuleInput(name=extra.pop("name", "page ops"), channel_id=channel.id,
                          event_types=extra.pop("event_types", ["incident.created"]),
                          recipients=recipients, **extra),
        now=clock.now(),
    )


async def test_event_writes_deliveries_in_its_transaction(users, clock, recorder_channel):
    await _rule(recorder_channel, clock, ["ok-a@example.org", "ok-b@example.org"])
    incident = await _incident(users, clock)
    rows = await Delivery.filter(event__incident_id=incident.id).order_by("recipient")
    assert [(d.recipient, d.status, d.event_type) for d in rows] == [
        ("ok-a@example.org", DeliveryStatus.PENDING, "incident.created"),
        ("ok-b@example.org", DeliveryStatus.PENDING, "incident.created"),
    ]
    # An event whose transaction rolls back leaves no delivery behind.
    before = await Delivery.all().count()
    with pytest.raises(RuntimeError):
        async with db.atomic():
            await _incident(users, clock)
            raise RuntimeError("the change fails after its event was appended")
    assert await Delivery.all().count() == before


async def test_worker_delivers_through_the_installed_plugin(
    users, clock, recorder_channel, dispatcher: Dispatcher, sends
):
    await _rule(recorder_channel, clock, ["ok-a@example.org"])
    incident = await _incident(users, clock)
    report = await dispatcher.drain()
    assert report.delivered == 1
    [sent] = sends.all()
    delivery = await Delivery.get(event__incident_id=incident.id)
    assert sent["key"] == str(delivery.id)  # the idempotency key is the delivery id
    assert sent["recipient"] == "ok-a@example.org"
    assert sent["subject"] == f"[P1] {incident.reference} opened: Card payments fail"
    assert sent["thread_key"] == f"tocsin-incident-{incident.id}"
    assert sent["token"] == "s3cret-token"  # decrypted for the plugin only
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.provider_reference == f"rec-{delivery.id}"
    assert delivery.delivered_at == clock.now() and delivery.attempts == 1


async def test_broadcast_plugin_gets_one_delivery_without_recipient(
    users, clock, sends, dispatcher: Dispatcher
):
    channel = await service.create_channel(
        name="hook", plugin="recorder-broadcast", config={"path": str(sends.path)},
        now=clock.now())
    await _rule(channel, clock, [])
    await _incident(users, clock)
    await dispatcher.drain()
    assert [(s["recipient"], s["outcome"]) for s in sends.all()] == [(None, "delivered")]


async def test_templates_shape_the_message(users, clock, recorder_channel, dispatcher, sends):
    await _rule(recorder_channel, clock, ["ok@example.org"],
                subject_template="{{ incident.priority }} on {{ incident.reference }}",
                body_template="{{ default_text }}\n-- sent by {{ event.type }}")
    incident = await _incident(users, clock)
    await dispatcher.drain()
    [sent] = sends.all()
    assert sent["subject"] == f"P1 on {incident.reference}"
    assert sent["text"].endswith("-- sent by incident.created")


async def test_service_events_reach_rules_that_name_them_and_say_what_changed(
    users, clock, recorder_channel, dispatcher: Dispatcher, sends
):
    manager = users[Role.MANAGER][0]
    other = await incidents.create_service(name="Payments", description=None, public=True,
                                           actor=manager, now=clock.now())
    types = ["service.created", "service.updated"]
    await _rule(recorder_channel, clock, ["ok-all@example.org"], event_types=types)
    # A service event has no incident, hence no priority: a rule with minPriority skips it;
    # one listing services fires only for those.
    await _rule(recorder_channel, clock, ["ok-p5@example.org"], name="any priority",
                event_types=types, min_priority="P5")
    await _rule(recorder_channel, clock, ["ok-payments@example.org"], name="payments only",
                event_types=types, service_ids=[other.id])
    checkout = await incidents.create_service(
        name="Checkout", description="Web shop", public=True, actor=manager, now=clock.now())
    await incidents.update_service(checkout.id, {"name": "Shop checkout", "public": False},
                                   actor=manager, now=clock.now())
    report = await dispatcher.drain()
    assert report.delivered == 2
    created, updated = sends.all()
    assert {created["recipient"], updated["recipient"]} == {"ok-all@example.org"}
    assert (created["event_type"], created["incident"], created["thread_key"]) == (
        "service.created", None, None)
    assert created["subject"] == "Service 'Checkout' created"
    assert updated["subject"] == "Service 'Shop checkout' updated: name, public"
    assert "name: 'Checkout' -> 'Shop checkout'" in updated["text"]
    assert "public: True -> False" in updated["text"]


async def test_retries_follow_the_schedule_then_dead_letter(
    users, clock: FrozenClock, recorder_channel, dispatcher: Dispatcher, sends
):
    # A second channel hears about dead deliveries through an ordinary rule.
    await _rule(recorder_channel, clock, ["retry@example.org"])
    await _rule(recorder_channel, clock, ["ok-oncall@example.org"], name="dead letters",
                event_types=["delivery.dead"])
    incident = await _incident(users, clock)
    delivery = await Delivery.get(event__incident_id=incident.id, recipient="retry@example.org")
    start = clock.now()
    waits = []
    for expected_wait in (10, 60, 600):
        await dispatcher.drain()
        await delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.RETRYING
        assert delivery.last_error == "mailbox busy"
        waits.append((delivery.next_attempt_at - clock.now()).total_seconds())
        assert waits[-1] == expected_wait
        # Not due a moment before its time.
        clock.advance(expected_wait - 1)
        assert (await dispatcher.run_once()).claimed == 0
        clock.advance(1)
    await dispatcher.drain()
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DEAD and delivery.attempts == 4
    assert delivery.next_attempt_at is None
    assert (clock.now() - start).total_seconds() == 670
    dead = await Event.get(type="delivery.dead")
    assert dead.payload["deliveryId"] == delivery.id and dead.incident_id == incident.id
    assert dead.payload["error"] == "mailbox busy"
    # The dead-letter rule routed it like any other event.
    await dispatcher.drain()
    notice = [s for s in sends.all() if s["event_type"] == "delivery.dead"]
    assert len(notice) == 1 and notice[0]["recipient"] == "ok-oncall@example.org"
    assert "could not be delivered" in notice[0]["subject"]


async def test_jitter_spreads_waits_within_twenty_percent(
    users, clock, recorder_channel, registry: Registry
):
    await _rule(recorder_channel, clock, ["retry@example.org"])
    for draw, expected in ((0.0, 8.0), (1.0, 12.0)):
        await _incident(users, clock)
        worker = Dispatcher(registry=registry, clock=clock, settings=dispatch_settings(),
                            draw=lambda d=draw: d)
        await worker.drain()
        latest = await Delivery.all().order_by("-id").first()
        assert latest is not None
        assert (latest.next_attempt_at - clock.now()).total_seconds() == pytest.approx(expected)


async def test_retry_after_is_honoured(users, clock, sends, dispatcher):
    channel = await service.create_channel(
        name="slow provider", plugin="recorder",
        config={"path": str(sends.path), "retry_after": 900}, now=clock.now())
    await _rule(channel, clock, ["retry@example.org"])
    await _incident(users, clock)
    await dispatcher.drain()
    delivery = await Delivery.get()
    assert delivery.next_attempt_at == clock.now() + timedelta(seconds=900)


async def test_permanent_failure_dies_at_once_and_gone_disables_the_channel(
    users, clock, recorder_channel, dispatcher
):
    await _rule(recorder_channel, clock, ["fail@example.org", "gone@example.org"])
    await _incident(users, clock)
    await dispatcher.drain()
    rows = {d.recipient: d for d in await Delivery.filter(event_type="incident.created")}
    assert rows["fail@example.org"].status == DeliveryStatus.DEAD
    assert rows["fail@example.org"].attempts == 1
    assert rows["gone@example.org"].status == DeliveryStatus.DEAD
    channel = await NotificationChannel.get(id=recorder_channel.id)
    assert channel.enabled is False and "destination removed" in (channel.disabled_reason or "")
    assert await Event.filter(type="delivery.dead").count() == 2


async def test_a_hanging_or_crashing_plugin_is_retried(users, clock, recorder_channel,
                                                       registry):
    worker = Dispatcher(registry=registry, clock=clock,
                        settings=dispatch_settings(send_timeout=0.2), draw=lambda: 0.5)
    await _rule(recorder_channel, clock, ["slow@example.org", "boom@example.org"])
    await _incident(users, clock)
    await worker.drain()
    rows = {d.recipient: d for d in await Delivery.all()}
    assert rows["slow@example.org"].status == DeliveryStatus.RETRYING
    assert "longer than 0.2 s" in (rows["slow@example.org"].last_error or "")
    assert rows["boom@example.org"].status == DeliveryStatus.RETRYING
    assert "RuntimeError: the plugin crashed" in (rows["boom@example.org"].last_error or "")


async def test_an_expired_lease_is_claimed_again_and_the_old_claim_cannot_record(
    users, clock: FrozenClock, recorder_channel, dispatcher: Dispatcher, sends
):
    await _rule(recorder_channel, clock, ["ok@example.org"])
    await _incident(users, clock)
    # A worker claims the delivery, then dies before sending.
    old_token, claimed = await dispatcher.claim_due_deliveries()
    assert len(claimed) == 1
    assert (await dispatcher.run_once()).claimed == 0  # still leased
    clock.advance(59)
    assert (await dispatcher.run_once()).claimed == 0
    clock.advance(2)
    report = await dispatcher.run_once()
    assert report.claimed == 1 and report.delivered == 1
    delivery = await Delivery.get()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2
    # The first worker comes back to life and records a failure: it no longer holds the claim.
    jobs = await dispatcher._prepare(claimed)
    from app.notifications.sdk import DeliveryResult

    late = await dispatcher._record(old_token, jobs, [DeliveryResult.failed("late")])
    assert late.lost_claims == 1
    await delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED


async def test_deliveries_of_a_disabled_channel_die_but_tests_still_send(
    users, clock, recorder_channel, dispatcher, sends
):
    await _rule(recorder_channel, clock, ["ok@example.org"])
    await _incident(users, clock)
    await service.update_channel(recorder_channel.id, {"enabled": False}, now=clock.now())
    test = await service.test_channel(recorder_channel.id, "ok-test@example.org",
                                      now=clock.now())
    await dispatcher.drain()
    rows = {d.recipient: d for d in await Delivery.all()}
    assert rows["ok@example.org"].status == DeliveryStatus.DEAD
    assert rows["ok@example.org"].last_error == "the channel is disabled"
    assert rows["ok-test@example.org"].status == DeliveryStatus.DELIVERED
    assert [s["recipient"] for s in sends.all()] == ["ok-test@example.org"]
    assert test.event_type == "test"
