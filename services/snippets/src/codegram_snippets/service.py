"""The snippets service's use cases; the HTTP and gRPC doors both call these.

Reads, ownership, deletion, search and the shape of an update are every content service's
(codegram_content.use_cases); what is the snippets' own is the language: named by the author or
detected from the code.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Any

from codegram_content.items import Authored
from codegram_content.use_cases import ContentService, opened
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_snippets import languages, models
from codegram_snippets.config import SnippetsSettings
from codegram_snippets.domain import Snippet
from codegram_snippets.events import SNIPPET_EVENTS
from codegram_snippets.repository import ListFilters, SnippetRepository


class SnippetService(ContentService[Snippet, ListFilters]):
    bookkeeping = frozenset({"updated_at", "language_detected"})
    repository = SnippetRepository
    repo: SnippetRepository
    event_kind = SNIPPET_EVENTS

    async def create(self, author_id: str, fields: dict[str, Any]) -> Authored[Snippet]:
        language = fields.get("language")
        own = {"language": language or await _detect(fields["code"]), "language_detected": language is None}
        return await self._create(author_id, fields, own, self.repo.insert)

    async def _derive(self, current: Snippet, changes: dict[str, Any]) -> dict[str, Any]:
        if "language" in changes:
            given = changes["language"]
            changes["language_detected"] = given is None
            changes["language"] = given or await self._detected(changes.get("code", current.code))
        elif "code" in changes and current.language_detected:
            # A language the service guessed is guessed again for new code; one the author chose stays.
            changes["language"] = await self._detected(changes["code"])
        return changes

    async def _detected(self, code: str) -> str:
        return await self._worked_out("language", code, lambda: _detect(code))


async def _detect(code: str) -> str:
    # Detection reads a bounded head of the code, but Pygments' part can take tens of milliseconds
    # of CPU on odd input: off the event loop.
    return await asyncio.to_thread(languages.detect, code)


def snippet_service(runtime: ServiceRuntime) -> AbstractAsyncContextManager[SnippetService]:
    """The use cases for one request or gRPC call."""
    settings = runtime.settings
    assert isinstance(settings, SnippetsSettings)
    cap = settings.search_candidate_cap
    return opened(
        runtime,
        settings.users_grpc_target,
        settings.social_grpc_target,
        models.authors,
        lambda *parts: SnippetService(*parts, candidate_cap=cap),
    )
