"""The social service's public HTTP API (API.md "Social"), called only through the gateway: follows
and the followers and following lists here; likes and comments (interactions_api.py),
notifications (notifications_api.py) and the real-time channel (realtime.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from codegram_kit.web.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from codegram_kit.web.principal import CurrentPrincipal, OptionalPrincipal
from codegram_kit.web.responses import page_response
from codegram_kit.web.tokens import Principal
from codegram_social import feed_api, interactions_api, notifications_api, realtime
from codegram_social.dependencies import errors, follow_service
from codegram_social.repository import Side
from codegram_social.schemas import UserRead
from codegram_social.service import FollowService

router = APIRouter(prefix="/api/v1", tags=["social"])
router.include_router(realtime.router)
router.include_router(interactions_api.router)
router.include_router(notifications_api.router)
router.include_router(feed_api.router)


Follows = Annotated[FollowService, Depends(follow_service)]
Username = Annotated[str, Path(max_length=100)]


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return errors(
        *statuses,
        s400="Invalid request: following yourself, or a bad cursor or limit",
        s404="No user with this username",
        s503="The users service is unavailable",
    )


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
