"""Code-aware search terms: identifiers split beside the whole, and queries reduced to the same terms."""

from __future__ import annotations

import pytest

from codegram_snippets.text_search import document_terms, websearch_text, word_terms


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
