"""Contribution ranges: the last 365 days by default, at most five years, chunked into years for GitHub."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pytest

from codegram_github.service import contribution_range, year_chunks
from codegram_kit.web.errors import ValidationFailed

TODAY = date(2026, 11, 28)


def test_default_is_the_last_365_days() -> None:
    start, end = contribution_range(None, None, TODAY)
    assert end == TODAY and (end - start).days == 364


def test_from_after_to_and_over_five_years_are_refused() -> None:
    with pytest.raises(ValidationFailed):
        contribution_range(date(2026, 5, 2), date(2026, 5, 1), TODAY)
    with pytest.raises(ValidationFailed):
        contribution_range(date(2020, 1, 1), date(2025, 1, 1), TODAY)
    assert contribution_range(date(2020, 1, 2), date(2025, 1, 1), TODAY) == (
        date(2020, 1, 2),
        date(2025, 1, 1),
    )
    assert contribution_range(date(2020, 2, 29), date(2025, 2, 27), TODAY)[0] == date(2020, 2, 29)
    with pytest.raises(ValidationFailed):
        contribution_range(date(2020, 2, 29), date(2025, 2, 28), TODAY)


def test_days_github_cannot_have_are_refused() -> None:
    for start, end in (
        (date(2007, 12, 31), None),
        (None, TODAY + timedelta(days=2)),
        (date(9999, 12, 31), None),
    ):
        with pytest.raises(ValidationFailed):
            contribution_range(start, end, TODAY)
    assert contribution_range(None, TODAY + timedelta(days=1), TODAY)[1] == TODAY + timedelta(days=1)


def test_chunks_span_at_most_a_year_and_cover_the_range_once() -> None:
    start, end = date(2021, 3, 1), date(2025, 12, 31)
    chunks = year_chunks(start, end)
    assert chunks[0][0] == start and chunks[-1][1] == end
    assert all((b - a).days <= 364 for a, b in chunks)
    assert all(later[0] == earlier[1] + timedelta(days=1) for earlier, later in pairwise(chunks))
