"""Tags on content (API.md "Snippets", the same for docs): normalised on write and in `tag=` filters."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from codegram_kit.web.errors import ValidationFailed

MAX_TAGS = 10
MAX_TAG_LENGTH = 30
_TAG = re.compile(r"[a-z0-9+#.-]+")
# A tag as a client may send it: the characters above in either case, with ASCII whitespace around
# (trimmed). normalise_tags checks this pattern and the request models publish it, so the OpenAPI
# says exactly what is accepted (the error names the list, `tags` or `tag`).
TAG_INPUT_PATTERN = r"^[ \t\n\r\f\v]*[A-Za-z0-9+#.-]{1,30}[ \t\n\r\f\v]*$"
_TAG_INPUT = re.compile(TAG_INPUT_PATTERN)
TagInput = Annotated[str, Field(json_schema_extra={"pattern": TAG_INPUT_PATTERN})]


def normalise_tags(raw: list[str]) -> list[str]:
    """API.md: lower case, trimmed, deduplicated (first spelling kept in order), at most 10, each
    1..30 characters of `[a-z0-9+#.-]`. A tag that breaks the rule is refused rather than silently
    rewritten, so a client never stores something other than what it meant."""
    tags: list[str] = []
    for value in raw:
        tag = value.strip().lower()
        if not _TAG_INPUT.match(value) or not 1 <= len(tag) <= MAX_TAG_LENGTH or not _TAG.fullmatch(tag):
            raise ValueError(f"each tag must be 1..{MAX_TAG_LENGTH} characters of a-z 0-9 + # . -")
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    return tags


def tag_filter(raw: list[str]) -> list[str]:
    """The `tag=` query filter, normalised like stored tags; a tag that cannot exist is a 400."""
    try:
        return normalise_tags(raw)
    except ValueError as exc:
        raise ValidationFailed(str(exc), [{"field": "tag", "in": "query", "message": str(exc)}]) from exc


# A request body's `tags`: at most 10 as sent, each as TAG_INPUT_PATTERN says, then normalised.
Tags = Annotated[
    list[TagInput],
    Field(
        max_length=MAX_TAGS,
        description=f"At most {MAX_TAGS}, each 1..{MAX_TAG_LENGTH} of `a-z 0-9 + # . -` (upper case is "
        "lowered, surrounding whitespace trimmed, duplicates dropped).",
    ),
    AfterValidator(normalise_tags),
]
