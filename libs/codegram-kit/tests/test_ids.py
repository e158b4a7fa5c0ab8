"""Ids: time-ordered UUIDv7 for new rows, and path values that are not ids name nothing."""

from __future__ import annotations

from codegram_kit.db.ids import new_uuid7, parse_id


def test_ids_are_uuid7_and_ordered_by_time() -> None:
    first, later = new_uuid7(1_700_000_000_000), new_uuid7(1_700_000_000_001)
    assert first.version == 7 and later.version == 7
    assert first < later
    assert len({new_uuid7(1) for _ in range(1000)}) == 1000


def test_path_values_that_are_not_ids_parse_to_none() -> None:
    assert parse_id("not-an-id") is None and parse_id(None) is None
    assert parse_id("0192f0c2-7b1a-7cde-8f00-000000000000") is not None
