"""Token management through the API: list, rotate, revoke, expiry, last use, roles."""

from __future__ import annotations

from datetime import timedelta

from app.auth.models import ApiToken, Role, User
from app.graphql.ids import to_global_id

TOKENS = "{ apiTokens { id name user { name role } createdAt lastUsedAt expiresAt revokedAt } }"
FOR_USER = """mutation($u: ID!, $e: DateTime) { createApiTokenForUser(userId: $u, expiresAt: $e) {
  token apiToken { id name user { name } expiresAt } } }"""
REVOKE = "mutation($id: ID!) { revokeApiToken(id: $id) { id revokedAt user { name } } }"
SET_ROLE = "mutation($u: ID!, $r: Role!) { setUserRole(userId: $u, role: $r) { name role } }"
VIEWER = "{ viewer { name role } }"


async def test_api_tokens_lists_every_token_for_admins_only(api, users):
    listed = (await api(TOKENS)).ok()["apiTokens"]
    assert sorted(t["user"]["name"] for t in listed) == ["admin", "manager", "responder",
                                                          "viewer"]
    assert all("token" not in t for t in listed)
    for role in (Role.VIEWER, Role.MANAGER):
        assert (await api(TOKENS, role=role)).codes == ["FORBIDDEN"]
    assert (await api(TOKENS, role=None)).codes == ["UNAUTHENTICATED"]


async def test_rotation_issue_a_second_token_then_revoke_the_first(api, users, clock):
    viewer, old_token = users[Role.VIEWER]
    viewer_id = to_global_id("User", viewer.id)
    created = (await api(FOR_USER, {"u": viewer_id})).ok()["createApiTokenForUser"]
    new_token = created["token"]
    assert new_token.startswith("tocsin_") and new_token != old_token
    assert created["apiToken"]["user"]["name"] == "viewer"
    assert (await api(VIEWER, token=new_token)).ok()["viewer"]["name"] == "viewer"
    assert (await api(VIEWER, token=old_token)).ok()["viewer"]["name"] == "viewer"

    old = await ApiToken.filter(user_id=viewer.id).order_by("id").first()
    assert old is not None
    old_id = to_global_id("ApiToken", old.id)
    revoked = (await api(REVOKE, {"id": old_id})).ok()["revokeApiToken"]
    assert revoked["revokedAt"] is not None
    refused = await api(VIEWER, token=old_token)
    assert refused.status == 401 and refused.codes == ["UNAUTHENTICATED"]
    assert (await api(VIEWER, token=new_token)).ok()["viewer"]["name"] == "viewer"
    # revoking again keeps the first time
    clock.advance(60)
    again = (await api(REVOKE, {"id": old_id})).ok()["revokeApiToken"]
    assert again["revokedAt"] == revoked["revokedAt"]


async def test_expiry_and_last_use(api, users, clock):
    viewer, _ = users[Role.VIEWER]
    expires = (clock.now() + timedelta(hours=1)).isoformat()
    made = (await api(FOR_USER, {"u": to_global_id("User", viewer.id), "e": expires})
            ).ok()["createApiTokenForUser"]
    assert made["apiToken"]["expiresAt"] is not None
    token_id = made["apiToken"]["id"]

    def find(listed):
        return next(t for t in listed if t["id"] == token_id)

    assert find((await api(TOKENS)).ok()["apiTokens"])["lastUsedAt"] is None
    assert (await api(VIEWER, token=made["token"])).ok()["viewer"]["name"] == "viewer"
    assert find((await api(TOKENS)).ok()["apiTokens"])["lastUsedAt"] is not None
    clock.advance(3601)
    assert (await api(VIEWER, token=made["token"])).codes == ["UNAUTHENTICATED"]
    past = (clock.now() - timedelta(seconds=1)).isoformat()
    bad = await api(FOR_USER, {"u": to_global_id("User", viewer.id), "e": past})
    assert bad.codes == ["BAD_USER_INPUT"] and bad.errors[0]["extensions"]["field"] == "expiresAt"


async def test_bad_ids_are_refused(api, users):
    assert (await api(FOR_USER, {"u": to_global_id("User", 999)})).codes == ["NOT_FOUND"]
    assert (await api(FOR_USER, {"u": to_global_id("Incident", 1)})).codes == ["BAD_USER_INPUT"]
    assert (await api(REVOKE, {"id": to_global_id("ApiToken", 999)})).codes == ["NOT_FOUND"]


async def test_set_user_role(api, users):
    viewer, viewer_token = users[Role.VIEWER]
    changed = (await api(SET_ROLE, {"u": to_global_id("User", viewer.id), "r": "RESPONDER"})
               ).ok()["setUserRole"]
    assert changed == {"name": "viewer", "role": "RESPONDER"}
    assert (await api(VIEWER, token=viewer_token)).ok()["viewer"]["role"] == "RESPONDER"
    assert (await api(SET_ROLE, {"u": to_global_id("User", viewer.id), "r": "ADMIN"},
                      role=Role.MANAGER)).codes == ["FORBIDDEN"]


async def test_the_last_admin_cannot_be_demoted(api, users):
    admin, _ = users[Role.ADMIN]
    result = await api(SET_ROLE, {"u": to_global_id("User", admin.id), "r": "VIEWER"})
    assert result.codes == ["CONFLICT"]
    assert (await User.get(id=admin.id)).role == Role.ADMIN
    manager, _ = users[Role.MANAGER]
    await api(SET_ROLE, {"u": to_global_id("User", manager.id), "r": "ADMIN"})
    demoted = await api(SET_ROLE, {"u": to_global_id("User", admin.id), "r": "VIEWER"})
    assert demoted.ok()["setUserRole"]["role"] == "VIEWER"
