"""Slugs: a doc's title as a URL path segment (`Hello, World!` -> `hello-world`), unique per author.

A slug is made once, when the doc is created, and kept when the title changes, as GitHub keeps a
repository's URL stable: links and bookmarks to `/users/{username}/docs/{slug}` never break, and
nothing else can take a slug its doc still holds. A second "Hello World" by the same author gets
`hello-world-2`, then `-3`, ...; the unique index on (author_id, slug) settles races (see
DocRepository.insert).
"""

from __future__ import annotations

import re
import unicodedata

MAX_SLUG_LENGTH = 80
# A title with nothing ASCII left in it (`日本語`, `🚀`) still needs a slug.
FALLBACK_SLUG = "doc"
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def slugify(title: str) -> str:
    """Lower case ASCII letters and digits joined by single hyphens, accents folded (`Café` -> `cafe`)."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    slug = _NOT_SLUG.sub("-", ascii_title).strip("-")
    if len(slug) > MAX_SLUG_LENGTH:
        # Cut at a word boundary when there is one, so the slug does not end mid-word.
        cut = slug[: MAX_SLUG_LENGTH + 1]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else slug[:MAX_SLUG_LENGTH]
    return slug or FALLBACK_SLUG


def numbered(base: str, taken: set[str]) -> str:
    """`base` if it is free, else `base-2`, `base-3`, ...: the first free one after the numbers taken."""
    if base not in taken:
        return base
    suffix = re.compile(re.escape(base) + r"-([0-9]{1,9})")
    used = [int(m.group(1)) for s in taken if (m := suffix.fullmatch(s))]
    return f"{base}-{max([1, *used]) + 1}"
