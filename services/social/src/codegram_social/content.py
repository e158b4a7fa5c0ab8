"""The social service's read model of what can be liked and commented on (snippets and docs): who
wrote it, who may see it, its title, and the counters social keeps, fed by the content events.

Requests never ask the content services, with one exception: an item created a moment ago whose
event has not arrived yet is read once over gRPC and remembered (read-through). Every fact carries
the source's `updated_at`, and a fact older than the stored one changes nothing, so the event that
follows a read-through (or a replayed one) cannot move the row back in time; a delete leaves a
tombstone for the same reason, and takes the subject's likes, comments and notifications with it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from nats.aio.msg import Msg
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_clients.content import ContentDirectory, ContentFacts, ContentKind
from codegram_kit.db.engine import Database
from codegram_kit.db.ids import parse_id
from codegram_kit.messaging.consumer import IdempotentConsumer
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.web.errors import NotFound
from codegram_proto.codegram.events.v1 import docs_pb2, snippets_pb2
from codegram_social.models import comments, content, likes, notifications

SNIPPET_EVENTS = [f"codegram.snippets.snippet.{verb}" for verb in ("created", "updated", "deleted")]
DOC_EVENTS = [f"codegram.docs.doc.{verb}" for verb in ("created", "updated", "deleted")]
CONTENT_EVENTS = SNIPPET_EVENTS + DOC_EVENTS


@dataclass(frozen=True, slots=True)
class Subject:
    """A snippet or a doc as social knows it."""

    kind: ContentKind
    id: UUID
    author_id: UUID
    visibility: str
    title: str
    created_at: datetime
    likes_count: int
    comments_count: int

    def visible_to(self, viewer: UUID | None) -> bool:
        """Public and unlisted items are for anyone who has the id; private ones for the author."""
        return self.visibility != "private" or viewer == self.author_id


@dataclass(frozen=True, slots=True)
class ListedItem:
    """An item as its content service lists it (`GetSnippets`, `GetDocs`): its facts and the
    fields the feed shows besides them, which the content events do not carry."""

    facts: ContentFacts
    description: str
    tags: list[str]
    language: str | None = None  # snippets
    code_preview: str | None = None  # snippets
    slug: str | None = None  # docs


# What a feed item shows beyond the events' facts, read through the content service (and when).
LIST_FIELDS = ("description", "tags", "language", "code_preview", "slug", "listed_at")


def _subject(row: sa.Row[tuple[object, ...]]) -> Subject:
    return Subject(
        kind=row.kind,
        id=row.id,
        author_id=row.author_id,
        visibility=row.visibility,
        title=row.title,
        created_at=row.created_at,
        likes_count=row.likes_count,
        comments_count=row.comments_count,
    )


def _not_found(kind: ContentKind) -> NotFound:
    return NotFound(f"{kind} not found")


class ContentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, kind: ContentKind, item_id: UUID, *, lock: bool = False) -> Subject | None:
        """The live item (None when unknown or deleted); `lock`ed until the transaction ends, which
        orders the likes and comments of one subject (their counters move under this lock)."""
        query = sa.select(content).where(
            content.c.kind == kind, content.c.id == item_id, sa.not_(content.c.deleted)
        )
        if lock:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return None if row is None else _subject(row)

    async def heard_of(self, kind: ContentKind, item_id: UUID) -> tuple[bool, Subject | None]:
        """(whether social has heard of the item at all, the live item or None when deleted), from
        one statement: two would see two snapshots, and an item arriving between them would look
        known and absent at once."""
        query = sa.select(content).where(content.c.kind == kind, content.c.id == item_id)
        row = (await self.session.execute(query)).first()
        if row is None:
            return False, None
        return True, None if row.deleted else _subject(row)

    async def remember(self, facts: ContentFacts, *, deleted: bool = False) -> None:
        """Store the facts unless what is stored is newer, or deleted."""
        values = {
            "kind": facts.kind,
            "id": facts.id,
            "author_id": facts.author_id,
            "visibility": facts.visibility,
            "title": facts.title,
            "created_at": facts.created_at,
            "updated_at": facts.updated_at,
            "deleted": deleted,
        }
        statement = insert(content).values(**values)
        excluded = statement.excluded
        # The list fields read through are kept for public items only: an item made private or
        # deleted leaves no copy of its description or code here.
        listable = sa.and_(sa.not_(excluded.deleted), excluded.visibility == "public")
        statement = statement.on_conflict_do_update(
            index_elements=[content.c.kind, content.c.id],
            set_={
                "visibility": excluded.visibility,
                "title": excluded.title,
                "updated_at": excluded.updated_at,
                "deleted": excluded.deleted,
                **{name: sa.case((listable, content.c[name]), else_=sa.null()) for name in LIST_FIELDS},
            },
            where=sa.and_(
                sa.not_(content.c.deleted),
                sa.or_(excluded.deleted, content.c.updated_at <= excluded.updated_at),
            ),
        )
        await self.session.execute(statement)

    async def keep_listed(self, items: Collection[ListedItem]) -> None:
        """Store items read through their content service: their facts, as `remember` does (not
        over a newer or deleted row), with their list fields as of the same `updated_at`."""
        if not items:
            return
        statement = insert(content).values(
            [
                {
                    "kind": i.facts.kind,
                    "id": i.facts.id,
                    "author_id": i.facts.author_id,
                    "visibility": i.facts.visibility,
                    "title": i.facts.title,
                    "created_at": i.facts.created_at,
                    "updated_at": i.facts.updated_at,
                    # Only a public item's list fields are kept (see `remember`).
                    **(
                        {
                            "description": i.description,
                            "tags": i.tags,
                            "language": i.language,
                            "code_preview": i.code_preview,
                            "slug": i.slug,
                            "listed_at": i.facts.updated_at,
                        }
                        if i.facts.visibility == "public"
                        else dict.fromkeys(LIST_FIELDS)
                    ),
                }
                # In key order: two pages keeping the same items lock their rows in one order.
                for i in sorted(items, key=lambda i: (i.facts.kind, i.facts.id))
            ]
        )
        excluded = statement.excluded
        fields = ("visibility", "title", "updated_at", "description", "tags", "language", "code_preview")
        statement = statement.on_conflict_do_update(
            index_elements=[content.c.kind, content.c.id],
            set_={name: excluded[name] for name in (*fields, "slug", "listed_at")},
            where=sa.and_(sa.not_(content.c.deleted), content.c.updated_at <= excluded.updated_at),
        )
        await self.session.execute(statement)

    async def forget_interactions(self, kind: ContentKind, item_id: UUID) -> None:
        """A deleted subject's likes, comments and the notifications about it (and its comments)."""
        await self.session.execute(
            sa.delete(likes).where(likes.c.kind == kind, likes.c.subject_id == item_id)
        )
        await self.session.execute(
            sa.delete(comments).where(comments.c.kind == kind, comments.c.subject_id == item_id)
        )
        await self.session.execute(
            sa.delete(notifications).where(
                notifications.c.subject_kind == kind, notifications.c.subject_id == item_id
            )
        )

    async def add_to_counts(
        self, kind: ContentKind, item_id: UUID, *, likes: int = 0, comments: int = 0
    ) -> Subject:
        """Move the counters of a subject locked by `get(lock=True)`."""
        row = (
            await self.session.execute(
                sa.update(content)
                .where(content.c.kind == kind, content.c.id == item_id)
                .values(
                    likes_count=content.c.likes_count + likes,
                    comments_count=content.c.comments_count + comments,
                )
                .returning(*content.c)
            )
        ).one()
        return _subject(row)


class ContentAccess:
    """The subjects requests act on: visible ones only, everything else a 404."""

    def __init__(self, db: Database, directory: ContentDirectory) -> None:
        self.db = db
        self.directory = directory

    async def visible(self, kind: ContentKind, raw_id: str, viewer: UUID | None) -> Subject:
        """The subject if `viewer` may see it (a private one of someone else is as absent as a
        missing one); an item social has not heard of yet is read through once."""
        item_id = parse_id(raw_id)
        if item_id is None:
            raise _not_found(kind)
        async with self.db.unit_of_work() as session:
            known, subject = await ContentRepository(session).heard_of(kind, item_id)
        if not known:
            # Asked outside any transaction: no pooled connection waits on the content service.
            facts = (await self.directory.facts(kind, [item_id])).get(item_id)
            if facts is None:
                raise _not_found(kind)
            async with self.db.unit_of_work() as session:
                repository = ContentRepository(session)
                await repository.remember(facts)
                subject = await repository.get(kind, item_id)
        if subject is None or not subject.visible_to(viewer):
            raise _not_found(kind)
        return subject

    async def lock_visible(self, session: AsyncSession, subject: Subject, viewer: UUID | None) -> Subject:
        """`subject` again, locked in `session`'s transaction and still visible to `viewer`
        (it may have been deleted or made private since it was read)."""
        locked = await ContentRepository(session).get(subject.kind, subject.id, lock=True)
        if locked is None or not locked.visible_to(viewer):
            raise _not_found(subject.kind)
        return locked


async def apply_change(session: AsyncSession, facts: ContentFacts, *, deleted: bool) -> None:
    """What social does when it learns of an item's change, from its event or from the content
    service's call right after the commit (whichever comes first; the second changes nothing)."""
    repository = ContentRepository(session)
    await repository.remember(facts, deleted=deleted)
    if deleted:
        await repository.forget_interactions(facts.kind, facts.id)


def _timestamp(ts: object) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)  # type: ignore[attr-defined]


def facts_of_event(subject: str, data: bytes) -> tuple[ContentFacts, str]:
    """The item's facts in a content event, and the event's verb."""
    _, service, _, verb = subject.split(".")
    kind: ContentKind
    if service == "snippets":
        kind = "snippet"
        messages: dict[str, Any] = {
            "created": snippets_pb2.SnippetCreated,
            "updated": snippets_pb2.SnippetUpdated,
            "deleted": snippets_pb2.SnippetDeleted,
        }
        raw = messages[verb].FromString(data).snippet
        item_id = raw.snippet_id
    else:
        kind = "doc"
        doc_messages: dict[str, Any] = {
            "created": docs_pb2.DocCreated,
            "updated": docs_pb2.DocUpdated,
            "deleted": docs_pb2.DocDeleted,
        }
        raw = doc_messages[verb].FromString(data).doc
        item_id = raw.doc_id
    facts = ContentFacts(
        kind=kind,
        id=UUID(item_id),
        author_id=UUID(raw.author_id),
        visibility=raw.visibility,
        title=raw.title,
        created_at=_timestamp(raw.created_at),
        updated_at=_timestamp(raw.updated_at),
    )
    return facts, verb


def content_directory(runtime: ServiceRuntime) -> IdempotentConsumer:
    """Keeps the read model from `codegram.snippets.snippet.*` and `codegram.docs.doc.*`; a delete
    takes the subject's likes, comments and notifications with it in the same transaction."""

    async def handle(session: AsyncSession, msg: Msg) -> None:
        facts, verb = facts_of_event(msg.subject, msg.data)
        await apply_change(session, facts, deleted=verb == "deleted")

    return runtime.consumer(
        "content-directory",
        CONTENT_EVENTS,
        handle,
    )
