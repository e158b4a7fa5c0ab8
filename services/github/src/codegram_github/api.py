"""The github service's public HTTP API (API.md "GitHub"), called only through the gateway: sync jobs,
and a user's repositories, languages and contribution calendar."""

from __future__ import annotations

import weakref
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from codegram_clients.auth import GitHubTokens
from codegram_github.jobs import github_client, settings_of
from codegram_github.peers import UserLookup
from codegram_github.repository import Repo, SyncJob
from codegram_github.schemas import (
    ContributionsRead,
    LanguageRead,
    RepositoryRead,
    SyncJobRead,
    SyncQueued,
)
from codegram_github.service import Contributions, Showcase, SingleFlight, SyncRequests, outbox_enqueuer
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.web.errors import ErrorEnvelope
from codegram_kit.web.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from codegram_kit.web.principal import CurrentPrincipal
from codegram_kit.web.responses import page_response

router = APIRouter(prefix="/api/v1", tags=["github"])

Username = Annotated[str, Path(max_length=100)]
_flights: weakref.WeakKeyDictionary[ServiceRuntime, SingleFlight] = weakref.WeakKeyDictionary()


def _errors(**described: str) -> dict[int | str, dict[str, Any]]:
    return {int(s): {"model": ErrorEnvelope, "description": d} for s, d in described.items()}


UNAUTHORIZED = "No valid access token"
NO_USER = "No user with this username"
USERS_DOWN = "The users service (or Redis) is unavailable"


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


async def _sync_requests(request: Request) -> SyncRequests:
    runtime = _runtime(request)
    return SyncRequests(runtime.db, outbox_enqueuer(runtime.outbox))


async def _showcase(request: Request) -> Showcase:
    # Async, so that the gRPC channel is made on the event loop it serves.
    runtime = _runtime(request)
    return Showcase(runtime.db, UserLookup(runtime.channel(settings_of(runtime).users_grpc_target)))


async def _contributions(request: Request) -> Contributions:
    runtime = _runtime(request)
    settings = settings_of(runtime)
    flights = _flights.get(runtime)
    if flights is None:
        flights = _flights[runtime] = SingleFlight()
    return Contributions(
        UserLookup(runtime.channel(settings.users_grpc_target)),
        GitHubTokens(runtime.channel(settings.auth_grpc_target)),
        github_client(runtime),
        runtime.redis,
        flights,
        cache_seconds=settings.contributions_cache_seconds,
        lock_seconds=settings.contributions_lock_seconds,
    )


Syncs = Annotated[SyncRequests, Depends(_sync_requests)]
Showcases = Annotated[Showcase, Depends(_showcase)]
Calendars = Annotated[Contributions, Depends(_contributions)]


def _job(job: SyncJob) -> SyncJobRead:
    return SyncJobRead(
        job_id=str(job.id),
        status=job.status,  # type: ignore[arg-type]
        attempts=job.attempts,
        error=job.error,
        finished_at=job.finished_at,
    )


@router.post(
    "/github/sync",
    status_code=202,
    response_model=SyncQueued,
    summary="Queue a sync of your GitHub profile and repositories",
    description=(
        "Answers at once with the job; it runs in the background, with retries and backoff, waiting "
        "out GitHub's rate limits. A sync already queued or running for you is returned rather than "
        "a second one."
    ),
    responses=_errors(**{"401": UNAUTHORIZED, "503": "The database is unavailable or contended"}),
)
async def request_sync(principal: CurrentPrincipal, syncs: Syncs) -> Response:
    job = await syncs.request(principal.user_id)
    body = SyncQueued(job_id=str(job.id), status=job.status)  # type: ignore[arg-type]
    return JSONResponse(
        body.model_dump(), status_code=202, headers={"Location": f"/api/v1/github/sync/{job.id}"}
    )


@router.get(
    "/github/sync/{job_id}",
    response_model=SyncJobRead,
    summary="A sync job's status (yours only)",
    responses=_errors(
        **{"400": "A job id over 64 characters", "401": UNAUTHORIZED, "404": "No such job of yours"}
    ),
)
async def sync_status(
    job_id: Annotated[str, Path(max_length=64)], principal: CurrentPrincipal, syncs: Syncs
) -> SyncJobRead:
    return _job(await syncs.status(principal.user_id, job_id))


def _repository(repo: Repo) -> RepositoryRead:
    return RepositoryRead(
        name=repo.name,
        full_name=repo.full_name,
        description=repo.description,
        language=repo.language,
        stars=repo.stars,
        forks=repo.forks,
        html_url=repo.html_url,
        pushed_at=repo.pushed_at,
    )


@router.get(
    "/users/{username}/repos",
    response_model=Page[RepositoryRead],
    summary="A user's public GitHub repositories, as last synced",
    description="`sort=stars` (most first) or `sort=pushed` (latest push first, the default).",
    responses=_errors(
        **{"400": "A bad sort, limit or cursor", "401": UNAUTHORIZED, "404": NO_USER, "503": USERS_DOWN}
    ),
)
async def repositories(
    request: Request,
    username: Username,
    showcase: Showcases,
    sort: Literal["stars", "pushed"] = "pushed",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    repos, next_cursor = await showcase.repositories(username, sort, cursor, limit)
    return page_response(request, [_repository(r) for r in repos], limit, next_cursor)


@router.get(
    "/users/{username}/languages",
    response_model=list[LanguageRead],
    summary="Language statistics over a user's synced repositories, largest first",
    responses=_errors(
        **{"400": "A username over 100 characters", "401": UNAUTHORIZED, "404": NO_USER, "503": USERS_DOWN}
    ),
)
async def languages(username: Username, showcase: Showcases) -> list[LanguageRead]:
    return [
        LanguageRead(language=s.language, bytes=s.bytes, share=s.share, repos=s.repos)
        for s in await showcase.languages(username)
    ]


@router.get(
    "/users/{username}/contributions",
    response_model=ContributionsRead,
    summary="A user's GitHub contribution calendar",
    description=(
        "Days from `from` to `to` (dates, inclusive, from 2008-01-01 to tomorrow); by default the "
        "last 365 days. A range may span at most five years. Cached: repeated calls do not reach "
        "GitHub."
    ),
    responses=_errors(
        **{
            "400": "A bad date or one out of range, `from` after `to`, or a range over five years",
            "401": UNAUTHORIZED,
            "404": "No user with this username, or one who never signed in to CodeGram",
            "502": "GitHub failed",
            "503": "GitHub's rate limit is exhausted (see Retry-After), or a peer is unavailable",
        }
    ),
)
async def contributions(
    username: Username,
    calendars: Calendars,
    from_: Annotated[date | None, Query(alias="from", description="First day (YYYY-MM-DD)")] = None,
    to: Annotated[date | None, Query(description="Last day (YYYY-MM-DD); default today")] = None,
) -> ContributionsRead:
    return ContributionsRead.model_validate(await calendars.calendar(username, from_, to))
