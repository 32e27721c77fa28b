"""Prometheus metrics (prometheus-client), served at /metrics.

Two kinds:
- Counted in process, per app: HTTP requests by route and status, GraphQL operations and
  their latency by operation, GraphQL errors by `extensions.code`, open WebSockets. Each API
  process counts its own; scrape every process (see docs/deploy.md).
- Computed at scrape time: gauges registered with `register_gauge(name, help, collect)`, where
  `collect` is an async function reading the database (so any API process reports the same
  truth, whichever process did the work, workers included). Each runs under a short timeout;
  one that fails or is slow is left out of that scrape and counted in
  `tocsin_scrape_gauge_failures_total`, never failing the whole scrape.

Operation labels are bounded: the client's operation name when it is a plain GraphQL name
and fewer than `MAX_OPERATION_NAMES` distinct names have been seen, else `other`; a nameless
operation is labelled by its first root field (bounded by the schema).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from strawberry.extensions import SchemaExtension

log = logging.getLogger(__name__)

MAX_OPERATION_NAMES = 200
_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,99}$")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

GaugeValue = float | Mapping[tuple[str, ...], float]
GaugeCollect = Callable[[], Awaitable[GaugeValue]]


@dataclass(frozen=True)
class ScrapeGauge:
    name: str
    help: str
    collect: GaugeCollect
    labels: tuple[str, ...] = ()


_scrape_gauges: dict[str, ScrapeGauge] = {}


def register_gauge(
    name: str, help: str, collect: GaugeCollect, *, labels: tuple[str, ...] = ()
) -> None:
    """Compute gauge `name` at every scrape by awaiting `collect()`.

    Without labels `collect` returns a number; with labels it returns
    `{(label values…): number}` — list every combination you want to see, zeros included
    (a series that vanishes reads as "no data", not 0). Registering a name again replaces it.
    """
    if not _NAME.match(name):
        raise ValueError(f"not a metric name: {name!r}")
    _scrape_gauges[name] = ScrapeGauge(name, help, collect, tuple(labels))


def unregister_gauge(name: str) -> None:
    _scrape_gauges.pop(name, None)


def registered_gauges() -> list[str]:
    return sorted(_scrape_gauges)


class Metrics:
    """The in-process metrics of one app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "tocsin_http_requests", "HTTP requests answered, by route and status.",
            ["method", "route", "status"], registry=r)
        self.http_duration = Histogram(
            "tocsin_http_request_duration_seconds", "HTTP request latency by route.",
            ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.graphql_operations = Counter(
            "tocsin_graphql_operations", "GraphQL operations run, by operation and type.",
            ["operation", "type"], registry=r)
        self.graphql_duration = Histogram(
            "tocsin_graphql_operation_duration_seconds",
            "GraphQL operation latency (parse, validate, execute) by operation.",
            ["operation", "type"], buckets=LATENCY_BUCKETS, registry=r)
        self.graphql_errors = Counter(
            "tocsin_graphql_errors", "GraphQL errors returned, by extensions.code.",
            ["operation", "code"], registry=r)
        self.websockets = Gauge(
            "tocsin_websocket_connections", "WebSocket connections open in this process.",
            registry=r)
        self.gauge_failures = Counter(
            "tocsin_scrape_gauge_failures",
            "Scrape-time gauges left out of a scrape because they failed or timed out.",
            ["gauge"], registry=r)
        self._operation_names: set[str] = set()

    def operation_label(self, name: str | None, root_field: str | None) -> str:
        if name:
            if not _NAME.match(name):
                return "other"
            if name not in self._operation_names:
                if len(self._operation_names) >= MAX_OPERATION_NAMES:
                    return "other"
                self._operation_names.add(name)
            return name
        return root_field or "unknown"

    async def exposition(self, gauge_timeout: float) -> bytes:
        scraped = await collect_scrape_gauges(gauge_timeout, self.gauge_failures)
        return generate_latest(self.registry) + generate_latest(_Families(scraped))

    content_type = CONTENT_TYPE_LATEST


class _Families:
    """A registry-shaped wrapper so `generate_latest` renders gauges computed this scrape."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        yield from self.families


async def collect_scrape_gauges(limit: float, failures: Counter) -> list[Metric]:
    async def one(gauge: ScrapeGauge) -> Metric | None:
        try:
            value = await asyncio.wait_for(gauge.collect(), limit)
            family = GaugeMetricFamily(gauge.name, gauge.help, labels=list(gauge.labels))
            if gauge.labels:
                assert isinstance(value, Mapping)
                for label_values, number in value.items():
                    family.add_metric(list(label_values), float(number))
            else:
                assert not isinstance(value, Mapping)
                family.add_metric([], float(value))
            return family
        except Exception as exc:
            log.warning("gauge %s left out of this scrape: %s", gauge.name,
                        exc or type(exc).__name__)
            failures.labels(gauge=gauge.name).inc()
            return None

    gauges = list(_scrape_gauges.values())
    results = await asyncio.gather(*(one(gauge) for gauge in gauges))
    return [family for family in results if family is not None]


def _operation(document: DocumentNode | None, name: str | None) -> OperationDefinitionNode | None:
    if document is None:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is not None:
        operations = [o for o in operations if o.name is not None and o.name.value == name]
    return operations[0] if len(operations) == 1 or (operations and name) else None


def _first_field(selections: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode],
                 depth: int = 0) -> str | None:
    for selection in selections.selections:
        if isinstance(selection, FieldNode):
            return selection.name.value
        if depth > 5:
            return None
        if isinstance(selection, InlineFragmentNode):
            found = _first_field(selection.selection_set, fragments, depth + 1)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
            found = _first_field(fragments[selection.name.value].selection_set, fragments,
                                 depth + 1)
        else:
            found = None
        if found:
            return found
    return None


def error_code(error: GraphQLError) -> str:
    """The code a client sees (mirrors app.graphql.errors.public_error, without logging)."""
    code = (error.extensions or {}).get("code")
    if isinstance(code, str):
        return code
    return "BAD_USER_INPUT" if error.path is None else "INTERNAL_SERVER_ERROR"


class GraphQLMetrics(SchemaExtension):
    """Counts each operation, its latency and its errors. Listed first among the schema's
    extensions, so it sees errors after the error-code extension has mapped them."""

    def __init__(self, *, metrics: Metrics) -> None:
        self.metrics = metrics

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        elapsed = time.perf_counter() - started
        context = self.execution_context
        document = context.graphql_document
        operation = _operation(document, context.operation_name)
        fragments = {d.name.value: d for d in (document.definitions if document else ())
                     if isinstance(d, FragmentDefinitionNode)}
        root = _first_field(operation.selection_set, fragments) if operation else None
        kind = operation.operation.value if operation else "unknown"
        label = self.metrics.operation_label(context.operation_name, root)
        self.metrics.graphql_operations.labels(operation=label, type=kind).inc()
        self.metrics.graphql_duration.labels(operation=label, type=kind).observe(elapsed)
        result: Any = context.result
        for error in getattr(result, "errors", None) or []:
            self.metrics.graphql_errors.labels(operation=label, code=error_code(error)).inc()


def instrument_schema(schema: Any, metrics: Metrics) -> None:
    """Put the metrics extension first in an already-built strawberry schema."""
    schema.extensions = (lambda: GraphQLMetrics(metrics=metrics), *schema.extensions)
