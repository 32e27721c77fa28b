"""The `incidents` connection: filters, orders, cursors, totalCount and the page-size cap."""

from __future__ import annotations

from app.auth.models import Role
from app.incidents import service
from app.incidents.models import Impact, IncidentStatus, Urgency

PAGE = """query($first: Int, $after: String, $filter: IncidentFilter, $order: IncidentOrder) {
  incidents(first: $first, after: $after, filter: $filter, orderBy: $order) {
    totalCount pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { reference priority status } } } }"""


async def _seed(users, clock, count=7):
    actor = users[Role.RESPONDER][0]
    levels = [Impact.HIGH, Impact.MEDIUM, Impact.LOW]
    for n in range(count):
        clock.advance(60)
        await service.create_incident(
            service.NewIncident(title=f"incident {n + 1}", impact=levels[n % 3],
                                urgency=Urgency.MEDIUM), actor=actor, now=clock.now())


async def test_walks_all_pages_newest_first(api, users, clock):
    await _seed(users, clock)
    seen, after = [], None
    while True:
        page = (await api(PAGE, {"first": 3, "after": after})).ok()["incidents"]
        assert page["totalCount"] == 7
        seen += [e["node"]["reference"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == [f"INC-{n}" for n in range(7, 0, -1)]


async def test_orders(api, users, clock):
    await _seed(users, clock)
    oldest = (await api(PAGE, {"first": 2, "order": "CREATED_AT_ASC"})).ok()["incidents"]
    assert [e["node"]["reference"] for e in oldest["edges"]] == ["INC-1", "INC-2"]
    by_priority = (await api(PAGE, {"first": 4, "order": "PRIORITY"})).ok()["incidents"]
    assert [e["node"]["priority"] for e in by_priority["edges"]] == ["P2", "P2", "P2", "P3"]
    rest = (await api(PAGE, {"first": 10, "order": "PRIORITY",
                             "after": by_priority["pageInfo"]["endCursor"]})).ok()["incidents"]
    assert [e["node"]["priority"] for e in rest["edges"]] == ["P3", "P4", "P4"]


async def test_filters(api, users, clock):
    await _seed(users, clock)
    await service.change_status(1, IncidentStatus.CANCELLED, actor=users[Role.ADMIN][0],
                                now=clock.now())
    open_p2 = (await api(PAGE, {"filter": {"open": True, "priority": ["P2"]}})).ok()
    assert [e["node"]["reference"] for e in open_p2["incidents"]["edges"]] == ["INC-7", "INC-4"]
    found = (await api(PAGE, {"filter": {"search": "INCIDENT 3"}})).ok()["incidents"]
    assert found["totalCount"] == 1 and found["edges"][0]["node"]["reference"] == "INC-3"
    closed = (await api(PAGE, {"filter": {"status": ["CANCELLED"]}})).ok()["incidents"]
    assert [e["node"]["reference"] for e in closed["edges"]] == ["INC-1"]


async def test_page_size_is_capped(api):
    result = await api(PAGE, {"first": 101})
    assert result.codes == ["BAD_USER_INPUT"] and "100" in result.errors[0]["message"]
    assert (await api(PAGE, {"first": 1000000})).codes == ["BAD_USER_INPUT"]


async def test_garbage_cursor_is_bad_user_input(api):
    assert (await api(PAGE, {"after": "not-a-cursor"})).codes == ["BAD_USER_INPUT"]
