"""Notifications: recorded in the transaction of the follow, like or comment that causes them,
announced through the outbox (`codegram.social.notification.created`, which the real-time channel
pushes), and read one by one or grouped per (type, subject) as Mastodon's grouped notifications.

Nobody is notified of their own action. A follow or a like is one notification per actor and
subject however often it is taken back and given again (`dedupe_key`); each comment is its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.dialects.postgresql import aggregate_order_by, array_agg, insert
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_clients.users import Author, AuthorDirectory, AuthorSummary, authors_of
from codegram_kit.db.engine import Database
from codegram_kit.db.ids import new_uuid7, parse_id
from codegram_kit.messaging.raw import driver
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.web.errors import Unauthorized
from codegram_social.authors import local_authors
from codegram_social.content import Subject
from codegram_social.events import SocialEvents
from codegram_social.models import content, notifications
from codegram_social.paging import bad_cursor, decode_id_position, decode_position, encode_position

NotificationType = Literal["follow", "like", "comment"]
# A group shows at most this many of its latest actors.
GROUP_SAMPLE = 3


# -- the public models (API.md "Social") --------------------------------------------------------
class SubjectRead(BaseModel):
    type: Literal["snippet", "doc"]
    id: str
    title: str


class NotificationRead(BaseModel):
    id: str
    type: NotificationType
    actor: AuthorSummary
    subject: SubjectRead | None = Field(description="What was liked or commented on; null for a follow.")
    read: bool
    created_at: datetime


class NotificationGroupRead(BaseModel):
    group_key: str = Field(description="`follow`, or `<type>-<subject type>-<subject id>`.")
    type: NotificationType
    subject: SubjectRead | None
    actors: list[AuthorSummary] = Field(
        description="Up to 3 of the latest actors, newest first.", max_length=3
    )
    count: int = Field(description="How many notifications the group holds.", ge=1)
    read: bool = Field(description="Whether every notification of the group is read.")
    latest_at: datetime


class UnreadCount(BaseModel):
    count: int = Field(ge=0)


class MarkRead(BaseModel):
    """`{"ids": [...]}` marks those (ids that are not the caller's are ignored), `{"all": true}`
    marks every notification of the caller."""

    model_config = ConfigDict(extra="forbid")

    ids: list[UUID] | None = Field(default=None, min_length=1, max_length=100)
    all: Literal[True] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> MarkRead:
        if (self.ids is None) == (self.all is None):
            raise ValueError("give either ids or all: true")
        return self


# -- writing ------------------------------------------------------------------------------------
def dedupe_key(type_: NotificationType, actor: UUID, subject: Subject | None) -> str | None:
    if type_ == "follow":
        return f"follow:{actor}"
    if type_ == "like" and subject is not None:
        return like_dedupe_key(actor, subject.kind, subject.id)
    return None


def like_dedupe_key(actor: UUID, kind: str, subject_id: UUID) -> str:
    """One like notification per actor and subject, however often it is taken back and given."""
    return f"like:{actor}:{kind}:{subject_id}"


class NotificationStore:
    """Records notifications in the caller's transaction."""

    def __init__(self, session: AsyncSession, events: SocialEvents) -> None:
        self.session = session
        self.events = events

    async def record(
        self,
        recipient: UUID,
        type_: NotificationType,
        actor: UUID,
        subject: Subject | None = None,
        comment_id: UUID | None = None,
    ) -> UUID | None:
        """The new notification's id; None when there is none to make (one's own action, or a
        follow or like already notified)."""
        if recipient == actor:
            return None
        statement = (
            insert(notifications)
            .values(
                id=new_uuid7(),
                recipient_id=recipient,
                type=type_,
                actor_id=actor,
                subject_kind=subject.kind if subject else None,
                subject_id=subject.id if subject else None,
                comment_id=comment_id,
                dedupe_key=dedupe_key(type_, actor, subject),
            )
            .on_conflict_do_nothing(constraint="uq_notifications_dedupe")
            .returning(notifications.c.id)
        )
        created = (await self.session.execute(statement)).scalar_one_or_none()
        if created is not None:
            await self.events.notification_created(created, recipient, type_)
        return created

    async def forget_comment(self, comment_id: UUID) -> None:
        await self.session.execute(sa.delete(notifications).where(notifications.c.comment_id == comment_id))


# -- reading ------------------------------------------------------------------------------------
def _subject_read(row: Any) -> SubjectRead | None:
    if row.subject_kind is None or row.title is None:
        return None
    return SubjectRead(type=row.subject_kind, id=str(row.subject_id), title=row.title)


def _read(row: Any, actors: Mapping[UUID, Author]) -> NotificationRead:
    """A notification row (with its subject's title) as its recipient's list shows it."""
    return NotificationRead(
        id=str(row.id),
        type=row.type,
        actor=AuthorSummary.of(actors[row.actor_id]),
        subject=_subject_read(row),
        read=row.read,
        created_at=row.created_at,
    )


def _with_subjects() -> Any:
    """Notifications with the title of their subject (now, not as it was when they were made)."""
    n = notifications.c
    joined = notifications.outerjoin(
        content, sa.and_(content.c.kind == n.subject_kind, content.c.id == n.subject_id)
    )
    return joined, content.c.title


def _group_key(type_: str, subject_kind: str | None, subject_id: UUID | None) -> str:
    return type_ if subject_id is None else f"{type_}-{subject_kind}-{subject_id}"


@dataclass(frozen=True, slots=True)
class _Group:
    key: str
    type: str
    subject_kind: str | None
    subject_id: UUID | None
    title: str | None
    actor_ids: list[UUID]
    count: int
    read: bool
    latest_at: datetime


# Notifications with the title of their subject, as `_with_subjects` joins them, and their actor's
# profile when the authors read model holds it.
_MANY = (
    "SELECT n.recipient_id, n.id, n.type, n.actor_id, n.subject_kind, n.subject_id, n.read,"
    " n.created_at, c.title, a.username, a.full_name, a.avatar_url FROM notifications n"
    " LEFT JOIN content c ON c.kind = n.subject_kind AND c.id = n.subject_id"
    " LEFT JOIN authors a ON a.id = n.actor_id WHERE n.id = ANY(%s)"
)


class NotificationService:
    """A user's notifications: pages, groups, the unread count and marking read."""

    def __init__(self, db: Database, authors: AuthorDirectory) -> None:
        self.db = db
        self.authors = authors

    async def page(
        self, recipient: UUID, *, unread_only: bool, cursor: str | None, limit: int
    ) -> tuple[list[NotificationRead], str | None]:
        """Newest first, keyset on (created_at, id)."""
        after = decode_id_position(cursor)
        n = notifications.c
        joined, title = _with_subjects()
        query = (
            sa.select(n.id, n.type, n.actor_id, n.subject_kind, n.subject_id, n.read, n.created_at, title)
            .select_from(joined)
            .where(n.recipient_id == recipient)
            .order_by(n.created_at.desc(), n.id.desc())
            .limit(limit + 1)
        )
        if unread_only:
            query = query.where(sa.not_(n.read))
        if after is not None:
            query = query.where(sa.tuple_(n.created_at, n.id) < sa.tuple_(*after))  # type: ignore[arg-type]
        async with self.db.unit_of_work() as session:
            rows = (await session.execute(query)).all()
        page = rows[:limit]
        next_cursor = encode_position(page[-1].created_at, page[-1].id) if len(rows) > limit else None
        # One batched call for the page's actors, after the transaction.
        actors = await authors_of(self.authors, {r.actor_id for r in page})
        return [_read(r, actors) for r in page], next_cursor

    async def many(self, session: AsyncSession, ids: list[UUID]) -> dict[UUID, tuple[UUID, NotificationRead]]:
        """(recipient, the notification as its recipient's list shows it) of each of `ids` still
        there, from one read in `session`'s transaction (the push consumer's own), actors
        included; only actors the authors read model lacks are asked for (one batched call)."""
        cursor = (await driver(session)).cursor(row_factory=namedtuple_row)
        await cursor.execute(_MANY, (ids,))
        rows: list[Any] = await cursor.fetchall()
        actors = {
            r.actor_id: Author(r.actor_id, r.username, r.full_name, r.avatar_url)
            for r in rows
            if r.username is not None
        }
        actors.update(await authors_of(self.authors, {r.actor_id for r in rows} - actors.keys()))
        return {r.id: (r.recipient_id, _read(r, actors)) for r in rows}

    async def grouped(
        self, recipient: UUID, *, unread_only: bool, cursor: str | None, limit: int
    ) -> tuple[list[NotificationGroupRead], str | None]:
        """One entry per (type, subject), the group with the newest notification first; keyset on
        (latest_at, group_key)."""
        after = decode_position(cursor)
        n = notifications.c
        key = sa.case(
            (n.subject_id.is_(None), n.type),
            else_=n.type + "-" + n.subject_kind + "-" + sa.cast(n.subject_id, sa.Text),
        ).label("group_key")
        latest = sa.func.max(n.created_at).label("latest_at")
        # The latest distinct actors are picked from the newest few notifications of the group.
        actors = array_agg(aggregate_order_by(n.actor_id, n.created_at.desc(), n.id.desc()))
        grouped = (
            sa.select(
                key,
                n.type,
                n.subject_kind,
                n.subject_id,
                latest,
                sa.func.count().label("count"),
                sa.func.bool_and(n.read).label("read"),
                actors[1 : GROUP_SAMPLE * 4].label("actor_ids"),
            )
            .where(n.recipient_id == recipient)
            .group_by(n.type, n.subject_kind, n.subject_id)
        )
        if unread_only:
            grouped = grouped.where(sa.not_(n.read))
        groups = grouped.subquery()
        query = (
            sa.select(groups, content.c.title)
            .select_from(
                groups.outerjoin(
                    content,
                    sa.and_(content.c.kind == groups.c.subject_kind, content.c.id == groups.c.subject_id),
                )
            )
            .order_by(groups.c.latest_at.desc(), groups.c.group_key.desc())
            .limit(limit + 1)
        )
        if after is not None:
            if len(after[1]) > 120:
                raise bad_cursor()
            query = query.where(sa.tuple_(groups.c.latest_at, groups.c.group_key) < sa.tuple_(*after))  # type: ignore[arg-type]
        async with self.db.unit_of_work() as session:
            rows = (await session.execute(query)).all()
        found = [
            _Group(
                key=r.group_key,
                type=r.type,
                subject_kind=r.subject_kind,
                subject_id=r.subject_id,
                title=r.title,
                actor_ids=list(dict.fromkeys(r.actor_ids))[:GROUP_SAMPLE],
                count=r.count,  # type: ignore[arg-type]  # a Row's column named count
                read=r.read,
                latest_at=r.latest_at,
            )
            for r in rows
        ]
        page = found[:limit]
        next_cursor = encode_position(page[-1].latest_at, page[-1].key) if len(found) > limit else None
        people = await authors_of(self.authors, {a for g in page for a in g.actor_ids})
        return [
            NotificationGroupRead(
                group_key=g.key,
                type=g.type,  # type: ignore[arg-type]
                subject=None
                if g.subject_id is None or g.title is None
                else SubjectRead(type=g.subject_kind, id=str(g.subject_id), title=g.title),  # type: ignore[arg-type]
                actors=[AuthorSummary.of(people[a]) for a in g.actor_ids],
                count=g.count,
                read=g.read,
                latest_at=g.latest_at,
            )
            for g in page
        ], next_cursor

    async def unread_count(self, recipient: UUID) -> int:
        n = notifications.c
        query = sa.select(sa.func.count()).where(n.recipient_id == recipient, sa.not_(n.read))
        async with self.db.unit_of_work() as session:
            return int((await session.execute(query)).scalar_one())

    async def mark_read(self, recipient: UUID, ids: list[UUID] | None) -> None:
        """Marks the given notifications of `recipient` (others' ids change nothing), or all."""
        n = notifications.c
        statement = (
            sa.update(notifications).where(n.recipient_id == recipient, sa.not_(n.read)).values(read=True)
        )
        if ids is not None:
            statement = statement.where(n.id.in_(ids))
        async with self.db.unit_of_work() as session:
            await session.execute(statement)


def recipient_of(raw: str) -> UUID:
    """The caller's id from a verified token."""
    user_id = parse_id(raw)
    if user_id is None:
        raise Unauthorized("the token names no user")  # the verifier checks it; never a 500
    return user_id


async def render_notifications(
    runtime: ServiceRuntime, session: AsyncSession, ids: list[UUID]
) -> dict[UUID, tuple[UUID, dict[str, Any]]]:
    """(recipient, the notification as its recipient's list shows it, JSON-ready) of each of
    `ids` still there."""
    found = await NotificationService(runtime.db, local_authors(runtime)).many(session, ids)
    return {i: (recipient, read.model_dump(mode="json")) for i, (recipient, read) in found.items()}
