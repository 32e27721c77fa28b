"""Who may do what: a role is a floor, and each higher role includes the ones below it."""

from __future__ import annotations

from app.auth.models import Role, User
from app.errors import Forbidden, Unauthenticated


def require_role(user: User | None, role: Role) -> User:
    if user is None:
        raise Unauthenticated("this operation needs a bearer token")
    if not Role(user.role).at_least(role):
        raise Forbidden(f"this operation needs the {role.value} role or higher")
    return user
