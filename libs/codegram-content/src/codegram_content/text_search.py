"""Code-aware search terms for the content services: identifiers split beside the whole, and safe highlights.

Postgres' own parser splits `parse_json_line` at the underscores but keeps `parseJSONLine` whole and
reads `os.path.join` as a host name, so the service makes the terms itself and hands Postgres plain
lowercase words. An identifier gives its whole form (separators dropped: `parsejsonline`, the same
for `parse_json_line`, `parseJSONLine` and `parse.json.line`), the whole form of each dotted
segment, then its parts (`parse json line`), in source order so that phrases still match. Digits
belong to the part they are written in, as people say them: `parse_utf8_bytes` gives `utf8`,
`Sha256Hasher` gives `sha256` and `hasher`, `build_x86_64` gives `x86` and `64` (a part is what a
user types to find it: `utf8`, `int32`, `http2`, `v2`). Queries get the same treatment on their
words, and every query term is a prefix (`:*`), so `parseJSON` finds `parseJSONLine`, `json line`
finds `parse_json_line` and `sha` finds `Sha256Hasher`.

Stored search vectors hold these terms: a change to how words are split needs a migration that
rebuilds them (search_sql.rebuild_search_vectors).
"""

from __future__ import annotations

import html
import re

# A word: letters, digits and underscores, possibly dotted (`os.path.join`, `1.2.3`).
_WORD = re.compile(r"\w+(?:\.\w+)*")
# camelCase / PascalCase / ACRONYMWord, digits staying with the letters they are written with:
# `parseJSONLine` -> parse, JSON, Line; `UTF8String` -> UTF8, String; `Sha256Hasher` -> Sha256, Hasher.
_CAMEL_PART = re.compile(r"[A-Z]+[0-9]*(?=[A-Z][a-z])|[A-Z]?[a-z0-9]+|[A-Z]+[0-9]*")
# Longer terms are not worth indexing (and Postgres refuses words over 2047 bytes).
MAX_TERM_LENGTH = 100
# A query's operators and phrase quotes survive; words become terms; anything else is a space.
_QUERY_TOKEN = re.compile(r'"|(-?)(\w+(?:\.\w+)*)')


def _parts(segment: str) -> list[str]:
    parts: list[str] = []
    for piece in segment.split("_"):
        if piece.isascii():
            parts.extend(p.lower() for p in _CAMEL_PART.findall(piece))
        elif piece:
            # `re` knows no Unicode case classes; a non-ASCII word is kept whole rather than cut wrong.
            parts.append(piece.lower())
    return parts


def whole_form(word: str) -> str:
    return re.sub(r"[._]", "", word).lower()[:MAX_TERM_LENGTH]


def word_terms(word: str) -> list[str]:
    """`parseJSONLine` -> [parsejsonline, parse, json, line]; `x` -> [x]."""
    whole = whole_form(word)
    if not whole:
        return []
    terms = [whole]
    segments = [s for s in word.split(".") if s.strip("_")]
    parts: list[str] = []
    for segment in segments:
        segment_parts = _parts(segment)
        if len(segments) > 1 and len(segment_parts) > 1:
            terms.append(whole_form(segment))
        parts.extend(segment_parts)
    if len(parts) > 1:
        terms.extend(p[:MAX_TERM_LENGTH] for p in parts)
    return terms


def document_terms(text: str) -> str:
    """The words Postgres indexes for `text`, space-separated, for `to_tsvector('simple', ...)`."""
    return " ".join(term for match in _WORD.finditer(text) for term in word_terms(match.group()))


def websearch_text(q: str) -> str:
    """A user's query in `websearch_to_tsquery` syntax over the same terms as the index.

    Quotes (phrases), a leading `-` (exclude) and `or` keep their meaning; a word inside another
    (`foo-bar`, `a/b`) is just a word. Returns "" when nothing searchable is left.
    """
    out: list[str] = []
    for match in _QUERY_TOKEN.finditer(q.replace("\x00", "")):
        if match.group() == '"':
            out.append('"')
            continue
        negate, word = match.group(1), match.group(2)
        start = match.start()
        if negate and start > 0 and not (q[start - 1].isspace() or q[start - 1] == '"'):
            negate = ""  # `foo-bar`: the hyphen joins two words, it does not exclude the second
        if word.lower() == "or":
            out.append("or")
            continue
        whole = whole_form(word)
        if whole:
            out.append(negate + whole)
    if not any(token not in ('"', "or") for token in out):
        return ""
    return " ".join(out)


# ts_headline marks matches and separates fragments with these control characters, which the text is
# cleared of first (search_sql.headline), so they are ours alone; highlight_fragments turns them into
# `<mark>` once everything else is escaped.
HIGHLIGHT_START, HIGHLIGHT_STOP, FRAGMENT_DELIMITER = "\x02", "\x03", "\x04"


def highlight_fragments(headline: str) -> list[str]:
    """HTML-safe fragments with `<mark>` around the matches; fragments without a match are left out."""
    fragments = []
    for fragment in headline.split(FRAGMENT_DELIMITER):
        if HIGHLIGHT_START not in fragment:
            continue
        # Normalised: whatever entity ts_headline cut through is escaped again, then marked.
        safe = html.escape(html.unescape(fragment.strip()), quote=False)
        fragments.append(safe.replace(HIGHLIGHT_START, "<mark>").replace(HIGHLIGHT_STOP, "</mark>"))
    return fragments
