"""GraphQL for users and API tokens."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.auth import service
from app.auth.models import ApiToken, Role, User
from app.graphql.context import Info
from app.graphql.ids import decode_id, to_global_id
from app.graphql.relay import Node

RoleEnum = strawberry.enum(Role, name="Role")


@strawberry.type(name="User")
class UserType(Node):
    name: str
    role: RoleEnum  # type: ignore[valid-type]
    active: bool

    @classmethod
    def from_model(cls, user: User) -> UserType:
        return cls(
            id=strawberry.ID(to_global_id("User", user.id)),
            name=user.name,
            role=Role(user.role),
            active=user.active,
        )


@strawberry.type(name="ApiToken")
class ApiTokenType(Node):
    name: str
    user: UserType
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_model(cls, token: ApiToken, user: User) -> ApiTokenType:
        return cls(
            id=strawberry.ID(to_global_id("ApiToken", token.id)),
            name=token.name,
            user=UserType.from_model(user),
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
        )


@strawberry.type
class CreatedApiToken:
    token: str = strawberry.field(description="The secret: shown once, store it now.")
    api_token: ApiTokenType


@strawberry.type
class AuthQuery:
    @strawberry.field(description="The user the request's token belongs to; null without one.")
    def viewer(self, info: Info) -> UserType | None:
        user = info.context.user
        return UserType.from_model(user) if user else None

    @strawberry.field(description="People and service accounts, e.g. to pick an assignee.")
    async def users(self, info: Info) -> list[UserType]:
        info.context.require(Role.VIEWER)
        return [UserType.from_model(u) for u in await User.all().order_by("name")]

    @strawberry.field(description="Every API token, newest first (ADMIN). Never the secret.")
    async def api_tokens(self, info: Info) -> list[ApiTokenType]:
        info.context.require(Role.ADMIN)
        return [ApiTokenType.from_model(t, t.user) for t in await service.list_tokens()]


@strawberry.type
class AuthMutation:
    @strawberry.mutation(
        description="Create the user `name` with `role` and its first token (ADMIN)."
    )
    async def create_api_token(
        self, info: Info, name: str, role: RoleEnum, expires_at: datetime | None = None  # type: ignore[valid-type]
    ) -> CreatedApiToken:
        info.context.require(Role.ADMIN)
        issued = await service.create_user_with_token(
            name, Role(role), now=info.context.now(), expires_at=expires_at
        )
        user = await User.get(id=issued.api_token.user_id)  # type: ignore[attr-defined]
        return CreatedApiToken(
            token=issued.token, api_token=ApiTokenType.from_model(issued.api_token, user)
        )

    @strawberry.mutation(
        description="A further token for an existing user, for rotation (ADMIN)."
    )
    async def create_api_token_for_user(
        self, info: Info, user_id: strawberry.ID, expires_at: datetime | None = None
    ) -> CreatedApiToken:
        info.context.require(Role.ADMIN)
        issued = await service.create_token_for_user(
            decode_id(user_id, "User", "userId"), now=info.context.now(), expires_at=expires_at
        )
        user = await User.get(id=issued.api_token.user_id)  # type: ignore[attr-defined]
        return CreatedApiToken(
            token=issued.token, api_token=ApiTokenType.from_model(issued.api_token, user)
        )

    @strawberry.mutation(
        description="Revoke a token; it stops working at once, and live connections using it "
        "close (ADMIN)."
    )
    async def revoke_api_token(self, info: Info, id: strawberry.ID) -> ApiTokenType:
        admin = info.context.require(Role.ADMIN)
        revoked = await service.revoke_token(
            decode_id(id, "ApiToken"), now=info.context.now(), actor_id=admin.id
        )
        return ApiTokenType.from_model(revoked, revoked.user)

    @strawberry.mutation(
        description="Change a user's role; live connections holding more than the new role "
        "close (ADMIN)."
    )
    async def set_user_role(
        self, info: Info, user_id: strawberry.ID, role: RoleEnum  # type: ignore[valid-type]
    ) -> UserType:
        admin = info.context.require(Role.ADMIN)
        user = await service.set_user_role(
            decode_id(user_id, "User", "userId"), Role(role), now=info.context.now(),
            actor_id=admin.id,
        )
        return UserType.from_model(user)

    @strawberry.mutation(
        description="Deactivate a user (its tokens stop working and its live connections "
        "close) or reactivate it (ADMIN)."
    )
    async def set_user_active(
        self, info: Info, user_id: strawberry.ID, active: bool
    ) -> UserType:
        admin = info.context.require(Role.ADMIN)
        user = await service.set_user_active(
            decode_id(user_id, "User", "userId"), active, now=info.context.now(),
            actor_id=admin.id,
        )
        return UserType.from_model(user)
