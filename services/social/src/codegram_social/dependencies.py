"""The social service's use cases for one request, built from the runtime: its database, outbox and
the peers it asks (users for people, the content services for an item not heard of yet)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from codegram_clients.content import ContentDirectory
from codegram_clients.users import UserDirectory
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.web.errors import ErrorEnvelope
from codegram_social.authors import local_authors
from codegram_social.config import SocialSettings
from codegram_social.content import ContentAccess
from codegram_social.interactions import CommentService, LikeService
from codegram_social.notifications import NotificationService
from codegram_social.service import FollowService


def _runtime(request: Request) -> tuple[ServiceRuntime, SocialSettings]:
    runtime: ServiceRuntime = request.app.state.runtime
    settings = runtime.settings
    assert isinstance(settings, SocialSettings)
    return runtime, settings


def _access(runtime: ServiceRuntime, settings: SocialSettings) -> ContentAccess:
    directory = ContentDirectory(
        runtime.channel(settings.snippets_grpc_target), runtime.channel(settings.docs_grpc_target)
    )
    return ContentAccess(runtime.db, directory)


# Async, so that they run on the event loop the gRPC channels belong to.
async def follow_service(request: Request) -> FollowService:
    runtime, settings = _runtime(request)
    return FollowService(
        runtime.db, runtime.outbox, UserDirectory(runtime.channel(settings.users_grpc_target))
    )


async def like_service(request: Request) -> LikeService:
    runtime, settings = _runtime(request)
    return LikeService(runtime.db, runtime.outbox, _access(runtime, settings))


async def comment_service(request: Request) -> CommentService:
    runtime, settings = _runtime(request)
    return CommentService(runtime.db, runtime.outbox, _access(runtime, settings), local_authors(runtime))


async def notification_service(request: Request) -> NotificationService:
    runtime, _ = _runtime(request)
    return NotificationService(runtime.db, local_authors(runtime))


_DESCRIBED = {
    400: "Invalid request: a bad body, cursor or limit (details name each field)",
    401: "No valid access token",
    403: "Signed in, but not allowed to do this",
    404: "No such thing, or one the caller may not see",
    503: "A service this answer needs is unavailable",
}


def errors(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses (`described` overrides by `s<status>=...`)."""
    return {
        s: {"model": ErrorEnvelope, "description": described.get(f"s{s}", _DESCRIBED[s])} for s in statuses
    }
