"""The net change a batch of like and comment events makes to the counters of one subject type."""

from __future__ import annotations

from uuid import uuid4

from codegram_content.social_counts import count_change, net_changes
from codegram_proto.codegram.events.v1 import social_pb2


def _like(kind: str, subject_id: str, created: bool = True) -> tuple[str, bytes]:
    message = social_pb2.LikeCreated() if created else social_pb2.LikeDeleted()
    message.subject.type, message.subject.id = kind, subject_id
    return ("codegram.social.like." + ("created" if created else "deleted"), message.SerializeToString())


def test_a_batch_nets_out_per_subject_and_counter_and_leaves_other_types_alone() -> None:
    a, b, doc = str(uuid4()), str(uuid4()), str(uuid4())
    comment = social_pb2.CommentCreated()
    comment.subject.type, comment.subject.id = "snippet", a
    events = [
        _like("snippet", a),
        _like("snippet", a),
        _like("snippet", a, created=False),
        ("codegram.social.comment.created", comment.SerializeToString()),
        _like("snippet", b),
        _like("snippet", b, created=False),  # nets to nothing: left out
        _like("doc", doc),  # another service's subject
        ("codegram.social.follow.created", b""),  # not a counter's event
    ]
    net = net_changes("snippet", (count_change(subject, data) for subject, data in events))
    assert {str(k): v for k, v in net.items()} == {a: {"likes_count": 1, "comments_count": 1}}


def test_a_malformed_subject_id_changes_nothing() -> None:
    assert count_change(*_like("snippet", "not-a-uuid")) is None
