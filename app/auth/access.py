"""The events that record an end or narrowing of someone's access: a token revoked, a user
deactivated (or reactivated), a user's role changed. They are appended in the same transaction
as the change, so they reach every API process the way every other event does (broker notice,
then the event log), and each process cuts the live connections the change concerns.

They carry ids and roles only, never a token or its hash, and only ADMINs see them in the
event log (`events` query and subscription): who lost access when is audit information, like
the audit log itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.auth.models import Role
from app.events.models import Event

TOKEN_REVOKED = "token.revoked"
USER_DEACTIVATED = "user.deactivated"
USER_REACTIVATED = "user.reactivated"
USER_ROLE_CHANGED = "user.role_changed"

ACCESS_EVENT_TYPES = frozenset({TOKEN_REVOKED, USER_DEACTIVATED, USER_REACTIVATED,
                                USER_ROLE_CHANGED})
SEEN_BY = Role.ADMIN  # the lowest role that sees access events in the event log


def visible_to(role: Role | None) -> bool:
    """Whether a reader of `role` sees access events."""
    return role is not None and role.at_least(SEEN_BY)


def token_revoked_payload(token_id: int, user_id: int) -> dict[str, object]:
    return {"tokenId": token_id, "userId": user_id}


def user_payload(user_id: int) -> dict[str, object]:
    return {"userId": user_id}


def role_changed_payload(user_id: int, before: Role, after: Role) -> dict[str, object]:
    return {"userId": user_id, "from": before.value, "to": after.value}


@dataclass(frozen=True)
class AccessCut:
    """What a live connection must lose because of one event: the connections of `user_id`
    (only those using `token_id` when set) that hold more than `role_at_most` (any role when
    None) are closed with `reason`."""

    user_id: int
    reason: str
    token_id: int | None = None
    role_at_most: Role | None = None

    def applies_to(self, token_id: int | None, role: Role) -> bool:
        if self.token_id is not None and token_id != self.token_id:
            return False
        return self.role_at_most is None or role.rank > self.role_at_most.rank


def access_cut(event: Event) -> AccessCut | None:
    """The cut an event calls for; None for every other event (and for a reactivation or a
    promotion, which take nothing away)."""
    if event.type not in ACCESS_EVENT_TYPES:
        return None
    payload = event.payload or {}
    user_id = payload.get("userId")
    if not isinstance(user_id, int):
        return None
    if event.type == TOKEN_REVOKED and isinstance(payload.get("tokenId"), int):
        return AccessCut(user_id, "token revoked", token_id=payload["tokenId"])
    if event.type == USER_DEACTIVATED:
        return AccessCut(user_id, "user is deactivated")
    if event.type == USER_ROLE_CHANGED and payload.get("to") in Role.__members__:
        return AccessCut(user_id, "role changed", role_at_most=Role(payload["to"]))
    return None
