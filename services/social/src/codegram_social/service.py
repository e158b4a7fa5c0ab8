"""The social service's use cases: follows (followers and following lists included).

The users service is asked before a unit of work opens or after it commits, never inside one: a
transaction is not held open across a remote call.
"""

from __future__ import annotations

from uuid import UUID

from codegram_clients.users import UserDirectory, UserRead
from codegram_kit.db.engine import Database
from codegram_kit.db.ids import parse_id
from codegram_kit.messaging.outbox import Outbox
from codegram_kit.web.errors import NotFound, ValidationFailed
from codegram_social.events import SocialEvents
from codegram_social.notifications import NotificationStore
from codegram_social.paging import decode_id_position, encode_position
from codegram_social.repository import FollowRepository, FollowRow, Side


def _cursor(row: FollowRow) -> str:
    return encode_position(row.created_at, row.user_id)


class FollowService:
    def __init__(self, db: Database, outbox: Outbox, users: UserDirectory) -> None:
        self.db = db
        self.outbox = outbox
        self.users = users

    async def _user_id(self, username: str) -> UUID:
        user_id = await self.users.find_id(username)
        if user_id is None:
            raise NotFound("user not found")
        return user_id

    async def _followee(self, follower_id: str, username: str) -> tuple[UUID, UUID]:
        follower = parse_id(follower_id)
        if follower is None:
            raise NotFound("user not found")
        followee = await self._user_id(username)
        if followee == follower:
            raise ValidationFailed(
                "you cannot follow yourself",
                [{"field": "username", "in": "path", "message": "you cannot follow yourself"}],
            )
        return follower, followee

    async def follow(self, follower_id: str, username: str) -> None:
        """Idempotent: the event is published only when the follow is new."""
        follower, followee = await self._followee(follower_id, username)
        async with self.db.unit_of_work() as session:
            if await FollowRepository(session).add(follower, followee):
                events = SocialEvents(self.outbox, session)
                await events.follow_created(follower, followee)
                # Following again after an unfollow notifies nobody twice.
                await NotificationStore(session, events).record(followee, "follow", follower)

    async def unfollow(self, follower_id: str, username: str) -> None:
        """Idempotent: the event is published only when there was a follow to remove."""
        follower, followee = await self._followee(follower_id, username)
        async with self.db.unit_of_work() as session:
            if await FollowRepository(session).remove(follower, followee):
                await SocialEvents(self.outbox, session).follow_deleted(follower, followee)

    async def people(
        self, side: Side, username: str, cursor: str | None, limit: int, viewer_id: str | None = None
    ) -> tuple[list[UserRead], str | None]:
        """A page of a user's followers or followees, newest follow first, with the next cursor;
        `followed_by_me` is filled for a signed-in viewer and left null for anyone else."""
        after = decode_id_position(cursor)
        user_id = await self._user_id(username)
        followed: set[UUID] | None = None
        async with self.db.unit_of_work() as session:
            repository = FollowRepository(session)
            rows = await repository.page(side, user_id, after, limit + 1)
            page = rows[:limit]
            if viewer_id is not None:
                # One query for the whole page, from the follows table this service owns.
                viewer = parse_id(viewer_id)
                ids = [r.user_id for r in page]
                followed = set() if viewer is None else await repository.followed_among(viewer, ids)
        next_cursor = _cursor(page[-1]) if len(rows) > limit else None
        # One batched call for the whole page; a user the users service no longer knows is left out.
        found = await self.users.users([r.user_id for r in page])
        shown = [found[r.user_id] for r in page if r.user_id in found]
        if followed is not None:
            shown = [u.model_copy(update={"followed_by_me": UUID(u.id) in followed}) for u in shown]
        return shown, next_cursor
