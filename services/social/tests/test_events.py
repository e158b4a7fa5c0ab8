"""An event serialized with a placeholder for an id, and the id written in its place (as the like
statement does with `overlay`), is the event serialized with the id."""

from __future__ import annotations

from uuid import uuid4

from codegram_proto.codegram.events.v1 import social_pb2
from codegram_social.events import now, with_placeholder


def _overlay(payload: bytes, at: int, text: str) -> bytes:
    """Postgres's `overlay(payload PLACING text FROM at)` for a text as long as the placeholder."""
    return payload[: at - 1] + text.encode() + payload[at - 1 + len(text) :]


def test_the_author_written_over_the_placeholder_makes_the_same_like_event() -> None:
    user, item, author = str(uuid4()), str(uuid4()), str(uuid4())
    occurred = now()
    subject = social_pb2.Subject(type="snippet", id=item)

    def build(author_id: str) -> social_pb2.LikeCreated:
        return social_pb2.LikeCreated(
            user_id=user, subject=subject, subject_author_id=author_id, occurred_at=occurred
        )

    payload, at = with_placeholder(build)

    assert _overlay(payload, at, author) == build(author).SerializeToString()
    parsed = social_pb2.LikeCreated.FromString(_overlay(payload, at, author))
    assert (parsed.user_id, parsed.subject.id, parsed.subject_author_id) == (user, item, author)


def test_the_recipient_written_over_the_placeholder_makes_the_same_notification_event() -> None:
    notification, recipient = str(uuid4()), str(uuid4())

    def build(recipient_id: str) -> social_pb2.NotificationCreated:
        return social_pb2.NotificationCreated(
            notification_id=notification, recipient_id=recipient_id, type="like"
        )

    payload, at = with_placeholder(build)

    assert _overlay(payload, at, recipient) == build(recipient).SerializeToString()
