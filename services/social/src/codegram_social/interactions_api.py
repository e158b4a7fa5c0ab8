"""Likes and comments over HTTP: `/snippets/{id}/like|comments`, the same under `/docs`, and
`DELETE /comments/{id}` (API.md "Social")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from codegram_clients.content import KINDS, ContentKind
from codegram_kit.web.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from codegram_kit.web.principal import CurrentPrincipal, OptionalPrincipal
from codegram_kit.web.responses import page_response
from codegram_social.dependencies import comment_service, errors, like_service
from codegram_social.interactions import CommentCreate, CommentRead, CommentService, LikeService, LikeState

router = APIRouter(tags=["social"])

Likes = Annotated[LikeService, Depends(like_service)]
Comments = Annotated[CommentService, Depends(comment_service)]
ItemId = Annotated[str, Path(max_length=64, description="The snippet's or doc's id.")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=512)]
PLURAL = {"snippet": "snippets", "doc": "docs"}


def _routes(kind: ContentKind) -> None:
    """The like and comment routes of one kind of content."""
    plural = PLURAL[kind]

    @router.put(
        f"/{plural}/{{item_id}}/like",
        response_model=LikeState,
        summary=f"Like a {kind}",
        description="Idempotent: liking again changes nothing. Private content of others is 404.",
        responses=errors(401, 404, 503),
        operation_id=f"like_{kind}",
    )
    async def like(item_id: ItemId, principal: CurrentPrincipal, service: Likes) -> LikeState:
        return await service.like(kind, item_id, principal.user_id)

    @router.delete(
        f"/{plural}/{{item_id}}/like",
        response_model=LikeState,
        summary=f"Take back a like of a {kind}",
        description="Idempotent: unliking what you do not like changes nothing.",
        responses=errors(401, 404, 503),
        operation_id=f"unlike_{kind}",
    )
    async def unlike(item_id: ItemId, principal: CurrentPrincipal, service: Likes) -> LikeState:
        return await service.unlike(kind, item_id, principal.user_id)

    @router.get(
        f"/{plural}/{{item_id}}/comments",
        response_model=Page[CommentRead],
        summary=f"The comments on a {kind}, oldest first",
        responses=errors(400, 401, 404, 503),
        operation_id=f"list_{kind}_comments",
    )
    async def list_comments(
        request: Request,
        item_id: ItemId,
        viewer: OptionalPrincipal,
        service: Comments,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Response:
        viewer_id = viewer.user_id if viewer is not None else None
        found, next_cursor = await service.page(kind, item_id, viewer_id, cursor, limit)
        return page_response(request, found, limit, next_cursor)

    @router.post(
        f"/{plural}/{{item_id}}/comments",
        status_code=201,
        response_model=CommentRead,
        summary=f"Comment on a {kind}",
        responses=errors(400, 401, 404, 503),
        operation_id=f"comment_on_{kind}",
    )
    async def comment(
        item_id: ItemId,
        body: Annotated[CommentCreate, Body()],
        principal: CurrentPrincipal,
        service: Comments,
    ) -> JSONResponse:
        created = await service.create(kind, item_id, principal.user_id, body.body)
        return JSONResponse(jsonable_encoder(created), status_code=201)


for _kind in KINDS:
    _routes(_kind)


@router.delete(
    "/comments/{comment_id}",
    status_code=204,
    summary="Delete a comment",
    description="By the comment's author or the author of what it is on.",
    responses=errors(
        401,
        403,
        404,
        503,
        s403="Neither the comment's author nor the author of what it is on",
        s404="No such comment, or it is on something the caller may not see",
    ),
)
async def delete_comment(
    comment_id: Annotated[str, Path(max_length=64)], principal: CurrentPrincipal, service: Comments
) -> Response:
    await service.delete(comment_id, principal.user_id)
    return Response(status_code=204)
