"""Snippets as the service layer sees them (no FastAPI, SQL or protobuf types), and their pure rules."""

from __future__ import annotations

from dataclasses import dataclass

from codegram_content.items import ContentItem

MAX_CODE_BYTES = 100 * 1024

# Lists carry the first lines of the code, not all of it: a page of 100 snippets of 100 KiB each
# would be 10 MB. The repository reads only the head of the code for lists.
PREVIEW_LINES = 10
PREVIEW_CHARS = 1000

# Fields a PATCH may change, in the order events name them.
EDITABLE_FIELDS = ("title", "description", "code", "language", "tags", "visibility")


@dataclass(frozen=True, slots=True, kw_only=True)
class Snippet(ContentItem):
    # The whole code when read one by one; only its first PREVIEW_CHARS characters in lists.
    code: str
    language: str
    # True when the service named the language itself, so a code change names it again.
    language_detected: bool


def code_preview(code: str) -> str:
    lines = code[:PREVIEW_CHARS].splitlines()
    return "\n".join(lines[:PREVIEW_LINES])
