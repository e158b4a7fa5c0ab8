"""Tags (API.md "Snippets", the same for docs): normalised on write; a filter that cannot match is 400."""

from __future__ import annotations

import pytest

from codegram_content.tags import normalise_tags, tag_filter
from codegram_kit.web.errors import ValidationFailed


def test_tags_are_lower_cased_trimmed_and_deduplicated_in_order() -> None:
    assert normalise_tags([" Python ", "python", "C++", "node.js", "c#", "PYTHON", "a-b"]) == [
        "python",
        "c++",
        "node.js",
        "c#",
        "a-b",
    ]


def test_ten_distinct_tags_are_fine_even_from_more_spellings() -> None:
    raw = [f"t{i}" for i in range(10)] + [f"T{i}" for i in range(10)]
    assert normalise_tags(raw) == [f"t{i}" for i in range(10)]


@pytest.mark.parametrize(
    "raw",
    [
        [f"t{i}" for i in range(11)],  # eleven distinct tags
        ["   "],  # empty once trimmed
        ["x" * 31],  # too long
        ["machine learning"],  # space inside
        ["<script>"],
        ["ünïcode"],
        ["a_b"],
    ],
)
def test_tags_breaking_the_rule_are_refused(raw: list[str]) -> None:
    with pytest.raises(ValueError):
        normalise_tags(raw)


def test_thirty_characters_is_the_longest_tag() -> None:
    assert normalise_tags(["x" * 30]) == ["x" * 30]


def test_a_tag_filter_that_cannot_match_is_a_400_on_the_tag_field() -> None:
    with pytest.raises(ValidationFailed) as err:
        tag_filter(["no spaces"])
    assert err.value.details[0]["field"] == "tag"
