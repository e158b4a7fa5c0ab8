"""Settings of the snippets service."""

from __future__ import annotations

from pydantic import Field

from codegram_kit.runtime.settings import ServiceSettings


class SnippetsSettings(ServiceSettings):
    service_name: str = "snippets"
    # Search ranks the newest this-many matches of a query (bounded work for frequent terms).
    search_candidate_cap: int = Field(default=1000, ge=10, le=100_000)
