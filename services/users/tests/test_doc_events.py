"""Doc events keep a user's count of public docs: the delta each event carries."""

from __future__ import annotations

import itertools

import pytest

from codegram_proto.codegram.events.v1 import docs_pb2
from codegram_users.events import DOC_EVENTS, public_doc_delta

AUTHOR = "0190f0c0-0000-7000-8000-000000000002"


def _facts(visibility: str) -> docs_pb2.DocFacts:
    return docs_pb2.DocFacts(doc_id="d", author_id=AUTHOR, visibility=visibility, slug="a-doc")


@pytest.mark.parametrize(("visibility", "delta"), [("public", 1), ("unlisted", 0), ("private", 0)])
def test_created(visibility: str, delta: int) -> None:
    data = docs_pb2.DocCreated(doc=_facts(visibility)).SerializeToString()
    assert public_doc_delta("codegram.docs.doc.created", data) == (AUTHOR, delta)


@pytest.mark.parametrize(
    ("before", "after", "delta"),
    [
        ("private", "public", 1),
        ("public", "private", -1),
        ("public", "public", 0),
        ("unlisted", "private", 0),
    ],
)
def test_updated(before: str, after: str, delta: int) -> None:
    data = docs_pb2.DocUpdated(doc=_facts(after), previous_visibility=before).SerializeToString()
    assert public_doc_delta("codegram.docs.doc.updated", data) == (AUTHOR, delta)


@pytest.mark.parametrize(("visibility", "delta"), [("public", -1), ("unlisted", 0)])
def test_deleted(visibility: str, delta: int) -> None:
    data = docs_pb2.DocDeleted(doc=_facts(visibility)).SerializeToString()
    assert public_doc_delta("codegram.docs.doc.deleted", data) == (AUTHOR, delta)


def test_every_order_of_a_docs_life_adds_up_to_its_final_state() -> None:
    events = [
        ("created", docs_pb2.DocCreated(doc=_facts("public"))),
        ("updated", docs_pb2.DocUpdated(doc=_facts("private"), previous_visibility="public")),
        ("updated", docs_pb2.DocUpdated(doc=_facts("public"), previous_visibility="private")),
        ("deleted", docs_pb2.DocDeleted(doc=_facts("public"))),
    ]
    deltas = [public_doc_delta(f"codegram.docs.doc.{v}", m.SerializeToString())[1] for v, m in events]
    assert {sum(order) for order in itertools.permutations(deltas)} == {0}
    assert sum(deltas[:3]) == 1  # before the delete it was public


def test_the_consumer_listens_to_exactly_the_docs_services_subjects() -> None:
    from codegram_docs.events import SUBJECT_PREFIX

    expected = [f"{SUBJECT_PREFIX}.{verb}" for verb in ("created", "updated", "deleted")]
    assert expected == DOC_EVENTS
