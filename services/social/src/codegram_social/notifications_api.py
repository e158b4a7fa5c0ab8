"""Notifications over HTTP: the list (one by one or grouped), the unread count and marking read
(API.md "Social")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from codegram_kit.web.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from codegram_kit.web.principal import CurrentPrincipal
from codegram_kit.web.responses import page_response
from codegram_social.dependencies import errors, notification_service
from codegram_social.notifications import (
    MarkRead,
    NotificationGroupRead,
    NotificationRead,
    NotificationService,
    UnreadCount,
    recipient_of,
)

router = APIRouter(tags=["social"])

Notifications = Annotated[NotificationService, Depends(notification_service)]


@router.get(
    "/notifications",
    response_model=Page[NotificationRead] | Page[NotificationGroupRead],
    summary="The caller's notifications, newest first",
    description=(
        "One by one (`Notification`), or with `grouped=true` one entry per (type, subject) with its "
        "latest actors, count and newest time (`NotificationGroup`). `unread=true` leaves out what "
        "is read. A cursor belongs to the form it came from."
    ),
    responses=errors(400, 401, 503),
)
async def list_notifications(
    request: Request,
    principal: CurrentPrincipal,
    service: Notifications,
    unread: bool = False,
    grouped: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    recipient = recipient_of(principal.user_id)
    if grouped:
        groups, next_cursor = await service.grouped(recipient, unread_only=unread, cursor=cursor, limit=limit)
        return page_response(request, groups, limit, next_cursor)
    found, next_cursor = await service.page(recipient, unread_only=unread, cursor=cursor, limit=limit)
    return page_response(request, found, limit, next_cursor)


@router.get(
    "/notifications/unread_count",
    response_model=UnreadCount,
    summary="How many of the caller's notifications are unread",
    responses=errors(401, 503),
)
async def unread_count(principal: CurrentPrincipal, service: Notifications) -> UnreadCount:
    return UnreadCount(count=await service.unread_count(recipient_of(principal.user_id)))


@router.post(
    "/notifications/read",
    status_code=204,
    summary="Mark notifications read",
    description='`{"ids": [...]}` (1 to 100; ids not the caller\'s change nothing) or `{"all": true}`.',
    responses=errors(400, 401, 503),
)
async def mark_read(body: MarkRead, principal: CurrentPrincipal, service: Notifications) -> Response:
    await service.mark_read(recipient_of(principal.user_id), body.ids)
    return Response(status_code=204)
