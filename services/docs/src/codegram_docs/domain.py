"""Docs as the service layer sees them (no FastAPI, SQL or protobuf types)."""

from __future__ import annotations

from dataclasses import dataclass

from codegram_content.items import ContentItem

# API.md: content (markdown) at most 512 KiB, counted in UTF-8 bytes.
MAX_CONTENT_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Doc(ContentItem):
    # Made from the title at creation and kept (slugs.py says why).
    slug: str
    # The markdown and its sanitised HTML (rendered at each write); both empty in lists.
    content: str
    content_html: str
