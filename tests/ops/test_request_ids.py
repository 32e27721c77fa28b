"""Request ids: every response names its request, and the events a request appends carry it."""

from __future__ import annotations

import io
import json
import logging

import pytest

from app.auth.models import Role
from app.events.models import Event
from app.logs import JsonFormatter, RequestIdFilter, bound_request_id

CREATE_SERVICE = "mutation { createService(input: {name: \"Search\"}) { id } }"
CREATE_INCIDENT = """
mutation($service: ID!) {
  createIncident(input: {title: "Slow", serviceId: $service, impact: LOW, urgency: LOW}) { id }
}"""


async def test_every_response_carries_a_fresh_request_id(http):
    first = await http.get("/healthz")
    second = await http.post("/graphql", json={"query": "{ __typename }"})
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert ids[0] != ids[1]


async def test_a_sane_incoming_request_id_is_kept(http):
    response = await http.get("/healthz", headers={"X-Request-ID": "edge-7f3a:42"})
    assert response.headers["x-request-id"] == "edge-7f3a:42"
    assert response.headers.get_list("x-request-id") == ["edge-7f3a:42"]


@pytest.mark.parametrize("incoming", ["", "has space", "x" * 129, "quote\"d", "new\nline"])
async def test_an_odd_incoming_request_id_is_replaced(http, incoming):
    response = await http.get("/healthz", headers=[(b"x-request-id", incoming.encode())])
    assert response.headers["x-request-id"] != incoming
    assert len(response.headers["x-request-id"]) == 32


async def test_events_record_the_request_that_appended_them(http, api):
    made = await http.post(
        "/graphql", json={"query": CREATE_SERVICE},
        headers={"authorization": f"Bearer {api.tokens[Role.ADMIN]}",
                 "X-Request-ID": "req-service-1"},
    )
    service = made.json()["data"]["createService"]["id"]
    response = await http.post(
        "/graphql", json={"query": CREATE_INCIDENT, "variables": {"service": service}},
        headers={"authorization": f"Bearer {api.tokens[Role.ADMIN]}",
                 "X-Request-ID": "req-incident-1"},
    )
    assert response.json()["data"]["createIncident"]["id"]
    events = await Event.filter(type="incident.created")
    assert [e.request_id for e in events] == ["req-incident-1"]


async def test_events_outside_requests_have_no_request_id(database, clock):
    from app import db
    from app.events import service as events

    async with db.atomic():
        appended = await events.append("test.outside", now=clock.now())
    assert (await Event.get(id=appended.id)).request_id is None
    with bound_request_id("worker-rebound"):
        async with db.atomic():
            again = await events.append("test.rebound", now=clock.now())
    assert (await Event.get(id=again.id)).request_id == "worker-rebound"


def test_json_log_lines_carry_the_bound_request_id():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("tests.ops.request_ids")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with bound_request_id("abc-123"):
            logger.warning("inside %s", "the request")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["requestId"] == "abc-123" and inside["message"] == "inside the request"
    assert "requestId" not in outside
