"""The users service's use cases; the HTTP and gRPC doors both call these."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from codegram_kit.db.ids import parse_id
from codegram_kit.web.errors import NotFound, ValidationFailed
from codegram_kit.web.pagination import decode_cursor, encode_cursor
from codegram_users.domain import PROFILE_FIELDS, GitHubAccount, User
from codegram_users.repository import UserRepository

_USERNAME_CHARS = re.compile(r"[^A-Za-z0-9-]")
# As long as a username may be in a path (api.py).
MAX_USERNAME_CURSOR = 100


def _cursor_username(value: object) -> str:
    """The username a search cursor resumes after; the cursor is the client's, so its text is checked
    as a query parameter would be (a NUL in it would reach Postgres)."""
    if not isinstance(value, str) or len(value) > MAX_USERNAME_CURSOR or "\x00" in value:
        raise ValidationFailed(
            "invalid cursor", [{"field": "cursor", "in": "query", "message": "invalid cursor"}]
        )
    return value


class UserPublisher(Protocol):
    """What the use cases tell the rest of the fleet, in their own transaction (events.py writes it
    to the outbox; declared here so that the service layer does not import the events module, which
    calls into it)."""

    async def created(self, user: User) -> None: ...

    async def updated(self, user: User, changed: Iterable[str]) -> None: ...


class UserService:
    def __init__(self, session: AsyncSession, events: UserPublisher) -> None:
        self.repo = UserRepository(session)
        self.events = events

    async def get(self, user_id: str) -> User:
        uid = parse_id(user_id)
        user = await self.repo.by_id(uid) if uid else None
        if user is None:
            raise NotFound("user not found")
        return user

    async def get_many(self, user_ids: Sequence[str]) -> list[User]:
        ids = list(dict.fromkeys(uid for raw in user_ids if (uid := parse_id(raw))))
        return await self.repo.by_ids(ids)

    async def get_by_username(self, username: str) -> User:
        user = await self.repo.by_username(username)
        if user is None:
            raise NotFound("user not found")
        return user

    async def search(self, q: str | None, cursor: str | None, limit: int) -> tuple[list[User], str | None]:
        position = decode_cursor(cursor, ("u",))
        after = _cursor_username(position["u"]) if position else None
        found = await self.repo.search(q.strip() if q else None, after, limit + 1)
        page = found[:limit]
        next_cursor = encode_cursor({"u": page[-1].username.lower()}) if len(found) > limit else None
        return page, next_cursor

    async def update_profile(self, user_id: str, changes: dict[str, Any]) -> User:
        uid = parse_id(user_id)
        current = await self.repo.by_id(uid, for_update=True) if uid else None
        if current is None or uid is None:
            raise NotFound("user not found")
        normalised = {
            k: ("" if v is None and k != "email" else v) for k, v in changes.items() if k in PROFILE_FIELDS
        }
        changed = {k: v for k, v in normalised.items() if getattr(current, k) != v}
        if not changed:
            return current
        user = await self.repo.update_profile(uid, changed)
        await self.events.updated(user, changed)
        return user

    async def count_public_snippets(self, user_id: str, delta: int) -> None:
        """Kept from the snippets service's events; a user this service does not know is skipped."""
        uid = parse_id(user_id)
        if uid is not None and delta:
            await self.repo.add_to_count(uid, "snippets_count", delta)

    async def count_public_docs(self, user_id: str, delta: int) -> None:
        """Kept from the docs service's events; a user this service does not know is skipped."""
        uid = parse_id(user_id)
        if uid is not None and delta:
            await self.repo.add_to_count(uid, "docs_count", delta)

    async def count_follow(self, follower_id: str, followee_id: str, delta: int) -> None:
        """Kept from the social service's follow events: the followee's followers and the follower's
        following move together; a user this service does not know is skipped."""
        follower, followee = parse_id(follower_id), parse_id(followee_id)
        if not delta:
            return
        if followee is not None:
            await self.repo.add_to_count(followee, "followers_count", delta)
        if follower is not None:
            await self.repo.add_to_count(follower, "following_count", delta)

    async def apply_github_profile(
        self, user_id: str, login: str, counts: tuple[int, int, int], synced_at: datetime
    ) -> None:
        """Kept from the github service's syncs; a user this service does not know is skipped."""
        uid = parse_id(user_id)
        if uid is not None and login:
            await self.repo.apply_github_profile(uid, login, counts, synced_at)

    async def upsert_github_user(self, account: GitHubAccount) -> tuple[User, bool]:
        """One user per GitHub id: a new account creates, a known one refreshes its GitHub data."""
        existing = await self.repo.by_github_id(account.github_id, for_update=True)
        if existing is not None:
            user = await self.repo.update_github(existing.id, account)
            changed = [f for f in ("avatar_url",) if getattr(existing, f) != getattr(user, f)]
            if _github_facts(existing) != _github_facts(user):
                changed.append("github")
            if changed:
                await self.events.updated(user, changed)
            return user, False
        username = await self._free_username(account)
        user = await self.repo.insert_from_github(uuid.uuid4(), username, account)
        await self.events.created(user)
        return user, True

    async def _free_username(self, account: GitHubAccount) -> str:
        # A GitHub login can be renamed and later reused by someone else; the newcomer gets a suffix.
        base = _USERNAME_CHARS.sub("-", account.login).strip("-")[:39] or f"user{account.github_id}"
        if not await self.repo.username_taken(base):
            return base
        return f"{base}-{account.github_id}"


def _github_facts(user: User) -> tuple[object, ...]:
    gh = user.github
    return (gh.login, gh.followers, gh.following, gh.public_repos) if gh else ()
