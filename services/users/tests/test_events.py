"""Snippet events keep a user's count of public snippets: the delta each event carries."""

from __future__ import annotations

import pytest

from codegram_proto.codegram.events.v1 import snippets_pb2
from codegram_users.events import public_snippet_delta

AUTHOR = "0190f0c0-0000-7000-8000-000000000001"


def _facts(visibility: str) -> snippets_pb2.SnippetFacts:
    return snippets_pb2.SnippetFacts(snippet_id="s", author_id=AUTHOR, visibility=visibility)


@pytest.mark.parametrize(("visibility", "delta"), [("public", 1), ("unlisted", 0), ("private", 0)])
def test_created(visibility: str, delta: int) -> None:
    data = snippets_pb2.SnippetCreated(snippet=_facts(visibility)).SerializeToString()
    assert public_snippet_delta("codegram.snippets.snippet.created", data) == (AUTHOR, delta)


@pytest.mark.parametrize(
    ("before", "after", "delta"),
    [
        ("private", "public", 1),
        ("public", "unlisted", -1),
        ("public", "public", 0),
        ("private", "unlisted", 0),
    ],
)
def test_updated(before: str, after: str, delta: int) -> None:
    data = snippets_pb2.SnippetUpdated(snippet=_facts(after), previous_visibility=before).SerializeToString()
    assert public_snippet_delta("codegram.snippets.snippet.updated", data) == (AUTHOR, delta)


@pytest.mark.parametrize(("visibility", "delta"), [("public", -1), ("private", 0)])
def test_deleted(visibility: str, delta: int) -> None:
    data = snippets_pb2.SnippetDeleted(snippet=_facts(visibility)).SerializeToString()
    assert public_snippet_delta("codegram.snippets.snippet.deleted", data) == (AUTHOR, delta)


def test_a_lifetime_of_events_adds_up_to_the_final_state_in_any_order() -> None:
    events = [
        ("created", snippets_pb2.SnippetCreated(snippet=_facts("private"))),
        ("updated", snippets_pb2.SnippetUpdated(snippet=_facts("public"), previous_visibility="private")),
        ("updated", snippets_pb2.SnippetUpdated(snippet=_facts("unlisted"), previous_visibility="public")),
        ("updated", snippets_pb2.SnippetUpdated(snippet=_facts("public"), previous_visibility="unlisted")),
    ]
    deltas = [
        public_snippet_delta(f"codegram.snippets.snippet.{v}", m.SerializeToString())[1] for v, m in events
    ]
    assert sum(deltas) == sum(reversed(deltas)) == 1
