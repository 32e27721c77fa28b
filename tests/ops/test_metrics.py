"""/metrics as Prometheus scrapes it: operations, errors by code, HTTP statuses, and gauges
read from the database at scrape time (the seam other domains register theirs with)."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.asgi import create_app
from app.auth.models import Role
from app.config import Settings
from app.ops import lifecycle
from app.ops.metrics import MAX_OPERATION_NAMES, register_gauge, unregister_gauge

CREATE_SERVICE = "mutation($name: String!) { createService(input: {name: $name}) { id } }"
CREATE_INCIDENT = """
mutation($service: ID!, $impact: Impact!, $urgency: Urgency!) {
  createIncident(input: {title: "Down", serviceId: $service, impact: $impact, urgency: $urgency})
  { id priority }
}"""


async def scrape(http: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_operations_errors_and_statuses_are_counted(http, api):
    before = await scrape(http)
    service = (await api(CREATE_SERVICE, {"name": "Checkout"})).ok()["createService"]["id"]
    named = await http.post("/graphql", json={
        "query": "query OpenIncidents { incidents(first: 5) { totalCount } }",
        "operationName": "OpenIncidents"},
        headers={"authorization": f"Bearer {api.tokens[Role.VIEWER]}"})
    assert named.status_code == 200
    forbidden = await api(CREATE_SERVICE, {"name": "Nope"}, role=Role.VIEWER)
    assert forbidden.codes == ["FORBIDDEN"]
    bad = await api(CREATE_INCIDENT, {"service": service, "impact": "HUGE", "urgency": "LOW"})
    assert bad.codes == ["BAD_USER_INPUT"]
    unauthenticated = await api("{ incidents(first: 1) { totalCount } }", role=None)
    assert unauthenticated.codes == ["UNAUTHENTICATED"]
    garbage = await http.post("/graphql", content=b"{",
                              headers={"content-type": "application/json"})
    assert garbage.status_code == 400

    after = await scrape(http)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("tocsin_graphql_operations_total", operation="createService", type="mutation") == 2
    assert grew("tocsin_graphql_operations_total", operation="OpenIncidents", type="query") == 1
    assert grew("tocsin_graphql_errors_total", operation="createService", code="FORBIDDEN") == 1
    assert grew("tocsin_graphql_errors_total", operation="createIncident",
                code="BAD_USER_INPUT") == 1
    assert grew("tocsin_graphql_errors_total", operation="incidents", code="UNAUTHENTICATED") == 1
    assert grew("tocsin_graphql_operation_duration_seconds_count",
                operation="OpenIncidents", type="query") == 1
    assert grew("tocsin_http_requests_total", method="POST", route="/graphql", status="200") >= 4
    assert grew("tocsin_http_requests_total", method="POST", route="/graphql", status="400") >= 1
    assert grew("tocsin_http_requests_total", method="GET", route="/metrics", status="200") == 1
    assert grew("tocsin_http_request_duration_seconds_count", route="/graphql") >= 5


async def test_unknown_paths_and_operation_names_keep_labels_bounded(http, api):
    await http.get("/no/such/path/42")
    for i in range(MAX_OPERATION_NAMES + 20):
        response = await http.post("/graphql", json={
            "query": f"query Op{i} {{ __typename }}", "operationName": f"Op{i}"})
        assert response.status_code == 200
    samples = await scrape(http)
    assert value(samples, "tocsin_http_requests_total", method="GET", route="other",
                 status="404") >= 1
    assert not any("/no/such" in str(labels) for _, labels in samples)
    names = {dict(labels)["operation"] for name, labels in samples
             if name == "tocsin_graphql_operations_total"}
    assert len(names) <= MAX_OPERATION_NAMES + 1  # + "other"
    assert value(samples, "tocsin_graphql_operations_total", operation="other",
                 type="query") >= 20


async def test_open_incidents_by_priority_come_from_the_database(http, api):
    service = (await api(CREATE_SERVICE, {"name": "Payments"})).ok()["createService"]["id"]
    made = []
    for impact, urgency in [("HIGH", "HIGH"), ("HIGH", "HIGH"), ("LOW", "HIGH")]:
        made.append((await api(CREATE_INCIDENT, {
            "service": service, "impact": impact, "urgency": urgency})).ok()["createIncident"])
    assert [m["priority"] for m in made] == ["P1", "P1", "P3"]
    (await api('mutation($id: ID!) { resolveIncident(id: $id, resolution: "fixed") { status } }',
               {"id": made[0]["id"]})).ok()
    samples = await scrape(http)
    assert value(samples, "tocsin_open_incidents", priority="P1") == 1
    assert value(samples, "tocsin_open_incidents", priority="P3") == 1
    assert value(samples, "tocsin_open_incidents", priority="P5") == 0
    assert ("tocsin_open_incidents", (("priority", "P5"),)) in samples  # zero, not missing


async def test_a_failing_or_slow_gauge_is_left_out_not_the_scrape(database, clock):
    async def outbox_depth() -> dict[tuple[str, ...], float]:
        return {("webhook", "PENDING"): 3, ("email", "DEAD"): 1}

    async def broken() -> float:
        raise RuntimeError("table missing")

    async def slow() -> float:
        await asyncio.sleep(60)
        return 1

    # Long enough for the real gauges' SQL on a busy machine (0.2 s was not, on PostgreSQL).
    settings = Settings(database_url="unused://", metrics_gauge_timeout=1.5,
                        _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings, clock, manage_db=False)
    register_gauge("test_deliveries", "Deliveries by plugin and status.", outbox_depth,
                   labels=("plugin", "status"))
    register_gauge("test_broken", "Always fails.", broken)
    register_gauge("test_slow", "Never in time.", slow)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as http:
            samples = await scrape(http)
    finally:
        for name in ("test_deliveries", "test_broken", "test_slow"):
            unregister_gauge(name)
    assert value(samples, "test_deliveries", plugin="webhook", status="PENDING") == 3
    assert value(samples, "test_deliveries", plugin="email", status="DEAD") == 1
    assert not any(name in ("test_broken", "test_slow") for name, _ in samples)
    assert value(samples, "tocsin_scrape_gauge_failures_total", gauge="test_broken") == 1
    assert value(samples, "tocsin_scrape_gauge_failures_total", gauge="test_slow") == 1
    assert ("tocsin_open_incidents", (("priority", "P1"),)) in samples


async def test_metrics_can_be_switched_off(database, clock):
    settings = Settings(database_url="unused://", metrics=False,
                        _env_file=None)  # type: ignore[call-arg]
    app = create_app(settings, clock, manage_db=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as http:
        assert (await http.get("/metrics")).status_code == 404
        assert (await http.get("/healthz")).status_code == 200


async def test_readyz_reports_each_registered_dependency(http):
    ready = await http.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ok", "database": "up"}

    async def broker_down() -> None:
        raise ConnectionError("redis refused")

    async def broker_up() -> None:
        return None

    try:
        lifecycle.add_readiness_check("broker", broker_down)
        down = await http.get("/readyz")
        assert down.status_code == 503
        assert down.json() == {"status": "unavailable", "database": "up", "broker": "down"}
        lifecycle.add_readiness_check("broker", broker_up)
        up = await http.get("/readyz")
        assert up.status_code == 200 and up.json()["broker"] == "up"
        await lifecycle.drain(1)
        draining = await http.get("/readyz")
        assert draining.status_code == 503 and draining.json()["status"] == "draining"
    finally:
        lifecycle.remove_readiness_check("broker")
        lifecycle.reset()
