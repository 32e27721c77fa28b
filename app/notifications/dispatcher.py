"""The delivery worker: claims due Delivery rows under a lease, sends them through their
plugins concurrently (a bound on how many at once, a timeout on each), and records DELIVERED,
RETRYING (backoff with jitter, Retry-After honoured) or DEAD (with a `delivery.dead` event on
the one event path, so rules can route it).

Claims are `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, so any number of workers share the
outbox; on SQLite one worker runs. A claim is a lease (`claimed_until`): when a worker dies
mid-batch its rows become due again once the lease expires, and another worker sends them
(at-least-once; the delivery id is the idempotency key). A worker records an outcome only
while it still holds the claim, so a slow worker whose lease was taken over cannot overwrite
the newer outcome.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from pydantic import BaseModel
from tortoise.expressions import F

from app import db
from app.config import Settings
from app.events import service as events
from app.events.models import Event
from app.incidents.models import Incident, Service
from app.logs import bound_request_id
from app.notifications import channels as configs
from app.notifications.messages import EventFacts, build_message
from app.notifications.models import (
    Delivery,
    DeliveryStatus,
    NotificationChannel,
    NotificationRule,
)
from app.notifications.outbox import subscribe_wakeup, unsubscribe_wakeup
from app.notifications.registry import Registry
from app.notifications.retry import next_attempt_at
from app.notifications.sdk import DeliveryResult, IncidentSummary, Message, Notifier
from app.timesource import Clock

log = logging.getLogger(__name__)

ERROR_MAX = 2000


@dataclass(frozen=True)
class DispatchSettings:
    schedule: list[float]
    lease_seconds: float = 60.0
    send_timeout: float = 30.0
    concurrency: int = 32
    batch_size: int = 200
    poll_seconds: float = 1.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DispatchSettings:
        return cls(
            schedule=settings.retry_schedule,
            lease_seconds=settings.delivery_lease_seconds,
            send_timeout=settings.delivery_send_timeout,
            concurrency=max(1, settings.delivery_concurrency),
            batch_size=max(1, settings.delivery_batch_size),
            poll_seconds=settings.delivery_poll_seconds,
        )


@dataclass
class ClaimedDelivery:
    """The columns of a claimed row the worker needs (plain values: batches are large)."""

    COLUMNS: ClassVar[tuple[str, ...]] = (
        "id", "channel_id", "rule_id", "event_id", "event_type", "recipient", "attempts",
        "status",
    )
    id: int
    channel_id: int
    rule_id: int | None
    event_id: int | None
    event_type: str
    recipient: str
    attempts: int
    status: str


@dataclass
class Job:
    """One claimed delivery, ready to send."""

    delivery: ClaimedDelivery
    channel: NotificationChannel | None
    notifier: Notifier | None = None
    config: BaseModel | None = None
    message: Message | None = None
    incident: Incident | None = None
    problem: str | None = None  # why it cannot be sent at all (plugin missing, …)
    permanent: bool = False
    request_id: str | None = None  # of the request that appended the event: logs carry it


@dataclass
class BatchReport:
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    lost_claims: int = 0
    outcomes: dict[int, DeliveryResult] = field(default_factory=dict)


class Dispatcher:
    def __init__(
        self,
        *,
        registry: Registry,
        clock: Clock,
        settings: DispatchSettings,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.settings = settings
        self.draw = draw
        self._semaphore = asyncio.Semaphore(settings.concurrency)

    # ------------------------------------------------------------------ claiming

    async def claim_due_deliveries(self) -> tuple[str, list[ClaimedDelivery]]:
        """Lease up to a batch of due deliveries to this worker; each claim counts an attempt."""
        now = self.clock.now()
        token = secrets.token_hex(8)
        async with db.atomic() as tx:
            conn = tx.connection
            at = Delivery._meta.fields_map["next_attempt_at"].to_db_value(now, Delivery)
            if conn.capabilities.dialect == "postgres":
                sql = ("SELECT id FROM deliveries WHERE status IN ('PENDING', 'RETRYING')"
                       " AND next_attempt_at <= $1 AND (claimed_until IS NULL"
                       " OR claimed_until < $1) ORDER BY next_attempt_at, id LIMIT $2"
                       " FOR UPDATE SKIP LOCKED")
                params: list[Any] = [at, self.settings.batch_size]
            else:  # one writer at a time: the transaction alone makes the claim exclusive
                sql = ("SELECT id FROM deliveries WHERE status IN ('PENDING', 'RETRYING')"
                       " AND next_attempt_at <= ? AND (claimed_until IS NULL"
                       " OR claimed_until < ?) ORDER BY next_attempt_at, id LIMIT ?")
                params = [at, at, self.settings.batch_size]
            ids = [row["id"] for row in await conn.execute_query_dict(sql, params)]
            if ids:
                await Delivery.filter(id__in=ids).update(
                    claimed_until=now + timedelta(seconds=self.settings.lease_seconds),
                    claim_token=token,
                    attempts=F("attempts") + 1,
                )
        if not ids:
            return token, []
        rows = await Delivery.filter(id__in=ids, claim_token=token).order_by("id").values(
            *ClaimedDelivery.COLUMNS
        )
        return token, [ClaimedDelivery(**row) for row in rows]

    async def _prepare(self, claimed: list[ClaimedDelivery]) -> list[Job]:
        """Everything the messages need, in a fixed number of queries per batch."""
        channels = {c.id: c for c in await NotificationChannel.filter(
            id__in={d.channel_id for d in claimed})}
        rule_ids = {d.rule_id for d in claimed if d.rule_id is not None}
        rules = {r.id: r for r in await NotificationRule.filter(id__in=rule_ids)} \
            if rule_ids else {}
        event_ids = {d.event_id for d in claimed if d.event_id is not None}
        events_by_id = {e.id: e for e in await Event.filter(id__in=event_ids)} \
            if event_ids else {}
        incident_ids = {e.incident_id for e in events_by_id.values() if e.incident_id}
        incidents = {i.id: i for i in await Incident.filter(id__in=incident_ids)} \
            if incident_ids else {}
        service_ids = {i.service_id for i in incidents.values() if i.service_id}
        services = {s.id: s.name for s in await Service.filter(id__in=service_ids)} \
            if service_ids else {}

        plugin_state: dict[int, tuple[Notifier | None, BaseModel | None, str | None]] = {}
        jobs: list[Job] = []
        for delivery in claimed:
            channel = channels.get(delivery.channel_id)
            event = events_by_id.get(delivery.event_id) if delivery.event_id else None
            job = Job(delivery=delivery, channel=channel,
                      request_id=event.request_id if event is not None else None)
            jobs.append(job)
            if channel is None:
                job.problem, job.permanent = "the channel was deleted", True
                continue
            if not channel.enabled and delivery.event_type != "test":
                job.problem, job.permanent = "the channel is disabled", True
                continue
            if channel.id not in plugin_state:
                plugin_state[channel.id] = self._plugin_for(channel)
            job.notifier, job.config, job.problem = plugin_state[channel.id]
            if job.problem:
                continue
            incident = incidents.get(event.incident_id) if event and event.incident_id else None
            job.incident = incident
            facts = _facts(delivery, event, incident, services)
            rule = rules.get(delivery.rule_id) if delivery.rule_id else None
            try:
                job.message = build_message(
                    facts, delivery_id=delivery.id, recipient=delivery.recipient,
                    subject_template=rule.subject_template if rule else None,
                    body_template=rule.body_template if rule else None,
                )
            except Exception as exc:  # a template that fails on this event
                job.problem, job.permanent = f"the rule's template failed: {exc}", True
        return jobs

    def _plugin_for(
        self, channel: NotificationChannel
    ) -> tuple[Notifier | None, BaseModel | None, str | None]:
        notifier = self.registry.find(channel.plugin)
        if notifier is None:
            info = self.registry.plugins.get(channel.plugin)
            why = info.error if info is not None else "it is not installed"
            return None, None, f"notifier plugin {channel.plugin!r} is not loaded: {why}"
        try:
            return notifier, configs.plugin_config(notifier, channel), None
        except Exception as exc:  # the plugin changed its Config since the channel was saved
            return notifier, None, f"the channel's config is no longer valid: {exc}"

    # ------------------------------------------------------------------ sending

    async def _send(self, job: Job) -> DeliveryResult:
        # Each send runs in its own task (gather), so the binding stays with this delivery.
        with bound_request_id(job.request_id):
            result = await self._send_bound(job)
            log.debug("delivery %s via %s: %s%s", job.delivery.id,
                      job.channel.plugin if job.channel else "?", result.outcome,
                      f" ({result.error})" if result.error else "")
            return result

    async def _send_bound(self, job: Job) -> DeliveryResult:
        if job.problem is not None:
            if job.permanent:
                return DeliveryResult.failed(job.problem)
            return DeliveryResult.retry(job.problem)
        assert job.notifier is not None and job.message is not None
        async with self._semaphore:
            try:
                result = await asyncio.wait_for(
                    job.notifier.send(job.message, job.config), self.settings.send_timeout
                )
            except TimeoutError:
                return DeliveryResult.retry(
                    f"the send took longer than {self.settings.send_timeout:g} s"
                )
            except Exception as exc:
                log.warning("notifier %s raised on delivery %s", job.channel and
                            job.channel.plugin, job.delivery.id, exc_info=True)
                return DeliveryResult.retry(f"the plugin raised {type(exc).__name__}: {exc}")
        if not isinstance(result, DeliveryResult):
            return DeliveryResult.retry(f"the plugin returned {type(result).__name__}, "
                                        "not a DeliveryResult")
        return result

    # ------------------------------------------------------------------ recording

    async def _record(self, token: str, jobs: list[Job], results: list[DeliveryResult]
                      ) -> BatchReport:
        """Write a batch's outcomes in one transaction, only for rows this claim still holds
        (a worker whose lease expired must not overwrite what the next worker recorded)."""
        now = self.clock.now()
        report = BatchReport(claimed=len(jobs))
        async with db.atomic() as tx:
            held_query = Delivery.filter(id__in=[j.delivery.id for j in jobs],
                                         claim_token=token)
            if db.is_postgres():
                held_query = held_query.select_for_update()
            held = set(await held_query.values_list("id", flat=True))
            delivered: list[tuple[Job, DeliveryResult]] = []
            for job, result in zip(jobs, results, strict=True):
                report.outcomes[job.delivery.id] = result
                if job.delivery.id not in held:
                    report.lost_claims += 1
                    with bound_request_id(job.request_id):
                        log.warning("delivery %s: lease lost before its outcome was recorded",
                                    job.delivery.id)
                    continue
                if result.outcome == "delivered":
                    delivered.append((job, result))
                else:
                    # A delivery.dead event carries the request id of the event it was about.
                    with bound_request_id(job.request_id):
                        await self._record_failure(job, result, now)
                    if result.outcome == "retry" and job.delivery.status == DeliveryStatus.RETRYING:
                        report.retrying += 1
                    else:
                        report.dead += 1
                if result.disable_channel and job.channel is not None:
                    await NotificationChannel.filter(id=job.channel.id).update(
                        enabled=False, updated_at=now,
                        disabled_reason=f"disabled by the plugin: {result.error}",
                    )
            if delivered:
                await self._record_delivered(tx.connection, delivered, now)
                report.delivered += len(delivered)
        return report

    async def _record_delivered(
        self, conn: Any, delivered: list[tuple[Job, DeliveryResult]], now: Any
    ) -> None:
        # The common case, so one statement for the whole batch rather than one per row.
        stamp = Delivery._meta.fields_map["delivered_at"].to_db_value(now, Delivery)
        marks = (["$1", "$2", "$3", "$4"] if conn.capabilities.dialect == "postgres"
                 else ["?"] * 4)
        await conn.execute_many(
            f"UPDATE deliveries SET status = {marks[0]}, delivered_at = {marks[1]}, "
            f"provider_reference = {marks[2]}, next_attempt_at = NULL, last_error = NULL, "
            f"claimed_until = NULL, claim_token = NULL WHERE id = {marks[3]}",
            [[DeliveryStatus.DELIVERED.value, stamp,
              (result.provider_reference or None), job.delivery.id]
             for job, result in delivered],
        )

    async def _record_failure(self, job: Job, result: DeliveryResult, now: Any) -> None:
        delivery = job.delivery
        error = (result.error or "")[:ERROR_MAX] or None
        released: dict[str, Any] = {"claimed_until": None, "claim_token": None}
        retry_at = None
        if result.outcome == "retry":
            retry_at = next_attempt_at(delivery.attempts, self.settings.schedule, now,
                                       retry_after=result.retry_after, draw=self.draw)
        if retry_at is not None:
            delivery.status = DeliveryStatus.RETRYING
            await Delivery.filter(id=delivery.id).update(
                status=DeliveryStatus.RETRYING, next_attempt_at=retry_at, last_error=error,
                **released)
            return
        delivery.status = DeliveryStatus.DEAD
        await Delivery.filter(id=delivery.id).update(
            status=DeliveryStatus.DEAD, next_attempt_at=None,
            last_error=error or "the retry schedule is spent", **released)
        await self._announce_dead(job, error, now)

    async def _announce_dead(self, job: Job, error: str | None, now: Any) -> None:
        delivery = job.delivery
        if delivery.event_type == "delivery.dead":
            return  # a dead notice about a dead notice would chain forever
        await events.append(
            "delivery.dead",
            now=now,
            incident=job.incident,
            payload={
                "deliveryId": delivery.id,
                "channelId": delivery.channel_id,
                "channel": job.channel.name if job.channel else None,
                "recipient": delivery.recipient,
                "eventType": delivery.event_type,
                "eventSequence": str(delivery.event_id) if delivery.event_id else None,
                "attempts": delivery.attempts,
                "error": error,
            },
        )

    # ------------------------------------------------------------------ loops

    async def run_once(self) -> BatchReport:
        """Claim one batch, send it, record the outcomes."""
        token, claimed = await self.claim_due_deliveries()
        if not claimed:
            return BatchReport()
        jobs = await self._prepare(claimed)
        results = await asyncio.gather(*(self._send(job) for job in jobs))
        return await self._record(token, jobs, list(results))

    async def drain(self, max_batches: int = 1000) -> BatchReport:
        """Run batches until nothing is due (tests, benchmarks)."""
        total = BatchReport()
        for _ in range(max_batches):
            report = await self.run_once()
            if report.claimed == 0:
                break
            total.claimed += report.claimed
            total.delivered += report.delivered
            total.retrying += report.retrying
            total.dead += report.dead
            total.lost_claims += report.lost_claims
            total.outcomes.update(report.outcomes)
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: send what is due, then sleep until woken by a commit that
        wrote deliveries, or for the poll interval (retries, other processes' rows)."""
        wakeup = asyncio.Event()
        subscribe_wakeup(wakeup)
        log.info("delivery worker started")
        try:
            while not stop.is_set():
                wakeup.clear()
                try:
                    report = await self.run_once()
                except Exception:
                    log.exception("delivery batch failed; trying again shortly")
                    report = BatchReport()
                if report.claimed >= self.settings.batch_size:
                    continue
                waiters = [asyncio.ensure_future(wakeup.wait()),
                           asyncio.ensure_future(stop.wait())]
                await asyncio.wait(waiters, timeout=self.settings.poll_seconds,
                                   return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
        finally:
            unsubscribe_wakeup(wakeup)
            log.info("delivery worker stopped")


def _facts(
    delivery: ClaimedDelivery,
    event: Event | None,
    incident: Incident | None,
    services: dict[int, str],
) -> EventFacts:
    summary = None
    if incident is not None:
        summary = IncidentSummary(
            reference=incident.reference, title=incident.title, status=str(incident.status),
            priority=str(incident.priority),
            service=services.get(incident.service_id) if incident.service_id else None,
        )
    if event is None:
        return EventFacts(event_id=None, event_type=delivery.event_type, occurred_at=None,
                          note=None, from_status=None, to_status=None, payload={})
    return EventFacts(
        event_id=event.id, event_type=event.type, occurred_at=event.occurred_at,
        note=event.note, from_status=event.from_status, to_status=event.to_status,
        payload=dict(event.payload or {}), incident_id=event.incident_id, incident=summary,
    )
