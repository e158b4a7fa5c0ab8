"""The docs service's use cases; the HTTP and gRPC doors both call these.

Reads, ownership, deletion, search and the shape of an update are every content service's
(codegram_content.use_cases); what is the docs' own is the slug (made once from the title, found
by author and slug) and the rendered, sanitised HTML of the markdown.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from codegram_clients.social import SocialClient
from codegram_clients.users import AuthorDirectory
from codegram_content.items import Authored
from codegram_content.use_cases import DEFAULT_CANDIDATE_CAP, ContentService, opened
from codegram_docs import models, rendering
from codegram_docs.config import DocsSettings
from codegram_docs.domain import Doc
from codegram_docs.events import DOC_EVENTS
from codegram_docs.repository import DocRepository, ListFilters, SlugsExhausted
from codegram_docs.slugs import SLUG, slugify
from codegram_kit.db.fast_reads import FastReads
from codegram_kit.db.ids import parse_id
from codegram_kit.messaging.outbox import Outbox
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.web.errors import Conflict

DEFAULT_RENDER_TIMEOUT = 6.0


class DocService(ContentService[Doc, ListFilters]):
    bookkeeping = frozenset({"updated_at", "content_html"})
    repository = DocRepository
    repo: DocRepository
    event_kind = DOC_EVENTS

    def __init__(
        self,
        session: AsyncSession,
        outbox: Outbox,
        reads: FastReads,
        authors: AuthorDirectory,
        social: SocialClient | None = None,
        *,
        candidate_cap: int = DEFAULT_CANDIDATE_CAP,
        render_timeout: float = DEFAULT_RENDER_TIMEOUT,
    ) -> None:
        super().__init__(session, outbox, reads, authors, social, candidate_cap=candidate_cap)
        # Seconds a page may take to render before it is stored as escaped text (rendering.py).
        self.render_timeout = render_timeout

    async def get_by_slug(self, username: str, slug: str, viewer_id: str | None) -> Authored[Doc]:
        """The same visibility rules as by id: a private doc is a 404 to all but its author."""
        slug = slug.lower()
        if not SLUG.fullmatch(slug):
            raise self._not_found()  # no slug looks like that (and NUL or the like never reach SQL)
        author_id = await self.authors.find_id(username)
        async with self._transaction():
            doc = await self.repo.by_slug(author_id, slug) if author_id else None
        if doc is None or not doc.visible_to(parse_id(viewer_id)):
            raise self._not_found()
        return (await self._with_authors([doc]))[0]

    async def _render(self, content: str) -> str:
        # CPU-bound, bounded in time and in how many large pages render at once: off the loop.
        return await rendering.render_async(content, self.render_timeout)

    async def create(self, author_id: str, fields: dict[str, Any]) -> Authored[Doc]:
        own = {"content_html": await self._render(fields["content"])}
        slug = slugify(fields["title"])
        try:
            return await self._create(author_id, fields, own, lambda values: self.repo.insert(values, slug))
        except SlugsExhausted:
            raise Conflict("too many docs with this title are being created at once; try again") from None

    async def _derive(self, current: Doc, changes: dict[str, Any]) -> dict[str, Any]:
        # The slug is not derived: it stays what it was whatever the new title (slugs.py says why).
        if "content" in changes and changes["content"] != current.content:
            content = changes["content"]
            changes["content_html"] = await self._worked_out("html", content, lambda: self._render(content))
        return changes


def doc_service(runtime: ServiceRuntime) -> AbstractAsyncContextManager[DocService]:
    """The use cases for one request or gRPC call."""
    settings = runtime.settings
    assert isinstance(settings, DocsSettings)

    cap, timeout = settings.search_candidate_cap, settings.render_timeout_seconds
    return opened(
        runtime,
        settings.users_grpc_target,
        settings.social_grpc_target,
        models.authors,
        lambda *parts: DocService(*parts, candidate_cap=cap, render_timeout=timeout),
    )
