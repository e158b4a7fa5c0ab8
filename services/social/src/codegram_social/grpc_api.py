"""The social service's internal gRPC API (codegram.social.v1): the batch lookups other services
make, such as "followed by me" for a page of users and "liked by me" for a page of content."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC

from grpc import aio

from codegram_clients.content import KINDS, ContentFacts
from codegram_kit.db.ids import parse_id
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.web.errors import ValidationFailed
from codegram_proto.codegram.social.v1 import social_pb2, social_pb2_grpc
from codegram_social.content import apply_change
from codegram_social.interactions import liked_among
from codegram_social.repository import FollowRepository

MAX_BATCH = 500


class SocialServicer(social_pb2_grpc.SocialServiceServicer):
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

    async def Following(self, request, context):  # type: ignore[no-untyped-def]
        if len(request.user_ids) > MAX_BATCH:
            raise ValidationFailed(f"at most {MAX_BATCH} ids per call")
        follower = parse_id(request.user_id)
        ids = [i for i in (parse_id(raw) for raw in request.user_ids) if i is not None]
        if follower is None or not ids:
            return social_pb2.FollowingResponse()
        async with self.runtime.db.unit_of_work() as session:
            found = await FollowRepository(session).followed_among(follower, ids)
        return social_pb2.FollowingResponse(user_ids=sorted(str(i) for i in found))

    async def LikedBy(self, request, context):  # type: ignore[no-untyped-def]
        if len(request.subject_ids) > MAX_BATCH:
            raise ValidationFailed(f"at most {MAX_BATCH} ids per call")
        if request.subject_type not in KINDS:
            raise ValidationFailed("subject_type is snippet or doc")
        user = parse_id(request.user_id)
        ids = [i for i in (parse_id(raw) for raw in request.subject_ids) if i is not None]
        if user is None or not ids:
            return social_pb2.LikedByResponse()
        found = await liked_among(self.runtime.db, user, request.subject_type, ids)
        return social_pb2.LikedByResponse(subject_ids=sorted(str(i) for i in found))

    async def ContentChanged(self, request, context):  # type: ignore[no-untyped-def]
        if request.subject_type not in KINDS:
            raise ValidationFailed("subject_type is snippet or doc")
        item_id, author_id = parse_id(request.id), parse_id(request.author_id)
        if item_id is None or author_id is None:
            raise ValidationFailed("id and author_id are ids")
        facts = ContentFacts(
            kind=request.subject_type,
            id=item_id,
            author_id=author_id,
            visibility=request.visibility,
            title=request.title,
            created_at=request.created_at.ToDatetime(tzinfo=UTC),
            updated_at=request.updated_at.ToDatetime(tzinfo=UTC),
        )
        async with self.runtime.db.unit_of_work() as session:
            await apply_change(session, facts, deleted=request.deleted)
        return social_pb2.ContentChangedResponse()


def register(runtime: ServiceRuntime, server: aio.Server) -> Iterable[str]:
    social_pb2_grpc.add_SocialServiceServicer_to_server(SocialServicer(runtime), server)
    return [social_pb2.DESCRIPTOR.services_by_name["SocialService"].full_name]
