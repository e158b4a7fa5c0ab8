"""The demo GitHub accounts the local stand-in serves: stable ids, realistic profiles, derived repos."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

LANGUAGES = ("Python", "Go", "Rust", "TypeScript", "JavaScript", "C", "Shell", "HTML", "CSS", "Java")


@dataclass(frozen=True)
class DemoAccount:
    id: int
    login: str
    name: str
    bio: str
    location: str
    blog: str
    company: str | None
    public_email: str | None  # what /user shows; None when the user keeps it private
    primary_email: str
    followers: int
    following: int
    repo_count: int
    created_at: datetime
    topics: tuple[str, ...] = field(default=())


ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount(
        id=583231,
        login="octocat",
        name="The Octocat",
        bio="GitHub's mascot. Loves forks, stars and pull requests.",
        location="San Francisco",
        blog="https://github.blog",
        company="@github",
        public_email="octocat@example.com",
        primary_email="octocat@example.com",
        followers=21000,
        following=9,
        repo_count=8,
        created_at=datetime(2011, 1, 25, 18, 44, 36, tzinfo=UTC),
        topics=("git", "demo"),
    ),
    DemoAccount(
        id=480938,
        login="hubot",
        name="Hubot",
        bio="A customizable chat bot. Writes CoffeeScript when nobody is looking.",
        location="The Internet",
        blog="https://hubot.github.com",
        company=None,
        public_email=None,
        primary_email="hubot@users.noreply.example.com",
        followers=1520,
        following=0,
        repo_count=3,
        created_at=datetime(2010, 11, 18, 9, 12, 0, tzinfo=UTC),
        topics=("chatops", "bot"),
    ),
    DemoAccount(
        id=2918581,
        login="monalisa",
        name="Mona Lisa Octocat",
        bio="Painter of pixels, maintainer of many small libraries.",
        location="Florence, Italy",
        blog="",
        company="@renaissance",
        public_email="mona@example.com",
        primary_email="mona@example.com",
        followers=312,
        following=48,
        repo_count=135,
        created_at=datetime(2012, 11, 4, 12, 0, 0, tzinfo=UTC),
        topics=("art", "svg", "python"),
    ),
    DemoAccount(
        id=9919,
        login="linus-dev",
        name="Ada Kernelsmith",
        bio="Systems programmer. C, Rust and a lot of shell.",
        location="Helsinki",
        blog="https://example.org/ada",
        company=None,
        public_email=None,
        primary_email="ada@example.org",
        followers=88,
        following=12,
        repo_count=0,
        created_at=datetime(2009, 3, 3, 3, 3, 3, tzinfo=UTC),
    ),
)

BY_LOGIN = {a.login.lower(): a for a in ACCOUNTS}


def made_account(login: str, **numbers: Any) -> DemoAccount:
    """An account made on demand (tests, benchmarks): deterministic from its login and the numbers
    given (`id`, `name`, `followers`, `following`, `repo_count`, `topics`)."""
    digest = int(hashlib.sha256(login.lower().encode()).hexdigest()[:8], 16)
    return DemoAccount(
        id=int(numbers.get("id") or 10_000_000 + digest),
        login=login,
        name=str(numbers.get("name") or login.title()),
        bio="",
        location="",
        blog="",
        company=None,
        public_email=None,
        primary_email=f"{login.lower()}@example.com",
        followers=int(numbers.get("followers", 7)),
        following=int(numbers.get("following", 3)),
        repo_count=int(numbers.get("repo_count", 4)),
        created_at=datetime(2015, 6, 1, tzinfo=UTC),
        topics=tuple(numbers.get("topics") or ("demo",)),
    )


def _digest(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:8], "big")


def repos(account: DemoAccount, base_url: str) -> list[dict]:
    """The account's public repositories, deterministic, newest push first."""
    owner = owner_json(account, base_url)
    out = []
    for i in range(account.repo_count):
        seed = _digest(account.login, i)
        name = (
            f"{account.topics[0] if account.topics else 'project'}-{i:03d}"
            if i
            else f"{account.login}.github.io"
        )
        language = LANGUAGES[seed % len(LANGUAGES)]
        created = account.created_at + timedelta(days=30 + i * 11)
        pushed = datetime(2026, 11, 1, tzinfo=UTC) - timedelta(hours=(seed % 9000) + i)
        out.append(
            {
                "id": account.id * 1000 + i,
                "node_id": f"R_kgDO{account.id:x}{i:04x}",
                "name": name,
                "full_name": f"{account.login}/{name}",
                "private": False,
                "owner": owner,
                "html_url": f"{base_url}/{account.login}/{name}",
                "description": f"{language} {'library' if seed % 3 else 'tool'} number {i} by {account.name}",
                "fork": seed % 7 == 0,
                "url": f"{base_url}/repos/{account.login}/{name}",
                "language": language,
                "stargazers_count": seed % 5000 if i < 5 else seed % 40,
                "watchers_count": seed % 5000 if i < 5 else seed % 40,
                "forks_count": seed % 300 if i < 5 else seed % 5,
                "open_issues_count": seed % 17,
                "topics": list(account.topics),
                "default_branch": "main",
                "created_at": _iso(created),
                "updated_at": _iso(pushed),
                "pushed_at": _iso(pushed),
            }
        )
    return out


def languages(account: DemoAccount, repo_name: str) -> dict[str, int]:
    """Bytes per language for one repository, its main language first."""
    index = next((i for i, r in enumerate(repos(account, "")) if r["name"] == repo_name), None)
    if index is None:
        return {}
    seed = _digest(account.login, index)
    main = LANGUAGES[seed % len(LANGUAGES)]
    result = {main: 20_000 + seed % 400_000}
    for extra in range(seed % 3):
        other = LANGUAGES[(seed // 7 + extra + 1) % len(LANGUAGES)]
        if other != main:
            result[other] = 500 + (seed >> (extra + 3)) % 15_000
    return result


def contributions(account: DemoAccount, start: date, end: date) -> list[tuple[date, int]]:
    days = []
    day = start
    while day <= end:
        seed = _digest(account.login, day.isoformat())
        count = 0 if seed % 4 == 0 else seed % 13
        days.append((day, count))
        day += timedelta(days=1)
    return days


def owner_json(account: DemoAccount, base_url: str) -> dict:
    return {
        "login": account.login,
        "id": account.id,
        "node_id": f"MDQ6VXNlcj{account.id}",
        "avatar_url": f"{base_url}/avatars/u/{account.id}?v=4",
        "html_url": f"{base_url}/{account.login}",
        "type": "User",
        "site_admin": False,
    }


def user_json(account: DemoAccount, base_url: str) -> dict:
    return {
        **owner_json(account, base_url),
        "url": f"{base_url}/users/{account.login}",
        "repos_url": f"{base_url}/users/{account.login}/repos",
        "name": account.name,
        "company": account.company,
        "blog": account.blog,
        "location": account.location,
        "email": account.public_email,
        "hireable": None,
        "bio": account.bio,
        "twitter_username": None,
        "public_repos": account.repo_count,
        "public_gists": 0,
        "followers": account.followers,
        "following": account.following,
        "created_at": _iso(account.created_at),
        "updated_at": _iso(datetime(2026, 10, 1, tzinfo=UTC)),
    }


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
