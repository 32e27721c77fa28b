"""SLA policies, previews and timers through the GraphQL API, as a client sees them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from app.auth.models import Role
from app.slas.models import SlaPolicy

CREATE = """mutation($input: CreateSlaPolicyInput!) {
  createSlaPolicy(input: $input) { id name timezone warnAtPercent holidays
    workingHours { weekday start end } targets { priority kind seconds } } }"""
UPDATE = """mutation($id: ID!, $input: UpdateSlaPolicyInput!) {
  updateSlaPolicy(id: $id, input: $input) { id name timezone warnAtPercent holidays
    workingHours { weekday start end } targets { priority kind seconds } } }"""

OFFICE = {
    "name": "Office hours",
    "timezone": "Europe/Berlin",
    "workingHours": [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(1, 6)],
    "holidays": ["2026-01-12"],
    "targets": [{"priority": "P2", "kind": "RESPONSE", "seconds": 3600},
                {"priority": "P2", "kind": "RESOLUTION", "seconds": 8 * 3600}],
}


async def _policy(api, **changes) -> dict:
    return (await api(CREATE, {"input": {**OFFICE, **changes}}, role=Role.MANAGER)).ok()[
        "createSlaPolicy"]


async def test_create_list_and_update_a_policy(api):
    created = await _policy(api)
    assert created["warnAtPercent"] == 75
    assert created["workingHours"][0] == {"weekday": 1, "start": "09:00", "end": "17:00"}
    listed = (await api("{ slaPolicies { id name targets { priority kind seconds } } }",
                        role=Role.VIEWER)).ok()["slaPolicies"]
    assert [p["name"] for p in listed] == ["Office hours"]
    updated = (await api(UPDATE, {"id": created["id"], "input": {
        "warnAtPercent": 90, "workingHours": None, "timezone": "America/New_York"}},
        role=Role.MANAGER)).ok()["updateSlaPolicy"]
    assert updated["warnAtPercent"] == 90 and updated["workingHours"] == []
    assert updated["timezone"] == "America/New_York"
    assert updated["holidays"] == ["2026-01-12"]  # omitted: unchanged
    assert updated["targets"] == created["targets"]


@pytest.mark.parametrize(("changes", "field"), [
    ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
    ({"workingHours": [{"weekday": 1, "start": "09:00", "end": "13:00"},
                       {"weekday": 1, "start": "12:00", "end": "17:00"}]}, "workingHours[1]"),
    ({"workingHours": [{"weekday": 2, "start": "17:00", "end": "09:00"}]},
     "workingHours[0].end"),
    ({"workingHours": [{"weekday": 8, "start": "09:00", "end": "17:00"}]},
     "workingHours[0].weekday"),
    ({"workingHours": [{"weekday": 1, "start": "9am", "end": "17:00"}]},
     "workingHours[0].start"),
    ({"holidays": ["2026-02-30"]}, "holidays[0]"),
    ({"warnAtPercent": 0}, "warnAtPercent"),
    ({"warnAtPercent": 100}, "warnAtPercent"),
    ({"targets": [{"priority": "P1", "kind": "RESPONSE", "seconds": -5}]}, "targets[0].seconds"),
    ({"targets": [{"priority": "P1", "kind": "RESPONSE", "seconds": 60},
                  {"priority": "P1", "kind": "RESPONSE", "seconds": 90}]}, "targets[1]"),
    ({"name": "  "}, "name"),
])
async def test_bad_policies_are_refused_naming_the_field(api, changes, field):
    response = await api(CREATE, {"input": {**OFFICE, **changes}}, role=Role.MANAGER)
    assert response.codes == ["BAD_USER_INPUT"]
    assert response.errors[0]["extensions"]["field"] == field
    assert await SlaPolicy.all().count() == 0


async def test_bad_updates_change_nothing(api):
    created = await _policy(api)
    response = await api(UPDATE, {"id": created["id"], "input": {
        "warnAtPercent": 50, "timezone": "Nowhere/Land"}}, role=Role.MANAGER)
    assert response.codes == ["BAD_USER_INPUT"]
    assert response.errors[0]["extensions"]["field"] == "timezone"
    policy = await SlaPolicy.get()
    assert (policy.warn_at_percent, policy.timezone) == (75, "Europe/Berlin")
    response = await api(UPDATE, {"id": created["id"], "input": {"name": None}},
                         role=Role.MANAGER)
    assert response.codes == ["BAD_USER_INPUT"]


async def test_only_managers_write_policies(api):
    response = await api(CREATE, {"input": OFFICE}, role=Role.RESPONDER)
    assert response.codes == ["FORBIDDEN"]
    response = await api("{ slaPolicies { id } }", role=None)
    assert response.codes == ["UNAUTHENTICATED"]


async def test_preview_shows_the_due_times_under_the_calendar(api):
    policy = await _policy(api)
    query = """query($id: ID!, $start: DateTime) {
      slaPreview(policyId: $id, priority: P2, start: $start) { kind seconds dueAt warnAt } }"""
    # Friday 2026-01-09 16:00 CET: 1h of Friday, Monday 12th is a holiday, rest on Tuesday.
    rows = (await api(query, {"id": policy["id"], "start": "2026-01-09T16:00:00+01:00"},
                      role=Role.VIEWER)).ok()["slaPreview"]
    by_kind = {r["kind"]: r for r in rows}
    assert datetime.fromisoformat(by_kind["RESPONSE"]["dueAt"]) == datetime.fromisoformat(
        "2026-01-09T17:00:00+01:00")
    assert datetime.fromisoformat(by_kind["RESPONSE"]["warnAt"]) == datetime.fromisoformat(
        "2026-01-09T16:45:00+01:00")
    # 8h: 1h Friday + 7h Tuesday from 09:00 -> Tuesday 16:00 CET.
    assert datetime.fromisoformat(by_kind["RESOLUTION"]["dueAt"]) == datetime.fromisoformat(
        "2026-01-13T16:00:00+01:00")
    # A priority without targets previews nothing; a foreign id is refused.
    none = await api("""query($id: ID!) { slaPreview(policyId: $id, priority: P5) { kind } }""",
                     {"id": policy["id"]}, role=Role.VIEWER)
    assert none.ok()["slaPreview"] == []
    bad = await api("""{ slaPreview(policyId: "nope", priority: P1) { kind } }""")
    assert bad.codes == ["BAD_USER_INPUT"]


async def test_service_policy_and_incident_timers(api, clock):
    policy = await _policy(api, workingHours=[], timezone="UTC")  # 24x7
    service = (await api("""mutation($p: ID) { createService(input: {name: "Payments",
        slaPolicyId: $p}) { id slaPolicy { name } } }""", {"p": policy["id"]},
                         role=Role.MANAGER)).ok()["createService"]
    assert service["slaPolicy"] == {"name": "Office hours"}
    incident = (await api("""mutation($s: ID!) { createIncident(input: {title: "Down",
        serviceId: $s, impact: HIGH, urgency: MEDIUM}) { id } }""", {"s": service["id"]},
                          role=Role.RESPONDER)).ok()["createIncident"]
    clock.advance(600)
    read = """{ incident(reference: "INC-1") { slaTimers { kind state targetSeconds dueAt
      elapsedSeconds remainingSeconds breachedAt } } }"""
    timers = (await api(read, role=Role.VIEWER)).ok()["incident"]["slaTimers"]
    assert [t["kind"] for t in timers] == ["RESPONSE", "RESOLUTION"]
    assert timers[0]["state"] == "RUNNING"
    assert (timers[0]["elapsedSeconds"], timers[0]["remainingSeconds"]) == (600, 3000)
    created = clock.now() - timedelta(seconds=600)
    assert datetime.fromisoformat(timers[0]["dueAt"]) == created + timedelta(seconds=3600)
    await api("""mutation($id: ID!) { changeIncidentStatus(id: $id, status: IN_PROGRESS)
      { id } }""", {"id": incident["id"]}, role=Role.RESPONDER)
    await api("""mutation($id: ID!) { changeIncidentStatus(id: $id, status: ON_HOLD)
      { id } }""", {"id": incident["id"]}, role=Role.RESPONDER)
    timers = (await api(read, role=Role.VIEWER)).ok()["incident"]["slaTimers"]
    assert [t["state"] for t in timers] == ["MET", "PAUSED"]
    assert timers[1]["dueAt"] is None

    # Removing the policy from the service (explicit null) and an unknown policy id.
    cleared = (await api("""mutation($id: ID!) { updateService(id: $id, input:
        {slaPolicyId: null}) { slaPolicy { name } } }""", {"id": service["id"]},
                         role=Role.MANAGER)).ok()["updateService"]
    assert cleared["slaPolicy"] is None
    from app.graphql.ids import to_global_id

    missing = await api("""mutation($id: ID!, $p: ID) { updateService(id: $id, input:
        {slaPolicyId: $p}) { id } }""", {"id": service["id"], "p": to_global_id("SlaPolicy", 99)},
                        role=Role.MANAGER)
    assert missing.codes == ["NOT_FOUND"]
    assert missing.errors[0]["extensions"]["field"] == "slaPolicyId"


async def test_policy_is_reachable_as_a_node(api):
    policy = await _policy(api)
    found = (await api("""query($id: ID!) { node(id: $id) { ... on SlaPolicy { name } } }""",
                       {"id": policy["id"]}, role=Role.VIEWER)).ok()["node"]
    assert found == {"name": "Office hours"}
