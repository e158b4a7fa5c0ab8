"""Settings of the docs service."""

from __future__ import annotations

from pydantic import Field

from codegram_kit.runtime.settings import ServiceSettings


class DocsSettings(ServiceSettings):
    service_name: str = "docs"
    # Search ranks the newest this-many matches of a query (bounded work for frequent terms).
    search_candidate_cap: int = Field(default=1000, ge=10, le=100_000)
    # A large page that takes longer to render is stored as escaped plain text (rendering.py);
    # below the gateway's 10 s upstream timeout, with room for the rest of the write.
    render_timeout_seconds: float = Field(default=6.0, gt=0, le=60)
