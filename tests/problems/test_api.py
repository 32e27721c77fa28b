"""The problem API as a client sees it, over HTTP: the walk from creation to resolution,
links shown on both sides, roles, and error codes (with nothing changed)."""

from __future__ import annotations

from app.auth.models import Role
from app.events.models import Event
from app.problems.models import Problem, ProblemIncident

SERVICE = "mutation($n: String!) { createService(input: {name: $n}) { id } }"
INCIDENT = """mutation($input: CreateIncidentInput!) { createIncident(input: $input) {
  id reference } }"""
CREATE = """mutation($input: CreateProblemInput!) { createProblem(input: $input) {
  id number reference status service { name } incidents { reference } } }"""
UPDATE = """mutation($id: ID!, $input: UpdateProblemInput!) { updateProblem(id: $id, input: $input)
  { status rootCause workaround resolvedAt } }"""
LINK = """mutation($p: ID!, $i: [ID!]!) { linkIncidentsToProblem(problemId: $p, incidentIds: $i)
  { reference incidents { reference } } }"""
RESOLVE = """mutation($id: ID!, $r: String!, $all: Boolean) {
  resolveProblem(id: $id, resolution: $r, resolveLinkedIncidents: $all) {
    status resolution resolvedAt incidents { reference status resolution } } }"""


async def _incident(api, title="Card payments fail", service_id=None) -> dict:
    payload = {"title": title, "impact": "HIGH", "urgency": "LOW", "serviceId": service_id}
    return (await api(INCIDENT, {"input": payload}, role=Role.RESPONDER)).ok()["createIncident"]


async def test_a_problem_from_creation_to_batch_resolution(api, clock):
    svc = (await api(SERVICE, {"n": "Payments"})).ok()["createService"]["id"]
    one = await _incident(api, "Card payments time out", svc)
    two = await _incident(api, "Payments time out again", svc)
    created = (await api(CREATE, {"input": {
        "title": "Gateway times out", "serviceId": svc, "incidentIds": [one["id"]]}},
        role=Role.MANAGER)).ok()["createProblem"]
    assert created == {"id": created["id"], "number": 1, "reference": "PRB-1", "status": "NEW",
                       "service": {"name": "Payments"}, "incidents": [{"reference": "INC-1"}]}
    pid = created["id"]
    # A responder links the second incident from the incident's suggestions.
    seen = (await api("""query { incident(reference: "INC-2") {
      problem { reference } suggestedProblems { reference workaround } } }""",
                      role=Role.RESPONDER)).ok()["incident"]
    assert seen == {"problem": None,
                    "suggestedProblems": [{"reference": "PRB-1", "workaround": None}]}
    linked = (await api(LINK, {"p": pid, "i": [two["id"]]}, role=Role.RESPONDER)).ok()
    assert linked["linkIncidentsToProblem"]["incidents"] == [
        {"reference": "INC-1"}, {"reference": "INC-2"}]

    for status, extra in (("INVESTIGATING", {}),
                          ("KNOWN_ERROR", {"rootCause": "TLS handshake to acquirer",
                                           "workaround": "Retry with 3-D Secure"})):
        moved = (await api(UPDATE, {"id": pid, "input": {"status": status, **extra}},
                           role=Role.MANAGER)).ok()["updateProblem"]
        assert moved["status"] == status
    known = (await api('{ knownErrors(search: "handshake") { reference workaround } }',
                       role=Role.VIEWER)).ok()["knownErrors"]
    assert known == [{"reference": "PRB-1", "workaround": "Retry with 3-D Secure"}]

    clock.advance(600)
    done = (await api(RESOLVE, {"id": pid, "r": "Acquirer fixed TLS", "all": True},
                      role=Role.MANAGER)).ok()["resolveProblem"]
    assert done["status"] == "RESOLVED" and done["resolution"] == "Acquirer fixed TLS"
    assert done["resolvedAt"] == clock.now().isoformat()
    assert done["incidents"] == [
        {"reference": f"INC-{n}", "status": "RESOLVED",
         "resolution": "Resolved with problem PRB-1: Acquirer fixed TLS"} for n in (1, 2)]

    timeline = (await api("""{ incident(reference: "INC-1") { problem { reference }
      timeline { edges { node { type problem { reference } } } } } }""",
                          role=Role.VIEWER)).ok()["incident"]
    assert timeline["problem"] == {"reference": "PRB-1"}
    assert [e["node"] for e in timeline["timeline"]["edges"]] == [
        {"type": "incident.created", "problem": None},
        {"type": "problem.incident_linked", "problem": {"reference": "PRB-1"}},
        {"type": "incident.resolved", "problem": None},
    ]
    problem_events = (await api("""{ events(types: ["problem.created", "problem.updated",
      "problem.incident_linked", "problem.known_error", "problem.resolved"]) {
      edges { node { type fromStatus toStatus problem { reference } } } } }""",
                                role=Role.VIEWER)).ok()["events"]["edges"]
    assert [(e["node"]["type"], e["node"]["toStatus"]) for e in problem_events] == [
        ("problem.created", "NEW"), ("problem.incident_linked", None),
        ("problem.incident_linked", None), ("problem.updated", "INVESTIGATING"),
        ("problem.known_error", "KNOWN_ERROR"), ("problem.resolved", "RESOLVED")]
    assert {e["node"]["problem"]["reference"] for e in problem_events} == {"PRB-1"}

    node = (await api("query($id: ID!) { node(id: $id) { ... on Problem { reference } } }",
                      {"id": pid}, role=Role.VIEWER)).ok()
    assert node == {"node": {"reference": "PRB-1"}}
    listed = (await api("""{ problems(filter: {status: [RESOLVED]}) { totalCount
      edges { node { reference } } } }""", role=Role.VIEWER)).ok()["problems"]
    assert listed == {"totalCount": 1, "edges": [{"node": {"reference": "PRB-1"}}]}
    assert (await api('{ problem(reference: "PRB-9") { id } }', role=Role.VIEWER)).ok() == {
        "problem": None}


async def test_problems_page_by_keyset(api, clock):
    for n in range(5):
        (await api(CREATE, {"input": {"title": f"problem {n}"}}, role=Role.MANAGER)).ok()
        if n != 2:  # two share a creation instant: the id breaks the tie
            clock.advance(1)
    seen, after = [], None
    while True:
        page = (await api("""query($after: String) { problems(first: 2, after: $after) {
          totalCount pageInfo { hasNextPage endCursor } edges { node { reference } } } }""",
                          {"after": after}, role=Role.VIEWER)).ok()["problems"]
        assert page["totalCount"] == 5
        seen += [e["node"]["reference"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["PRB-5", "PRB-4", "PRB-3", "PRB-2", "PRB-1"]
    bad = await api('{ problems(after: "nonsense") { totalCount } }', role=Role.VIEWER)
    assert bad.codes == ["BAD_USER_INPUT"]


async def test_roles(api):
    incident = await _incident(api)
    created = await api(CREATE, {"input": {"title": "x"}}, role=Role.RESPONDER)
    assert created.codes == ["FORBIDDEN"]
    pid = (await api(CREATE, {"input": {"title": "x"}}, role=Role.MANAGER)).ok()[
        "createProblem"]["id"]
    assert (await api(UPDATE, {"id": pid, "input": {"status": "INVESTIGATING"}},
                      role=Role.RESPONDER)).codes == ["FORBIDDEN"]
    assert (await api(RESOLVE, {"id": pid, "r": "x"}, role=Role.RESPONDER)).codes == [
        "FORBIDDEN"]
    assert (await api(LINK, {"p": pid, "i": [incident["id"]]}, role=Role.VIEWER)).codes == [
        "FORBIDDEN"]
    (await api(LINK, {"p": pid, "i": [incident["id"]]}, role=Role.RESPONDER)).ok()
    unlinked = await api("""mutation($id: ID!) { unlinkIncidentFromProblem(incidentId: $id) {
      reference problem { reference } } }""", {"id": incident["id"]}, role=Role.RESPONDER)
    assert unlinked.ok()["unlinkIncidentFromProblem"] == {"reference": "INC-1", "problem": None}
    assert (await api("{ problems { totalCount } knownErrors { id } problemCandidates { title } }",
                      role=Role.VIEWER)).ok()["problems"]["totalCount"] == 1
    assert (await api("{ problems { totalCount } }", role=None)).codes == ["UNAUTHENTICATED"]


async def test_error_codes_and_nothing_changes(api):
    a, b = await _incident(api), await _incident(api)
    first = (await api(CREATE, {"input": {"title": "first", "incidentIds": [a["id"]]}},
                       role=Role.MANAGER)).ok()["createProblem"]["id"]
    second = (await api(CREATE, {"input": {"title": "second"}}, role=Role.MANAGER)).ok()[
        "createProblem"]["id"]
    events = await Event.all().count()

    conflict = await api(LINK, {"p": second, "i": [b["id"], a["id"]]}, role=Role.RESPONDER)
    assert conflict.codes == ["CONFLICT"]
    assert conflict.errors[0]["extensions"]["field"] == "incidentIds"
    assert await ProblemIncident.all().count() == 1  # b was not linked either

    refused = await api(UPDATE, {"id": first, "input": {"status": "CLOSED", "title": "new"}},
                        role=Role.MANAGER)
    assert refused.codes == ["INVALID_TRANSITION"]
    assert refused.errors[0]["extensions"]["field"] == "status"
    not_yet = await api(RESOLVE, {"id": first, "r": "fixed", "all": True}, role=Role.MANAGER)
    assert not_yet.codes == ["INVALID_TRANSITION"]

    bad = [
        await api(CREATE, {"input": {"title": ""}}, role=Role.MANAGER),
        await api(UPDATE, {"id": first, "input": {"title": None}}, role=Role.MANAGER),
        await api(UPDATE, {"id": a["id"], "input": {"title": "x"}}, role=Role.MANAGER),
        await api(LINK, {"p": first, "i": []}, role=Role.RESPONDER),
        await api(LINK, {"p": first, "i": ["garbage"]}, role=Role.RESPONDER),
        await api("{ problemCandidates(days: 0) { title } }", role=Role.VIEWER),
        await api("{ problemCandidates(minIncidents: 1) { title } }", role=Role.VIEWER),
    ]
    assert [r.codes for r in bad] == [["BAD_USER_INPUT"]] * len(bad)
    missing = [
        await api(UPDATE, {"id": _other_id("Problem", 999), "input": {"title": "x"}},
                  role=Role.MANAGER),
        await api(CREATE, {"input": {"title": "x", "serviceId": _other_id("Service", 999)}},
                  role=Role.MANAGER),
        await api(LINK, {"p": first, "i": [_other_id("Incident", 999)]}, role=Role.RESPONDER),
    ]
    assert [r.codes for r in missing] == [["NOT_FOUND"]] * 3
    # Nothing of the refused calls stuck.
    stored = await Problem.all().order_by("number").values_list("title", "status")
    assert stored == [("first", "NEW"), ("second", "NEW")]
    assert await ProblemIncident.all().count() == 1
    assert await Event.all().count() == events


def _other_id(type_name: str, pk: int) -> str:
    from app.graphql.ids import to_global_id

    return to_global_id(type_name, pk)


async def test_problem_fields_cost_the_same_for_5_or_30_incidents(api, make, manager):
    import logging

    svc = await make.service()
    incidents = [await make.incident(f"Disk full {n}", service_id=svc.id) for n in range(30)]
    await make.problem("Disk full on hosts", service_id=svc.id,
                       incident_ids=[i.id for i in incidents[::2]])
    await make.problem("Disks fill with logs", service_id=svc.id)
    statements: list[str] = []

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().lstrip().upper().startswith(("SELECT", "WITH", "UPDATE")):
                statements.append(record.getMessage())

    logger, handler = logging.getLogger("tortoise.db_client"), Count(logging.DEBUG)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    costs = {}
    try:
        await api("{ viewer { name } }", role=Role.VIEWER)
        for size in (5, 30):
            statements.clear()
            page = (await api("""query($n: Int) { incidents(first: $n) { edges { node {
              problem { reference incidents { reference } }
              suggestedProblems { reference service { name } } } } } }""",
                              {"n": size}, role=Role.VIEWER)).ok()
            nodes = [e["node"] for e in page["incidents"]["edges"]]
            assert len(nodes) == size
            assert {n["problem"]["reference"] for n in nodes if n["problem"]} == {"PRB-1"}
            assert all(n["suggestedProblems"] for n in nodes)
            costs[size] = len(statements)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert costs[5] == costs[30]
