"""The github service's public API models (API.md "GitHub")."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

SyncStatus = Literal["queued", "running", "succeeded", "failed"]


class SyncQueued(BaseModel):
    """`POST /github/sync`: the job that will sync (a new one, or the one already under way)."""

    job_id: str
    status: SyncStatus


class SyncJobRead(BaseModel):
    job_id: str
    status: SyncStatus
    attempts: int = Field(description="Runs started so far (waits for GitHub's rate limit are not runs)")
    error: str | None = Field(description="Why the last run failed, or what the job waits for")
    finished_at: datetime | None


class RepositoryRead(BaseModel):
    name: str
    full_name: str
    description: str | None
    language: str | None
    stars: int
    forks: int
    html_url: str
    pushed_at: datetime | None


class LanguageRead(BaseModel):
    language: str
    bytes: int
    share: float = Field(description="This language's part of all bytes; the shares sum to 1")
    repos: int = Field(description="How many of the repositories contain this language")


class ContributionDay(BaseModel):
    date: date
    count: int


class ContributionsRead(BaseModel):
    total: int
    days: list[ContributionDay]
