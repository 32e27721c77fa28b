"""Changes that end or narrow access append an access event in their own transaction (once,
never for a no-op, never with a secret), deactivation through the API, and who sees access
events in the event log. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from app.auth.access import access_cut
from app.auth.models import ApiToken, Role, User
from app.events.models import Event
from app.graphql.ids import to_global_id

REVOKE = "mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }"
SET_ROLE = "mutation($u: ID!, $r: Role!) { setUserRole(userId: $u, role: $r) { role } }"
SET_ACTIVE = """mutation($u: ID!, $a: Boolean!) {
  setUserActive(userId: $u, active: $a) { name active } }"""
EVENTS = "{ events(first: 50) { totalCount edges { node { type actor { name } } } } }"
VIEWER = "{ viewer { name } }"


async def logged() -> list[tuple[str, int | None, dict]]:
    return [(e.type, e.actor_id, e.payload) for e in await Event.all().order_by("id")]


async def test_a_revocation_appends_one_event_with_ids_only(api, users):
    admin, _ = users[Role.ADMIN]
    viewer, secret = users[Role.VIEWER]
    token = await ApiToken.get(user_id=viewer.id)
    for _ in range(2):  # the second revocation changes nothing and appends nothing
        (await api(REVOKE, {"id": to_global_id("ApiToken", token.id)})).ok()
    assert await logged() == [
        ("token.revoked", admin.id, {"tokenId": token.id, "userId": viewer.id})]
    stored = str(await Event.all().values_list("payload", "note"))
    assert secret not in stored and token.token_hash not in stored


async def test_a_role_change_appends_an_event_only_when_the_role_changes(api, users):
    admin, _ = users[Role.ADMIN]
    manager, _ = users[Role.MANAGER]
    manager_id = to_global_id("User", manager.id)
    (await api(SET_ROLE, {"u": manager_id, "r": "MANAGER"})).ok()
    (await api(SET_ROLE, {"u": manager_id, "r": "VIEWER"})).ok()
    refused = await api(SET_ROLE, {"u": to_global_id("User", admin.id), "r": "VIEWER"})
    assert refused.codes == ["CONFLICT"]  # the last admin: nothing changes, nothing logged
    assert await logged() == [
        ("user.role_changed", admin.id,
         {"userId": manager.id, "from": "MANAGER", "to": "VIEWER"})]


async def test_deactivation_stops_every_token_until_reactivation(api, users):
    admin, _ = users[Role.ADMIN]
    responder, token = users[Role.RESPONDER]
    responder_id = to_global_id("User", responder.id)
    assert (await api(SET_ACTIVE, {"u": responder_id, "a": False}, role=Role.MANAGER)
            ).codes == ["FORBIDDEN"]
    assert (await api(VIEWER, token=token)).ok()["viewer"]["name"] == "responder"

    off = (await api(SET_ACTIVE, {"u": responder_id, "a": False})).ok()["setUserActive"]
    assert off == {"name": "responder", "active": False}
    refused = await api(VIEWER, token=token)
    assert refused.status == 401 and refused.errors[0]["message"] == "user is deactivated"
    (await api(SET_ACTIVE, {"u": responder_id, "a": False})).ok()  # already: no second event
    (await api(SET_ACTIVE, {"u": responder_id, "a": True})).ok()
    assert (await api(VIEWER, token=token)).ok()["viewer"]["name"] == "responder"
    assert await logged() == [
        ("user.deactivated", admin.id, {"userId": responder.id}),
        ("user.reactivated", admin.id, {"userId": responder.id})]


async def test_the_last_admin_cannot_be_deactivated_and_unknown_users_are_not_found(api, users):
    admin, _ = users[Role.ADMIN]
    refused = await api(SET_ACTIVE, {"u": to_global_id("User", admin.id), "a": False})
    assert refused.codes == ["CONFLICT"] and refused.errors[0]["extensions"]["field"] == "active"
    assert (await User.get(id=admin.id)).active
    missing = await api(SET_ACTIVE, {"u": to_global_id("User", 999), "a": False})
    assert missing.codes == ["NOT_FOUND"]
    assert await logged() == []


async def test_only_admins_see_access_events_in_the_event_log(api, users):
    viewer, _ = users[Role.VIEWER]
    (await api(SET_ROLE, {"u": to_global_id("User", viewer.id), "r": "RESPONDER"})).ok()
    (await api("""mutation { createIncident(input: {title: "Disk full", impact: LOW,
        urgency: LOW}) { id } }""")).ok()
    seen = (await api(EVENTS)).ok()["events"]
    assert [e["node"]["type"] for e in seen["edges"]] == ["user.role_changed",
                                                          "incident.created"]
    assert seen["edges"][0]["node"]["actor"] == {"name": "admin"}
    for role in (Role.RESPONDER, Role.MANAGER):
        hidden = (await api(EVENTS, role=role)).ok()["events"]
        assert hidden["totalCount"] == 1
        assert [e["node"]["type"] for e in hidden["edges"]] == ["incident.created"]


def event(type: str, payload: dict) -> Event:
    return Event(id=1, type=type, occurred_at=datetime.now(UTC), payload=payload)


def test_which_connections_an_access_event_cuts():
    revoked = access_cut(event("token.revoked", {"tokenId": 4, "userId": 2}))
    assert revoked is not None and revoked.user_id == 2
    assert revoked.applies_to(4, Role.VIEWER) and not revoked.applies_to(5, Role.ADMIN)
    demoted = access_cut(event("user.role_changed", {"userId": 2, "from": "ADMIN",
                                                     "to": "RESPONDER"}))
    assert demoted is not None
    assert [r for r in Role if demoted.applies_to(1, r)] == [Role.MANAGER, Role.ADMIN]
    deactivated = access_cut(event("user.deactivated", {"userId": 2}))
    assert deactivated is not None and all(deactivated.applies_to(9, r) for r in Role)
    for harmless in (event("user.reactivated", {"userId": 2}),
                     event("incident.created", {"userId": 2}),
                     event("user.role_changed", {"userId": 2, "to": "NOPE"})):
        assert access_cut(harmless) is None
