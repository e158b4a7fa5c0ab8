"""PATCH /users/me validation rules, without a database."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from codegram_users.schemas import UserUpdate


def test_only_sent_fields_are_set() -> None:
    update = UserUpdate.model_validate({"bio": "  hello  "})
    assert update.model_dump(exclude_unset=True) == {"bio": "hello"}


@pytest.mark.parametrize("website", ["https://example.com", "http://example.com/a?b=c", ""])
def test_accepts_http_urls_and_empty(website: str) -> None:
    assert UserUpdate(website=website).website == website


@pytest.mark.parametrize("website", ["javascript:alert(1)", "ftp://x.org", "example.com", "https://"])
def test_refuses_other_urls(website: str) -> None:
    with pytest.raises(ValidationError):
        UserUpdate(website=website)


def test_email_is_checked_and_lowercased() -> None:
    assert UserUpdate(email="Me@Example.COM").email == "me@example.com"
    with pytest.raises(ValidationError):
        UserUpdate(email="nope")


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        UserUpdate.model_validate({"username": "x"})
