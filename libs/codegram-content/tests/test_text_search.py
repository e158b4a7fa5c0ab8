"""Code-aware search terms: identifiers split beside the whole, queries alike; highlights are safe HTML."""

from __future__ import annotations

import pytest

from codegram_content.text_search import (
    FRAGMENT_DELIMITER,
    HIGHLIGHT_START,
    HIGHLIGHT_STOP,
    document_terms,
    highlight_fragments,
    websearch_text,
    word_terms,
)

START, STOP, DELIMITER = HIGHLIGHT_START, HIGHLIGHT_STOP, FRAGMENT_DELIMITER


@pytest.mark.parametrize(
    ("word", "terms"),
    [
        ("parseJSONLine", ["parsejsonline", "parse", "json", "line"]),
        ("parse_json_line", ["parsejsonline", "parse", "json", "line"]),
        ("HTTPServer", ["httpserver", "http", "server"]),
        ("os.path.join", ["ospathjoin", "os", "path", "join"]),
        ("json.parseJSONLine", ["jsonparsejsonline", "parsejsonline", "json", "parse", "json", "line"]),
        ("__init__", ["init"]),
        ("x", ["x"]),
        ("utf8Decode", ["utf8decode", "utf8", "decode"]),
        ("parse_utf8_bytes", ["parseutf8bytes", "parse", "utf8", "bytes"]),
        ("to_int32_array", ["toint32array", "to", "int32", "array"]),
        ("build_x86_64", ["buildx8664", "build", "x86", "64"]),
        ("Sha256Hasher", ["sha256hasher", "sha256", "hasher"]),
        ("HTTP2Server", ["http2server", "http2", "server"]),
        ("UTF8String", ["utf8string", "utf8", "string"]),
        ("ID3v2", ["id3v2", "id3", "v2"]),
        ("enable_2fa", ["enable2fa", "enable", "2fa"]),
        ("SHA256", ["sha256"]),
        ("café_au_lait", ["caféaulait", "café", "au", "lait"]),
        ("___", []),
    ],
)
def test_identifiers_give_the_whole_then_their_parts(word: str, terms: list[str]) -> None:
    assert word_terms(word) == terms


def test_document_terms_keep_source_order_and_drop_punctuation() -> None:
    assert document_terms("def parse_json_line(line): return x.y") == (
        "def parsejsonline parse json line line return xy x y"
    )


def test_very_long_words_are_cut() -> None:
    assert all(len(t) <= 100 for t in document_terms("a" * 5000).split())


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("parseJSON", "parsejson"),
        ("json line", "json line"),
        ("parse_json_line", "parsejsonline"),
        ('"parse json" -test', '" parse json " -test'),
        ("foo-bar", "foo bar"),
        ("a or b", "a or b"),
        ("'; DROP TABLE snippets; --", "drop table snippets"),
        ("a\x00b", "ab"),
    ],
)
def test_queries_become_the_index_terms_with_operators_kept(q: str, expected: str) -> None:
    assert websearch_text(q) == expected


@pytest.mark.parametrize("q", ["", "   ", '""', "or", "-", "😀😀", "!!! ::: &&&", "\x00"])
def test_queries_with_nothing_searchable_are_empty(q: str) -> None:
    assert websearch_text(q) == ""


# Identifiers whose parts mix letters and digits, and what people type to find them.
CORPUS: dict[str, list[str]] = {
    "parse_utf8_bytes": ["utf8", "UTF8", "utf", "parse", "bytes", "parse_utf8_bytes", "parseUtf8"],
    "to_int32_array": ["int32", "int", "array", "to_int32_array"],
    "build_x86_64": ["x86", "64", "build", "build_x86"],
    "Sha256Hasher": ["sha256", "SHA256", "sha", "hasher", "Sha256Hasher"],
    "hmac_sha1_digest": ["sha1", "hmac", "digest"],
    "base32_encode": ["base32", "encode", "base"],
    "HTTP2Client": ["http2", "client", "HTTP2Client"],
    "http2_client": ["http2", "client"],
    "api_v2": ["v2", "api"],
    "getV2Api": ["v2", "get", "api"],
    "UTF8String": ["utf8", "string"],
    "Int32Array": ["int32", "array"],
    "ID3v2Tag": ["id3", "v2", "tag"],
    "enable_2fa": ["2fa", "enable"],
    "md5sum": ["md5", "md5sum"],
    "vec3.normalize": ["vec3", "normalize"],
}


def _finds(query: str, identifier: str) -> bool:
    # Every query term is a prefix (search_sql.tsquery); one word here, so one term.
    (term,) = websearch_text(query).split()
    return any(indexed.startswith(term) for indexed in document_terms(identifier).split())


@pytest.mark.parametrize(("identifier", "queries"), CORPUS.items())
def test_parts_that_mix_letters_and_digits_find_their_identifier(identifier: str, queries: list[str]) -> None:
    missed = [q for q in queries if not _finds(q, identifier)]
    assert not missed, f"{identifier} not found by {missed}"


@pytest.mark.parametrize("identifier", CORPUS)
def test_a_part_typed_as_a_query_is_the_very_term_indexed(identifier: str) -> None:
    # Index and query split alike: each part of the index is, as a query, exactly that term.
    for part in word_terms(identifier)[1:]:
        assert websearch_text(part) == part


@pytest.mark.parametrize(
    ("query", "identifier"),
    [
        ("utf9", "parse_utf8_bytes"),
        ("int64", "to_int32_array"),
        ("x64", "build_x86_64"),
        ("sha1", "Sha256Hasher"),
    ],
)
def test_a_different_number_is_a_different_word(query: str, identifier: str) -> None:
    assert not _finds(query, identifier)


def test_a_query_word_is_the_whole_form_of_the_same_word_in_code() -> None:
    # What makes `parseJSON` find `parse_json_line`: the query's word is a prefix of the index's whole.
    assert word_terms("parse_json_line")[0].startswith(websearch_text("parseJSON"))


def test_highlights_mark_matches_and_keep_everything_else_escaped() -> None:
    headline = (
        f"&lt;b&gt;{START}parse{STOP}&lt;/b&gt; &amp; more{DELIMITER}no match here{DELIMITER}"
        f"x {START}json{STOP} &quot;y"
    )
    assert highlight_fragments(headline) == [
        "&lt;b&gt;<mark>parse</mark>&lt;/b&gt; &amp; more",
        'x <mark>json</mark> "y',
    ]


def test_an_entity_cut_in_half_stays_harmless() -> None:
    (fragment,) = highlight_fragments(f"&lt{START}script{STOP}&gt")
    assert fragment == "&lt;<mark>script</mark>&gt;"
    assert fragment.replace("<mark>", "").replace("</mark>", "").count("<") == 0


def test_no_match_no_fragment() -> None:
    assert highlight_fragments("") == []
    assert highlight_fragments("plain title") == []
