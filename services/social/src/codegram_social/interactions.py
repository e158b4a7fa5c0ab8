"""Likes and comments on snippets and docs.

Only what the caller may see can be liked, unliked, commented on or read: anything else is a 404
(API.md). Each change runs in one transaction that locks the subject's row in the read model (so it
cannot be deleted or made private underneath, and its counters move in order), writes the change,
its event and the notification; peers (the users service for authors, a content service for an
item not heard of yet) are asked before it opens or after it commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import sqlalchemy as sa
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.dialects.postgresql import insert

from codegram_clients.content import ContentKind
from codegram_clients.users import AuthorDirectory, AuthorSummary, authors_of
from codegram_kit.db.engine import Database
from codegram_kit.db.ids import new_uuid7, parse_id
from codegram_kit.messaging.outbox import Outbox, event_type
from codegram_kit.web.errors import Forbidden, NotFound
from codegram_proto.codegram.events.v1 import social_pb2
from codegram_social.content import ContentAccess, ContentRepository
from codegram_social.events import LIKE_CREATED, NOTIFICATION_CREATED, SocialEvents, now, with_placeholder
from codegram_social.models import comments, likes
from codegram_social.notifications import NotificationStore, like_dedupe_key
from codegram_social.paging import decode_id_position, encode_position

MAX_COMMENT_LENGTH = 10_000


# -- the public models (API.md "Social") --------------------------------------------------------
class LikeState(BaseModel):
    liked: bool
    likes_count: int = Field(ge=0)


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(
        min_length=1,
        max_length=MAX_COMMENT_LENGTH,
        description="Plain text, 1 to 10,000 characters, not only whitespace.",
        pattern=r"\S",
    )

    @field_validator("body")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        # The pattern says the same to clients; this keeps it true whatever regex engine runs it.
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class CommentRead(BaseModel):
    id: str
    body: str
    author: AuthorSummary
    created_at: datetime


def _user(raw: str) -> UUID:
    user_id = parse_id(raw)
    if user_id is None:
        raise NotFound("user not found")
    return user_id


# A like in one statement, committed on its own (autocommit): the subject's row, locked, if the
# user may see it; the like, unless there is one; then, only if it was added, the counter, the
# like's event, the author's notification (unless one of the same like was made before, or it is
# the author's own like) and that notification's event. The events' payloads were serialized
# with a placeholder where the author's id goes (`with_placeholder`), which is only known here.
# Answers the new count (null when nothing was added), the count as it was, how many events were
# written, and whether social has heard of the item at all (to tell "read it through" from 404).
# Under a concurrent like of the same subject, the lock waits and the row is read again as that
# one committed it (READ COMMITTED), so counts move in order as with a locking read of their own.
_LIKE = """
WITH subject AS (
    SELECT kind, id, author_id, likes_count FROM content
    WHERE kind = %(kind)s AND id = %(id)s AND NOT deleted
        AND (visibility <> 'private' OR author_id = %(user)s)
    FOR UPDATE
), added AS (
    INSERT INTO likes (kind, subject_id, user_id) SELECT kind, id, %(user)s FROM subject
    ON CONFLICT DO NOTHING RETURNING subject_id
), counted AS (
    UPDATE content SET likes_count = likes_count + 1
    WHERE kind = %(kind)s AND id = (SELECT subject_id FROM added)
    RETURNING likes_count
), notified AS (
    INSERT INTO notifications (id, recipient_id, type, actor_id, subject_kind, subject_id, dedupe_key)
    SELECT %(notification_id)s, author_id, 'like', %(user)s, kind, id, %(dedupe)s
    FROM subject WHERE author_id <> %(user)s AND EXISTS (SELECT FROM added)
    ON CONFLICT ON CONSTRAINT uq_notifications_dedupe DO NOTHING RETURNING recipient_id
), events AS (
    INSERT INTO outbox (event_id, subject, payload, headers)
    SELECT %(like_event)s, %(like_subject)s,
        overlay(%(like_payload)s::bytea PLACING convert_to(subject.author_id::text, 'UTF8')
            FROM %(like_at)s::int),
        %(like_headers)s
    FROM added, subject
    UNION ALL
    SELECT %(push_event)s, %(push_subject)s,
        overlay(%(push_payload)s::bytea PLACING convert_to(notified.recipient_id::text, 'UTF8')
            FROM %(push_at)s::int),
        %(push_headers)s
    FROM notified
    RETURNING 1
)
SELECT (SELECT likes_count FROM counted), (SELECT likes_count FROM subject),
    (SELECT count(*) FROM events), EXISTS (SELECT FROM content WHERE kind = %(kind)s AND id = %(id)s)
"""


class LikeService:
    def __init__(self, db: Database, outbox: Outbox, access: ContentAccess) -> None:
        self.db = db
        self.outbox = outbox
        self.access = access

    async def like(self, kind: ContentKind, raw_id: str, user_raw: str) -> LikeState:
        """Idempotent: the count, the event and the notification move only for a new like; liking
        again after an unlike notifies nobody twice (the notification is kept)."""
        user = _user(user_raw)
        item_id = parse_id(raw_id)
        if item_id is None:
            raise NotFound(f"{kind} not found")
        for _ in range(2):
            count = await self._add_like(kind, item_id, user)
            if count is not None:
                return LikeState(liked=True, likes_count=count)
            # Not heard of yet: read it through once (a 404 if it is not there to see), then again.
            await self.access.visible(kind, raw_id, user)
        raise NotFound(f"{kind} not found")

    async def _add_like(self, kind: ContentKind, item_id: UUID, user: UUID) -> int | None:
        """The like and all that goes with it (`_LIKE`) in one round trip; returns the likes
        count, None when social has not heard of the item, a 404 when the user may not see it."""
        subject = social_pb2.Subject(type=kind, id=str(item_id))
        like_payload, like_at = with_placeholder(
            lambda author: social_pb2.LikeCreated(
                user_id=str(user), subject=subject, subject_author_id=author, occurred_at=now()
            )
        )
        notification_id = new_uuid7()
        push_payload, push_at = with_placeholder(
            lambda recipient: social_pb2.NotificationCreated(
                notification_id=str(notification_id), recipient_id=recipient, type="like", occurred_at=now()
            )
        )
        like_row = self.outbox.row_raw(LIKE_CREATED, like_payload, event_type(social_pb2.LikeCreated))
        push_row = self.outbox.row_raw(
            NOTIFICATION_CREATED, push_payload, event_type(social_pb2.NotificationCreated)
        )
        params = {
            "kind": kind,
            "id": item_id,
            "user": user,
            "notification_id": notification_id,
            "dedupe": like_dedupe_key(user, kind, item_id),
            "like_event": like_row.event_id,
            "like_subject": like_row.subject,
            "like_payload": like_row.payload,
            "like_at": like_at,
            "like_headers": Jsonb(like_row.headers),
            "push_event": push_row.event_id,
            "push_subject": push_row.subject,
            "push_payload": push_row.payload,
            "push_at": push_at,
            "push_headers": Jsonb(push_row.headers),
        }
        async with self.db.engine.connect() as connection:
            # One statement is its own transaction: no BEGIN and COMMIT round trips around it.
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            raw = (await autocommit.get_raw_connection()).driver_connection
            assert raw is not None
            cursor = await raw.execute(_LIKE, params)
            added, current, events, known = await cursor.fetchone()  # type: ignore[misc]
        if events:
            self.outbox.wake()
        if added is not None:
            return int(added)
        if current is not None:
            return int(current)
        if known:
            raise NotFound(f"{kind} not found")
        return None

    async def unlike(self, kind: ContentKind, raw_id: str, user_raw: str) -> LikeState:
        user = _user(user_raw)
        seen = await self.access.visible(kind, raw_id, user)
        async with self.db.unit_of_work() as session:
            subject = await self.access.lock_visible(session, seen, user)
            removed = (
                await session.execute(
                    sa.delete(likes)
                    .where(likes.c.kind == kind, likes.c.subject_id == subject.id, likes.c.user_id == user)
                    .returning(likes.c.user_id)
                )
            ).first()
            if removed is not None:
                subject = await ContentRepository(session).add_to_counts(kind, subject.id, likes=-1)
                await SocialEvents(self.outbox, session).like_changed(user, subject, liked=False)
        return LikeState(liked=False, likes_count=subject.likes_count)


async def liked_among(db: Database, user: UUID, kind: ContentKind, ids: list[UUID]) -> set[UUID]:
    """Which of `ids` (all of `kind`) `user` likes, in one query."""
    if not ids:
        return set()
    query = sa.select(likes.c.subject_id).where(
        likes.c.user_id == user, likes.c.kind == kind, likes.c.subject_id.in_(ids)
    )
    async with db.unit_of_work() as session:
        return set((await session.execute(query)).scalars().all())


@dataclass(frozen=True, slots=True)
class _CommentRow:
    id: UUID
    kind: ContentKind
    subject_id: UUID
    author_id: UUID
    body: str
    created_at: datetime


class CommentService:
    def __init__(self, db: Database, outbox: Outbox, access: ContentAccess, authors: AuthorDirectory) -> None:
        self.db = db
        self.outbox = outbox
        self.access = access
        self.authors = authors

    async def _read(self, rows: list[_CommentRow]) -> list[CommentRead]:
        # One batched call for the page's authors, after the transaction.
        people = await authors_of(self.authors, {r.author_id for r in rows})
        return [
            CommentRead(
                id=str(r.id),
                body=r.body,
                author=AuthorSummary.of(people[r.author_id]),
                created_at=r.created_at,
            )
            for r in rows
        ]

    async def create(self, kind: ContentKind, raw_id: str, author_raw: str, body: str) -> CommentRead:
        author = _user(author_raw)
        seen = await self.access.visible(kind, raw_id, author)
        async with self.db.unit_of_work() as session:
            subject = await self.access.lock_visible(session, seen, author)
            row = (
                await session.execute(
                    insert(comments)
                    .values(id=new_uuid7(), kind=kind, subject_id=subject.id, author_id=author, body=body)
                    .returning(*comments.c)
                )
            ).one()
            subject = await ContentRepository(session).add_to_counts(kind, subject.id, comments=1)
            events = SocialEvents(self.outbox, session)
            await events.comment_changed(row.id, author, subject, created=True)
            await NotificationStore(session, events).record(
                subject.author_id, "comment", author, subject, row.id
            )
        return (await self._read([_CommentRow(**row._mapping)]))[0]

    async def page(
        self, kind: ContentKind, raw_id: str, viewer_raw: str | None, cursor: str | None, limit: int
    ) -> tuple[list[CommentRead], str | None]:
        """Oldest first, keyset on (created_at, id)."""
        after = decode_id_position(cursor)
        viewer = parse_id(viewer_raw) if viewer_raw is not None else None
        subject = await self.access.visible(kind, raw_id, viewer)
        c = comments.c
        query = (
            sa.select(comments)
            .where(c.kind == kind, c.subject_id == subject.id)
            .order_by(c.created_at, c.id)
            .limit(limit + 1)
        )
        if after is not None:
            query = query.where(sa.tuple_(c.created_at, c.id) > sa.tuple_(*after))  # type: ignore[arg-type]
        async with self.db.unit_of_work() as session:
            rows = [_CommentRow(**r._mapping) for r in (await session.execute(query)).all()]
        page = rows[:limit]
        next_cursor = encode_position(page[-1].created_at, page[-1].id) if len(rows) > limit else None
        return await self._read(page), next_cursor

    async def delete(self, raw_id: str, viewer_raw: str) -> None:
        """By the comment's author or the subject's author; anyone else who can see the subject is
        refused (403), and who cannot is told there is no such comment (404)."""
        viewer = _user(viewer_raw)
        comment_id = parse_id(raw_id)
        not_found = NotFound("comment not found")
        if comment_id is None:
            raise not_found
        async with self.db.unit_of_work() as session:
            found = (await session.execute(sa.select(comments).where(comments.c.id == comment_id))).first()
            if found is None:
                raise not_found
            row = _CommentRow(**found._mapping)
            # Locks the subject: its comments count moves in order with its other changes.
            subject = await ContentRepository(session).get(row.kind, row.subject_id, lock=True)
            if subject is None or not subject.visible_to(viewer):
                raise not_found
            if viewer not in (row.author_id, subject.author_id):
                raise Forbidden("only the comment's author or the author of what it is on may delete it")
            await session.execute(sa.delete(comments).where(comments.c.id == comment_id))
            subject = await ContentRepository(session).add_to_counts(row.kind, subject.id, comments=-1)
            events = SocialEvents(self.outbox, session)
            await events.comment_changed(row.id, row.author_id, subject, created=False)
            await NotificationStore(session, events).forget_comment(row.id)
