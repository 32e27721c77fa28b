"""The incident API as a client sees it: lifecycle mutations, roles and error codes."""

from __future__ import annotations

import pytest

from app.auth.models import Role
from app.events.models import Event
from app.incidents.models import Incident

CREATE_SERVICE = """mutation($input: CreateServiceInput!) {
  createService(input: $input) { id name public status } }"""
CREATE = """mutation($input: CreateIncidentInput!) {
  createIncident(input: $input) { id number reference status priority acknowledgedAt
    service { name status } assignee { name } } }"""
INCIDENT = """query($ref: String!) { incident(reference: $ref) {
  reference status priority acknowledgedAt resolvedAt closedAt resolution
  timeline { totalCount edges { node { type fromStatus toStatus note public actor { name } } } }
} }"""


async def _service(api, name="Payments") -> str:
    return (await api(CREATE_SERVICE, {"input": {"name": name}})).ok()["createService"]["id"]


async def _incident(api, **fields) -> dict:
    payload = {"title": "Card payments fail", "impact": "HIGH", "urgency": "HIGH", **fields}
    return (await api(CREATE, {"input": payload}, role=Role.RESPONDER)).ok()["createIncident"]


async def test_walk_an_incident_through_its_lifecycle(api, clock):
    service_id = await _service(api)
    created = await _incident(api, serviceId=service_id)
    assert created["reference"] == "INC-1" and created["priority"] == "P1"
    assert created["service"] == {"name": "Payments", "status": "MAJOR_OUTAGE"}
    iid = created["id"]
    clock.advance(120)
    ack = await api("mutation($id: ID!) { acknowledgeIncident(id: $id, note: \"looking\") "
                    "{ status acknowledgedAt } }", {"id": iid}, role=Role.RESPONDER)
    assert ack.ok()["acknowledgeIncident"] == {
        "status": "ACKNOWLEDGED", "acknowledgedAt": clock.now().isoformat()}
    moved = await api("mutation($id: ID!) { changeIncidentStatus(id: $id, status: IN_PROGRESS) "
                      "{ status } }", {"id": iid}, role=Role.RESPONDER)
    assert moved.ok()["changeIncidentStatus"]["status"] == "IN_PROGRESS"
    resolved = await api("mutation($id: ID!) { resolveIncident(id: $id, resolution: \"rolled "
                         "back\") { status resolution } }", {"id": iid}, role=Role.RESPONDER)
    assert resolved.ok()["resolveIncident"] == {"status": "RESOLVED", "resolution": "rolled back"}
    reopened = await api("mutation($id: ID!) { reopenIncident(id: $id) { status resolvedAt } }",
                         {"id": iid}, role=Role.RESPONDER)
    assert reopened.ok()["reopenIncident"] == {"status": "IN_PROGRESS", "resolvedAt": None}
    await api("mutation($id: ID!) { resolveIncident(id: $id, resolution: \"fixed\") { id } }",
              {"id": iid}, role=Role.RESPONDER)
    closed = await api("mutation($id: ID!) { closeIncident(id: $id) { status closedAt } }",
                       {"id": iid}, role=Role.RESPONDER)
    assert closed.ok()["closeIncident"]["status"] == "CLOSED"

    seen = (await api(INCIDENT, {"ref": "INC-1"}, role=Role.VIEWER)).ok()["incident"]
    assert seen["closedAt"] is not None
    timeline = [e["node"] for e in seen["timeline"]["edges"]]
    assert [e["type"] for e in timeline] == [
        "incident.created", "incident.acknowledged", "incident.status_changed",
        "incident.resolved", "incident.reopened", "incident.resolved", "incident.closed"]
    assert timeline[1] == {"type": "incident.acknowledged", "fromStatus": "NEW",
                           "toStatus": "ACKNOWLEDGED", "note": "looking", "public": False,
                           "actor": {"name": "responder"}}
    assert seen["timeline"]["totalCount"] == 7
    service_status = (await api("{ services { status } }", role=Role.VIEWER)).ok()
    assert service_status["services"] == [{"status": "OPERATIONAL"}]


async def test_notes_update_and_assignee(api, users):
    incident = await _incident(api, impact="LOW", urgency="LOW")
    responder_id = (await api("{ viewer { id } }", role=Role.RESPONDER)).ok()["viewer"]["id"]
    updated = await api(
        """mutation($id: ID!, $input: UpdateIncidentInput!) { updateIncident(id: $id, input: $input)
           { priority impact title description assignee { name } } }""",
        {"id": incident["id"], "input": {"impact": "HIGH", "assigneeId": responder_id,
                                         "description": "all regions"}},
        role=Role.RESPONDER,
    )
    assert updated.ok()["updateIncident"] == {
        "priority": "P3", "impact": "HIGH", "title": "Card payments fail",
        "description": "all regions", "assignee": {"name": "responder"}}
    cleared = await api(
        """mutation($id: ID!) { updateIncident(id: $id, input: {description: null}) {
           description title } }""", {"id": incident["id"]}, role=Role.RESPONDER)
    assert cleared.ok()["updateIncident"] == {"description": None, "title": "Card payments fail"}
    note = await api("""mutation($id: ID!) { addIncidentNote(id: $id, note: "Mitigated",
                        public: true) { type note public incident { reference } } }""",
                     {"id": incident["id"]}, role=Role.RESPONDER)
    assert note.ok()["addIncidentNote"] == {"type": "incident.note_added", "note": "Mitigated",
                                            "public": True, "incident": {"reference": "INC-1"}}


@pytest.mark.parametrize(
    "role,query,allowed",
    [
        (None, "{ incidents { totalCount } }", False),
        (Role.VIEWER, "{ incidents { totalCount } }", True),
        (Role.VIEWER, 'mutation { createIncident(input: {title: "x", impact: LOW, urgency: LOW})'
                      " { id } }", False),
        (Role.RESPONDER, 'mutation { createIncident(input: {title: "x", impact: LOW, '
                         "urgency: LOW}) { id } }", True),
        (Role.RESPONDER, 'mutation { createService(input: {name: "x"}) { id } }', False),
        (Role.MANAGER, 'mutation { createService(input: {name: "x"}) { id } }', True),
        (Role.MANAGER, 'mutation { createApiToken(name: "bot", role: VIEWER) { token } }', False),
        (Role.ADMIN, 'mutation { createApiToken(name: "bot", role: VIEWER) { token } }', True),
    ],
)
async def test_roles(api, role, query, allowed):
    result = await api(query, role=role)
    if allowed:
        result.ok()
    else:
        assert result.codes == ["FORBIDDEN" if role else "UNAUTHENTICATED"]


async def test_without_a_token_only_public_things_are_readable(api):
    result = await api("{ __typename statusPage { services { name } } viewer { name } }",
                       role=None)
    assert result.ok() == {"__typename": "Query", "statusPage": {"services": []}, "viewer": None}


async def test_a_bad_token_is_refused_with_401(api):
    result = await api("{ __typename }", role=None, token="tocsin_not-a-real-token")
    assert result.status == 401 and result.codes == ["UNAUTHENTICATED"]


async def test_created_token_works_and_is_shown_once(api):
    made = (await api('mutation { createApiToken(name: "ci-bot", role: RESPONDER) '
                      "{ token apiToken { name user { name role } } } }")).ok()["createApiToken"]
    assert made["apiToken"]["user"] == {"name": "ci-bot", "role": "RESPONDER"}
    me = await api("{ viewer { name role } }", role=None, token=made["token"])
    assert me.ok()["viewer"] == {"name": "ci-bot", "role": "RESPONDER"}
    again = await api('mutation { createApiToken(name: "ci-bot", role: VIEWER) { token } }')
    assert again.codes == ["CONFLICT"]


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"title": "", "impact": "LOW", "urgency": "LOW"}, "title"),
        ({"title": "x" * 201, "impact": "LOW", "urgency": "LOW"}, "title"),
        ({"title": "ok", "impact": "LOW", "urgency": "LOW", "serviceId": "bm9wZQ"}, "serviceId"),
        ({"title": "ok", "impact": "LOW", "urgency": "LOW", "serviceId": "%%%"}, "serviceId"),
    ],
)
async def test_bad_input_names_the_field_and_changes_nothing(api, payload, field):
    result = await api(CREATE, {"input": payload}, role=Role.RESPONDER)
    assert result.codes == ["BAD_USER_INPUT"]
    assert result.errors[0]["extensions"]["field"] == field
    assert await Incident.all().count() == 0 and await Event.all().count() == 0


async def test_wrong_enum_value_is_bad_user_input(api):
    result = await api(CREATE, {"input": {"title": "t", "impact": "HUGE", "urgency": "LOW"}},
                       role=Role.RESPONDER)
    assert result.status == 400 and result.codes == ["BAD_USER_INPUT"]
    assert "impact" in result.errors[0]["message"]


async def test_unknown_ids_are_not_found(api):
    from app.graphql.ids import to_global_id

    missing_service = to_global_id("Service", 404)
    result = await api(CREATE, {"input": {"title": "t", "impact": "LOW", "urgency": "LOW",
                                          "serviceId": missing_service}}, role=Role.RESPONDER)
    assert result.codes == ["NOT_FOUND"]
    ack = await api("mutation($id: ID!) { acknowledgeIncident(id: $id) { id } }",
                    {"id": to_global_id("Incident", 404)}, role=Role.RESPONDER)
    assert ack.codes == ["NOT_FOUND"]
    assert (await api('{ incident(reference: "INC-404") { id } }')).ok() == {"incident": None}
    assert (await api('{ node(id: "SW5jaWRlbnQ6NDA0") { id } }')).ok() == {"node": None}


async def test_illegal_transition_is_invalid_transition(api):
    incident = await _incident(api)
    result = await api("mutation($id: ID!) { closeIncident(id: $id) { id } }",
                       {"id": incident["id"]}, role=Role.RESPONDER)
    assert result.codes == ["INVALID_TRANSITION"]
    assert (await Incident.get(number=1)).status == "NEW"


async def test_duplicate_service_name_is_conflict(api):
    await _service(api, "Search")
    result = await api(CREATE_SERVICE, {"input": {"name": "Search"}})
    assert result.codes == ["CONFLICT"]


async def test_node_resolves_each_kind(api):
    service_id = await _service(api)
    incident = await _incident(api, serviceId=service_id)
    result = await api("""query($a: ID!, $b: ID!) { a: node(id: $a) { __typename id
      ... on Incident { reference } } b: node(id: $b) { ... on Service { name } } }""",
                       {"a": incident["id"], "b": service_id})
    assert result.ok() == {"a": {"__typename": "Incident", "id": incident["id"],
                                 "reference": "INC-1"}, "b": {"name": "Payments"}}


async def test_unexpected_errors_are_masked(api, monkeypatch, caplog):
    from app.incidents import queries

    async def explode(*args, **kwargs):
        raise RuntimeError("secret connection string postgres://u:p@db")

    monkeypatch.setattr(queries, "list_incidents", explode)
    result = await api("{ incidents { totalCount } }")
    assert result.codes == ["INTERNAL_SERVER_ERROR"]
    assert "secret" not in str(result.body)
    assert "secret connection string" in caplog.text
