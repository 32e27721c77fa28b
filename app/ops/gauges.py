"""The scrape-time gauges Tocsin's core provides, read from the database at each scrape (so
every API process reports the same truth, whoever did the work). Each is one small grouped
query over an index range; the unbounded parts of the tables (delivered rows, stopped
timers) are never scanned whole: `bench/ops_gauges.py` measures a scrape over 100,000
deliveries against one over 1,000.

Other domains may register theirs beside their own code with `app.ops.metrics.register_gauge`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise.expressions import Q
from tortoise.functions import Count, Min

from app.incidents.models import Incident, Priority
from app.incidents.rules import OPEN_STATUSES
from app.notifications.models import DUE_STATUSES, Delivery, DeliveryStatus, NotificationChannel
from app.ops.metrics import GaugeCollect, register_gauge
from app.slas.models import ACTIVE_STATES, SlaKind, SlaState, SlaTimer
from app.timesource import Clock, SystemClock

GaugeRows = dict[tuple[str, ...], float]


async def open_incidents_by_priority() -> GaugeRows:
    rows = await (
        Incident.filter(status__in=[str(s) for s in OPEN_STATUSES])
        .annotate(n=Count("id"))
        .group_by("priority")
        .values("priority", "n")
    )
    counts: GaugeRows = {(str(p),): 0.0 for p in Priority}
    for row in rows:
        counts[(str(row["priority"]),)] = float(row["n"])
    return counts


async def outbox_pending() -> float:
    """Deliveries not yet sent: PENDING or RETRYING (the (status, next_attempt_at) index)."""
    return float(await Delivery.filter(status__in=list(DUE_STATUSES)).count())


def outbox_oldest_pending_age(clock: Clock) -> GaugeCollect:
    async def collect() -> float:
        """Seconds the longest-waiting due delivery has waited past its send time (0 when
        nothing is due): how far the workers are behind. A retry waiting for its backoff is
        not late; one whose time has come counts from then."""
        now = clock.now()
        rows = await (
            Delivery.filter(status__in=list(DUE_STATUSES), next_attempt_at__lte=now)
            .annotate(oldest=Min("next_attempt_at"))
            .group_by("status")
            .values("status", "oldest")
        )
        oldest = [row["oldest"] for row in rows if row["oldest"] is not None]
        if not oldest:
            return 0.0
        first = min(_aware(moment, now) for moment in oldest)
        return max((now - first).total_seconds(), 0.0)

    return collect


def _aware(moment: datetime | str, now: datetime) -> datetime:
    if isinstance(moment, str):  # an aggregate over SQLite comes back as the stored text
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=now.tzinfo)


DELIVERED_WINDOW = timedelta(hours=1)


def deliveries_by_plugin_and_status(clock: Clock) -> GaugeCollect:
    async def collect() -> GaugeRows:
        """Deliveries by their channel's plugin and status: PENDING, RETRYING and DEAD all of
        them, DELIVERED those delivered in the last hour. Two index ranges — (status,
        next_attempt_at) and (status, delivered_at) — never a scan of the whole history."""
        now = clock.now()
        waiting_or_dead = await (
            Delivery.filter(status__in=[*DUE_STATUSES, DeliveryStatus.DEAD])
            .annotate(n=Count("id")).group_by("channel_id", "status")
            .values("channel_id", "status", "n")
        )
        delivered = await (
            Delivery.filter(status=DeliveryStatus.DELIVERED,
                            delivered_at__gte=now - DELIVERED_WINDOW)
            .annotate(n=Count("id")).group_by("channel_id").values("channel_id", "n")
        )
        plugins = dict(await NotificationChannel.all().values_list("id", "plugin"))
        counts: GaugeRows = {(str(plugin), str(status)): 0.0
                             for plugin in set(plugins.values()) for status in DeliveryStatus}
        rows = [*waiting_or_dead, *({**row, "status": DeliveryStatus.DELIVERED}
                                    for row in delivered)]
        for row in rows:
            key = (str(plugins.get(row["channel_id"], "unknown")), str(row["status"]))
            counts[key] = counts.get(key, 0.0) + float(row["n"])
        return counts

    return collect


SLA_GAUGE_STATES = ("RUNNING", "PAUSED", "BREACHED")


def sla_timers_by_kind_and_state(clock: Clock) -> GaugeCollect:
    async def collect() -> GaugeRows:
        """The timers of open work (state RUNNING or PAUSED: the (state, next_at) index), by
        kind: `RUNNING` within target, `PAUSED` (on hold) within target, `BREACHED` past target
        (running or paused). Stopped timers (MET, BREACHED, CANCELLED) are history, not load."""
        now = clock.now()
        active = SlaTimer.filter(state__in=[str(s) for s in ACTIVE_STATES])
        by_state = await (
            active.annotate(n=Count("id")).group_by("kind", "state").values("kind", "state", "n")
        )
        # Past target: the breach is recorded, or due while the clock has not emitted it yet.
        late = await (
            SlaTimer.filter(Q(breached_at__isnull=False)
                            | Q(state=SlaState.RUNNING, due_at__lte=now),
                            state__in=[str(s) for s in ACTIVE_STATES])
            .annotate(n=Count("id")).group_by("kind", "state").values("kind", "state", "n")
        )
        counts: GaugeRows = {(str(kind), state): 0.0
                             for kind in SlaKind for state in SLA_GAUGE_STATES}
        for row in by_state:
            counts[(str(row["kind"]), str(row["state"]))] += float(row["n"])
        for row in late:
            counts[(str(row["kind"]), str(row["state"]))] -= float(row["n"])
            counts[(str(row["kind"]), "BREACHED")] += float(row["n"])
        return counts

    return collect


def register_core_gauges(clock: Clock | None = None) -> None:
    clock = clock or SystemClock()
    register_gauge(
        "tocsin_open_incidents", "Open incidents (NEW, ACKNOWLEDGED, IN_PROGRESS, ON_HOLD).",
        open_incidents_by_priority, labels=("priority",),
    )
    register_gauge(
        "tocsin_outbox_pending", "Deliveries waiting to be sent (PENDING or RETRYING).",
        outbox_pending,
    )
    register_gauge(
        "tocsin_outbox_oldest_pending_age_seconds",
        "Seconds the longest-waiting due delivery has waited past its send time (0: none due).",
        outbox_oldest_pending_age(clock),
    )
    register_gauge(
        "tocsin_deliveries",
        "Deliveries by their channel's plugin and status (DELIVERED: in the last hour).",
        deliveries_by_plugin_and_status(clock), labels=("plugin", "status"),
    )
    register_gauge(
        "tocsin_sla_timers",
        "SLA timers of open work by kind: RUNNING or PAUSED within target, BREACHED past it.",
        sla_timers_by_kind_and_state(clock), labels=("kind", "state"),
    )
