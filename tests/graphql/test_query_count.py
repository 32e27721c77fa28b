"""DataLoaders: a page of 50 incidents with service, assignee and a timeline slice costs the
same number of SQL queries as a page of 5."""

from __future__ import annotations

import logging

import pytest

from app.auth.models import Role
from app.incidents import service
from app.incidents.models import Impact, Urgency

QUERY = """query($first: Int) { incidents(first: $first) { totalCount edges { node {
  reference service { name status } assignee { name }
  timeline(first: 5) { totalCount edges { node { type actor { name } } } } } } } }"""


class QueryCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH")):
            self.count += 1


@pytest.fixture
def count_queries():
    logger = logging.getLogger("tortoise.db_client")
    handler = QueryCounter()
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


async def test_page_of_50_costs_what_a_page_of_5_costs(api, users, clock, count_queries):
    admin, responder = users[Role.ADMIN][0], users[Role.RESPONDER][0]
    services = [await service.create_service(name=f"svc {n}", description=None, public=True,
                                             actor=admin, now=clock.now()) for n in range(5)]
    for n in range(50):
        made = await service.create_incident(
            service.NewIncident(title=f"i{n}", impact=Impact.LOW, urgency=Urgency.LOW,
                                service_id=services[n % 5].id, assignee_id=responder.id),
            actor=responder, now=clock.now())
        await service.add_note(made.id, "note", public=False, actor=admin, now=clock.now())

    (await api("{ viewer { name } }")).ok()  # the token's first use records lastUsedAt
    costs = {}
    for size in (5, 50):
        count_queries.count = 0
        data = (await api(QUERY, {"first": size})).ok()
        assert len(data["incidents"]["edges"]) == size
        node = data["incidents"]["edges"][0]["node"]
        assert node["assignee"] == {"name": "responder"}
        assert node["timeline"]["totalCount"] == 2
        costs[size] = count_queries.count
    assert costs[5] > 0
    assert costs[50] == costs[5], costs
