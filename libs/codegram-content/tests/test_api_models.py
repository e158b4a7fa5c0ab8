"""Field rules the content services share: bodies (code, markdown) and the terms one field may index."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import pytest
from pydantic import BaseModel, ValidationError

from codegram_content.api_models import KEEP_WHITESPACE, rfc3339, within_bytes
from codegram_content.search_sql import MAX_FIELD_TERMS, field_terms
from codegram_content.text_search import document_terms


class Body(BaseModel):
    text: Annotated[str, KEEP_WHITESPACE, within_bytes(10)]


def test_a_body_keeps_its_whitespace_and_counts_utf8_bytes() -> None:
    assert Body(text="  x\n").text == "  x\n"
    assert Body(text="x" * 10).text == "x" * 10
    with pytest.raises(ValidationError):
        Body(text="é" * 6)  # 12 bytes


@pytest.mark.parametrize("text", ["", "  \n\t", "a\x00b", "x" * 11])
def test_blank_nul_and_oversized_bodies_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        Body(text=text)


def test_a_fields_terms_are_cut_at_a_word_so_the_vector_fits() -> None:
    # Unusual words (no repeats) are the worst case for a tsvector's 1 MB.
    text = " ".join(f"w{i}" for i in range(200_000))
    terms = field_terms(text)
    assert len(terms) <= MAX_FIELD_TERMS < len(terms) + 20
    assert document_terms(text).startswith(terms + " ")  # whole terms only
    assert field_terms("parseJSON x") == "parsejson parse json x"


def test_timestamps_are_rfc3339_utc_with_fixed_width() -> None:
    assert rfc3339(datetime(2026, 11, 23, 10, 0, tzinfo=UTC)) == "2026-11-23T10:00:00.000000Z"
    assert rfc3339(datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC)) == "2026-11-23T10:00:00.123456Z"
