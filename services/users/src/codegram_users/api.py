"""The users service's public HTTP API (API.md "Users"), called only through the gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from codegram_clients.social import FollowLookup
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.web.openapi import error_responses
from codegram_kit.web.pagination import MAX_LIMIT, Page
from codegram_kit.web.principal import CurrentPrincipal, OptionalPrincipal
from codegram_kit.web.responses import etag_json, page_response
from codegram_kit.web.tokens import Principal
from codegram_users.config import UsersSettings
from codegram_users.domain import User
from codegram_users.events import UserEvents
from codegram_users.schemas import GitHubSummary, UserMe, UserRead, UserStats, UserUpdate
from codegram_users.service import UserService

router = APIRouter(prefix="/api/v1", tags=["users"])


async def _user_service(request: Request) -> AsyncIterator[UserService]:
    runtime: ServiceRuntime = request.app.state.runtime
    async with runtime.db.unit_of_work() as session:
        yield UserService(session, UserEvents(runtime.outbox, session))


Users = Annotated[UserService, Depends(_user_service)]


async def _follow_lookup(request: Request) -> FollowLookup:
    # Async, so that it runs on the event loop its gRPC channel belongs to.
    runtime: ServiceRuntime = request.app.state.runtime
    settings = runtime.settings
    assert isinstance(settings, UsersSettings)
    return FollowLookup(runtime.channel(settings.social_grpc_target))


Follows = Annotated[FollowLookup, Depends(_follow_lookup)]


async def with_followed_by_me(
    shown: list[UserRead], viewer: Principal | None, follows: FollowLookup
) -> list[UserRead]:
    """`followed_by_me` for a signed-in viewer, from one batched call for the whole page (left out
    when the social service cannot answer: it is optional, the profiles are not)."""
    if viewer is None or not shown:
        return shown
    followed = await follows.followed_among(viewer.user_id, [u.id for u in shown])
    if followed is None:
        return shown
    return [u.model_copy(update={"followed_by_me": u.id in followed}) for u in shown]


def to_read(user: User) -> UserRead:
    return UserRead(**_public_fields(user))


def to_me(user: User) -> UserMe:
    return UserMe(**_public_fields(user), email=user.email)


def _public_fields(user: User) -> dict:
    gh = user.github
    return {
        "id": str(user.id),
        "username": user.username,
        "full_name": user.full_name,
        "avatar_url": user.avatar_url,
        "bio": user.bio,
        "location": user.location,
        "website": user.website,
        "created_at": user.created_at,
        "stats": UserStats(
            followers=user.followers, following=user.following, snippets=user.snippets, docs=user.docs
        ),
        "github": GitHubSummary(
            login=gh.login,
            followers=gh.followers,
            following=gh.following,
            public_repos=gh.public_repos,
            synced_at=gh.synced_at,
        )
        if gh
        else None,
    }


# A token can outlive its user's record; the profile is then not there.
_GONE = error_responses(404, s404="The token's user no longer exists.")


@router.get(
    "/users/me", response_model=UserMe, responses=_GONE, summary="Your own profile, with private fields"
)
async def get_me(principal: CurrentPrincipal, users: Users) -> UserMe:
    return to_me(await users.get(principal.user_id))


@router.patch("/users/me", response_model=UserMe, responses=_GONE, summary="Update your profile")
async def patch_me(body: UserUpdate, principal: CurrentPrincipal, users: Users) -> UserMe:
    user = await users.update_profile(principal.user_id, body.model_dump(exclude_unset=True))
    return to_me(user)


@router.get("/users", response_model=Page[UserRead], summary="Search users by username or name prefix")
async def search_users(
    request: Request,
    users: Users,
    viewer: OptionalPrincipal,
    follows: Follows,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    found, next_cursor = await users.search(q, cursor, limit)
    shown = await with_followed_by_me([to_read(u) for u in found], viewer, follows)
    return page_response(request, shown, limit, next_cursor)


@router.get(
    "/users/{username}",
    response_model=UserRead,
    responses=error_responses(404, s404="No user with that username."),
    summary="A user's public profile",
)
async def get_user(
    request: Request,
    username: Annotated[str, Path(max_length=100)],
    users: Users,
    viewer: OptionalPrincipal,
    follows: Follows,
) -> Response:
    user = to_read(await users.get_by_username(username))
    (shown,) = await with_followed_by_me([user], viewer, follows)
    return etag_json(request, shown)
