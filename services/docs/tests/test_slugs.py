"""Slugs: made from the title (lower case ASCII, hyphens), numbered when the author has the slug already."""

from __future__ import annotations

import pytest

from codegram_docs.slugs import MAX_SLUG_LENGTH, SLUG, numbered, slugify


@pytest.mark.parametrize(
    ("title", "slug"),
    [
        ("Hello World", "hello-world"),
        ("  Hello,   World!  ", "hello-world"),
        ("Café crème brûlée", "cafe-creme-brulee"),
        ("C++ & Rust: a tour", "c-rust-a-tour"),
        ("snake_case and camelCase", "snake-case-and-camelcase"),
        ("2026 in review", "2026-in-review"),
        ("日本語", "doc"),
        ("🚀🚀", "doc"),
        ("---", "doc"),
        ("<script>alert(1)</script>", "script-alert-1-script"),
    ],
)
def test_slugs_from_titles(title: str, slug: str) -> None:
    assert slugify(title) == slug
    assert SLUG.fullmatch(slugify(title))


def test_long_titles_are_cut_at_a_word_boundary() -> None:
    slug = slugify("word " * 50)
    assert len(slug) <= MAX_SLUG_LENGTH and slug.endswith("word") and SLUG.fullmatch(slug)
    assert len(slugify("x" * 500)) == MAX_SLUG_LENGTH


def test_numbered_takes_the_next_free_number() -> None:
    assert numbered("hello-world", set()) == "hello-world"
    assert numbered("hello-world", {"hello-world"}) == "hello-world-2"
    assert numbered("hello-world", {"hello-world", "hello-world-2"}) == "hello-world-3"
    assert numbered("hello-world", {"hello-world", "hello-world-7"}) == "hello-world-8"
    # Another title's slug that merely starts the same is not a number of this one.
    assert numbered("hello", {"hello", "hello-world", "hello-2x"}) == "hello-2"
