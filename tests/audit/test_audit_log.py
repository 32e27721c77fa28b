"""The audit log: every mutation leaves a record (actor, address, operation, target,
outcome); a rolled-back change leaves no OK record; secrets never appear."""

from __future__ import annotations

import json

import pytest

from app import db
from app.audit.models import AuditEntry
from app.auth.models import ApiToken, Role
from app.graphql.audit import AuditedMutation
from app.incidents.models import Incident

LOG = """query($after: String) { auditLog(first: 50, after: $after) { totalCount
  edges { cursor node { id at actor { name } address operation target outcome } }
  pageInfo { hasNextPage endCursor } } }"""
CREATE = """mutation { createIncident(input: {title: "Disk full", impact: HIGH, urgency: HIGH})
  { id reference } }"""


async def log(api):
    return [e["node"] for e in (await api(LOG)).ok()["auditLog"]["edges"]]


async def test_each_mutation_is_recorded_newest_first(api, users):
    made = (await api(CREATE, role=Role.RESPONDER)).ok()["createIncident"]
    await api("mutation($id: ID!) { acknowledgeIncident(id: $id) { status } }",
              {"id": made["id"]}, role=Role.RESPONDER)
    entries = await log(api)
    assert [(e["operation"], e["target"], e["outcome"], e["actor"]["name"]) for e in entries] == [
        ("acknowledgeIncident", made["id"], "OK", "responder"),
        ("createIncident", made["reference"], "OK", "responder"),
    ]
    assert all(e["address"] == "127.0.0.1" for e in entries)


async def test_refused_mutations_are_recorded_with_their_code_and_change_nothing(api, users):
    forbidden = await api(CREATE, role=Role.VIEWER)
    assert forbidden.codes == ["FORBIDDEN"]
    invalid = await api("mutation { closeIncident(id: \"nope\") { id } }", role=Role.RESPONDER)
    assert invalid.codes == ["BAD_USER_INPUT"]
    anonymous = await api(CREATE, role=None)
    assert anonymous.codes == ["UNAUTHENTICATED"]
    entries = await log(api)
    assert [(e["operation"], e["outcome"], e["actor"]["name"]) for e in entries] == [
        ("closeIncident", "BAD_USER_INPUT", "responder"),
        ("createIncident", "FORBIDDEN", "viewer"),
    ]
    assert await Incident.all().count() == 0


async def test_a_failure_after_the_change_rolls_back_change_and_ok_record(api, users,
                                                                          monkeypatch):
    """A mutation whose audit write fails is undone as a whole: no incident, no OK record."""
    from app.audit import service as audit

    real = audit.record

    async def failing(operation, **kwargs):
        if kwargs["outcome"] == audit.OK:
            raise RuntimeError("disk on fire")
        return await real(operation, **kwargs)

    monkeypatch.setattr(audit, "record", failing)
    result = await api(CREATE, role=Role.RESPONDER)
    assert result.codes == ["INTERNAL_SERVER_ERROR"]
    assert await Incident.all().count() == 0
    assert [(e.operation, e.outcome) for e in await AuditEntry.all()] == [
        ("createIncident", "INTERNAL_SERVER_ERROR")]


async def test_secrets_and_hashes_never_appear(api, users):
    created = (await api('mutation { createApiToken(name: "bot", role: VIEWER) { token '
                         'apiToken { id user { id } } } }')).ok()["createApiToken"]
    secret = created["token"]
    await api("mutation($u: ID!) { createApiTokenForUser(userId: $u) { token } }",
              {"u": created["apiToken"]["user"]["id"]})
    hashes = [t.token_hash for t in await ApiToken.all()]
    rows = await db.connection().execute_query_dict("SELECT * FROM audit_entries")
    dumped = json.dumps(rows, default=str) + json.dumps(await log(api))
    assert "createApiToken" in dumped and "createApiTokenForUser" in dumped
    assert secret not in dumped and "tocsin_" not in dumped
    assert not any(h in dumped for h in hashes)
    assert (await log(api))[1]["target"] == created["apiToken"]["id"]


async def test_audit_log_is_for_admins_and_pages(api, users):
    for n in range(3):
        await api(f'mutation {{ createService(input: {{name: "s{n}"}}) {{ id }} }}')
    assert (await api(LOG, role=Role.MANAGER)).codes == ["FORBIDDEN"]
    first = (await api("{ auditLog(first: 2) { totalCount edges { node { target } } "
                       "pageInfo { hasNextPage endCursor } } }")).ok()["auditLog"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    rest = (await api(LOG, {"after": first["pageInfo"]["endCursor"]})).ok()["auditLog"]
    assert len(rest["edges"]) == 1 and not rest["pageInfo"]["hasNextPage"]


def test_every_mutation_field_is_audited():
    from app.graphql.schema import Mutation

    fields = Mutation.__strawberry_definition__.fields
    assert fields and all(any(isinstance(e, AuditedMutation) for e in f.extensions)
                          for f in fields)


@pytest.mark.parametrize("name", ["createApiToken", "revokeApiToken", "setUserRole",
                                  "createApiTokenForUser", "createIncident"])
def test_the_contract_mutations_exist(name):
    from app.graphql.schema import build_schema

    assert name in build_schema().as_str()
