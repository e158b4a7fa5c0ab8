"""Code-aware search terms: identifiers split beside the whole, queries alike; highlights are safe HTML."""

from __future__ import annotations

import pytest

from codegram_kit.text_search import (
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
        ("utf8Decode", ["utf8decode", "utf", "8", "decode"]),
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
