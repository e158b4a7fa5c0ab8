"""The social service's public HTTP API (API.md "Social"), called only through the gateway: follows
and the followers and following lists here, and the real-time channel (realtime.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from codegram_clients.users import UserDirectory
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.web.errors import ErrorEnvelope
from codegram_kit.web.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from codegram_kit.web.principal import CurrentPrincipal, OptionalPrincipal
from codegram_kit.web.responses import page_response
from codegram_kit.web.tokens import Principal
from codegram_social import realtime
from codegram_social.config import SocialSettings
from codegram_social.repository import Side
from codegram_social.schemas import UserRead
from codegram_social.service import FollowService

router = APIRouter(prefix="/api/v1", tags=["social"])
router.include_router(realtime.router)


async def _follow_service(request: Request) -> FollowService:
    # Async, so that it runs on the event loop its gRPC channel belongs to.
    runtime: ServiceRuntime = request.app.state.runtime
    settings = runtime.settings
    assert isinstance(settings, SocialSettings)
    users = UserDirectory(runtime.channel(settings.users_grpc_target))
    return FollowService(runtime.db, runtime.outbox, users)


Follows = Annotated[FollowService, Depends(_follow_service)]
Username = Annotated[str, Path(max_length=100)]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "Invalid request: following yourself, or a bad cursor or limit",
        401: "No valid access token",
        404: "No user with this username",
        503: "The users service is unavailable",
    }
    return {s: {"model": ErrorEnvelope, "description": described[s]} for s in statuses}


@router.put(
    "/users/{username}/follow",
    status_code=204,
    summary="Follow a user",
    description="Idempotent: following someone you already follow changes nothing.",
    responses=_errors(400, 401, 404, 503),
)
async def follow(username: Username, principal: CurrentPrincipal, follows: Follows) -> Response:
    await follows.follow(principal.user_id, username)
    return Response(status_code=204)


@router.delete(
    "/users/{username}/follow",
    status_code=204,
    summary="Unfollow a user",
    description="Idempotent: unfollowing someone you do not follow changes nothing.",
    responses=_errors(400, 401, 404, 503),
)
async def unfollow(username: Username, principal: CurrentPrincipal, follows: Follows) -> Response:
    await follows.unfollow(principal.user_id, username)
    return Response(status_code=204)


async def _people(
    side: Side,
    request: Request,
    username: str,
    viewer: Principal | None,
    follows: FollowService,
    limit: int,
    cursor: str | None,
) -> Response:
    viewer_id = viewer.user_id if viewer is not None else None
    found, next_cursor = await follows.people(side, username, cursor, limit, viewer_id)
    return page_response(request, found, limit, next_cursor)


@router.get(
    "/users/{username}/followers",
    response_model=Page[UserRead],
    summary="Who follows a user, newest first",
    responses=_errors(400, 401, 404, 503),
)
async def followers(
    request: Request,
    username: Username,
    viewer: OptionalPrincipal,
    follows: Follows,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    return await _people("followers", request, username, viewer, follows, limit, cursor)


@router.get(
    "/users/{username}/following",
    response_model=Page[UserRead],
    summary="Whom a user follows, newest first",
    responses=_errors(400, 401, 404, 503),
)
async def following(
    request: Request,
    username: Username,
    viewer: OptionalPrincipal,
    follows: Follows,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    return await _people("following", request, username, viewer, follows, limit, cursor)
