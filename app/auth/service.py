"""Users and API tokens: creation (the token is shown once, only its hash is kept),
authentication of a presented bearer token, and the changes that end or narrow access
(revocation, deactivation, role changes), each appending its access event (app.auth.access)
in the same transaction so that every process cuts the live connections it concerns."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError

from app import db
from app.auth import access
from app.auth.models import ApiToken, Role, User
from app.errors import BadUserInput, Conflict, NotFound, Unauthenticated
from app.events import service as events

TOKEN_PREFIX = "tocsin_"
LAST_USED_RESOLUTION = timedelta(minutes=1)  # don't write on every request


@dataclass
class IssuedToken:
    token: str  # the secret, shown once
    api_token: ApiToken


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _clean_name(name: str, field: str = "name") -> str:
    name = name.strip()
    if not name:
        raise BadUserInput(f"{field} must not be empty", field=field)
    if len(name) > 100:
        raise BadUserInput(f"{field} must be at most 100 characters", field=field)
    return name


async def create_user_with_token(
    name: str, role: Role, *, now: datetime, expires_at: datetime | None = None
) -> IssuedToken:
    """Create the user `name` with `role` and its first token."""
    name = _clean_name(name)
    if expires_at is not None and expires_at <= now:
        raise BadUserInput("expiresAt must be in the future", field="expiresAt")
    async with db.atomic():
        if await User.filter(name=name).exists():
            raise Conflict(f"a user named {name!r} already exists", field="name")
        try:
            user = await User.create(name=name, role=role, created_at=now)
        except IntegrityError as exc:
            raise Conflict(f"a user named {name!r} already exists", field="name") from exc
        return await _issue(user, name, now=now, expires_at=expires_at)


async def _issue(
    user: User, name: str, *, now: datetime, expires_at: datetime | None
) -> IssuedToken:
    secret = _new_secret()
    api_token = await ApiToken.create(
        name=name, user=user, token_hash=hash_token(secret), created_at=now, expires_at=expires_at
    )
    return IssuedToken(token=secret, api_token=api_token)


async def authenticate(token: str, *, now: datetime) -> User:
    """The active user owning `token`; Unauthenticated for anything else."""
    return (await authenticate_token(token, now=now)).user


async def authenticate_token(token: str, *, now: datetime) -> ApiToken:
    """The valid token row of `token`, with its (active) user loaded; Unauthenticated for
    anything else. Live connections keep its id and expiry to know when to close."""
    if not token.startswith(TOKEN_PREFIX):
        raise Unauthenticated("invalid token")
    api_token = (
        await ApiToken.filter(token_hash=hash_token(token)).select_related("user").first()
    )
    if api_token is None or api_token.revoked_at is not None:
        raise Unauthenticated("invalid token")
    if api_token.expires_at is not None and api_token.expires_at <= now:
        raise Unauthenticated("token expired")
    user: User = api_token.user
    if not user.active:
        raise Unauthenticated("user is deactivated")
    if api_token.last_used_at is None or now - api_token.last_used_at >= LAST_USED_RESOLUTION:
        await ApiToken.filter(id=api_token.id).update(last_used_at=now)
    return api_token


async def has_users() -> bool:
    return await User.exists()


async def bootstrap_admin(*, now: datetime) -> IssuedToken | None:
    """On an empty database, create the first admin and return its token; else None."""
    if await has_users():
        return None
    return await create_user_with_token("admin", Role.ADMIN, now=now)


# ------------------------------------------------------------------ token management (ADMIN)


async def list_tokens() -> list[ApiToken]:
    """Every token (revoked and expired ones too), newest first, with its user."""
    return await ApiToken.all().select_related("user").order_by("-created_at", "-id")


async def create_token_for_user(
    user_id: int, *, now: datetime, expires_at: datetime | None = None
) -> IssuedToken:
    """A further token for an existing user (rotation: issue the new, then revoke the old)."""
    if expires_at is not None and expires_at <= now:
        raise BadUserInput("expiresAt must be in the future", field="expiresAt")
    async with db.atomic():
        user = await User.get_or_none(id=user_id)
        if user is None:
            raise NotFound("no user with this id", field="userId")
        if not user.active:
            raise BadUserInput("the user is deactivated", field="userId")
        return await _issue(user, user.name, now=now, expires_at=expires_at)


async def revoke_token(
    token_id: int, *, now: datetime, actor_id: int | None = None
) -> ApiToken:
    """Revoke a token; revoking it again keeps the first revocation time (and appends no
    second event)."""
    async with db.atomic():
        api_token = await ApiToken.filter(id=token_id).select_for_update().first()
        if api_token is None:
            raise NotFound("no API token with this id", field="id")
        if api_token.revoked_at is None:
            api_token.revoked_at = now
            await api_token.save(update_fields=["revoked_at"])
            await events.append(
                access.TOKEN_REVOKED, now=now, actor_id=actor_id,
                payload=access.token_revoked_payload(api_token.id, api_token.user_id),  # type: ignore[attr-defined]
            )
        await api_token.fetch_related("user")
        return api_token


async def _refuse_losing_the_last_admin(user: User, message: str, field: str) -> None:
    if Role(user.role) == Role.ADMIN and user.active:
        admins = await User.filter(role=Role.ADMIN, active=True).select_for_update()
        if [a.id for a in admins] == [user.id]:
            raise Conflict(message, field=field)


async def set_user_role(
    user_id: int, role: Role, *, now: datetime, actor_id: int | None = None
) -> User:
    """Change a user's role; the last active ADMIN cannot be demoted (CONFLICT)."""
    async with db.atomic():
        user = await User.filter(id=user_id).select_for_update().first()
        if user is None:
            raise NotFound("no user with this id", field="userId")
        if role != Role.ADMIN:
            await _refuse_losing_the_last_admin(
                user, "the last active ADMIN cannot be demoted", "role")
        before = Role(user.role)
        if before != role:
            user.role = role
            await user.save(update_fields=["role"])
            await events.append(
                access.USER_ROLE_CHANGED, now=now, actor_id=actor_id,
                payload=access.role_changed_payload(user.id, before, role),
            )
        return user


async def set_user_active(
    user_id: int, active: bool, *, now: datetime, actor_id: int | None = None
) -> User:
    """Deactivate a user (every token stops working, live connections close) or reactivate
    one; the last active ADMIN cannot be deactivated (CONFLICT)."""
    async with db.atomic():
        user = await User.filter(id=user_id).select_for_update().first()
        if user is None:
            raise NotFound("no user with this id", field="userId")
        if not active:
            await _refuse_losing_the_last_admin(
                user, "the last active ADMIN cannot be deactivated", "active")
        if user.active != active:
            user.active = active
            await user.save(update_fields=["active"])
            await events.append(
                access.USER_DEACTIVATED if not active else access.USER_REACTIVATED,
                now=now, actor_id=actor_id, payload=access.user_payload(user.id),
            )
        return user


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header; None when there is no header."""
    if header is None or not header.strip():
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return token.strip()
