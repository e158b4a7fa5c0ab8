"""`GET /api/v1/search`: one query fanned out to the snippets and docs services, merged by score.

Each content service ranks its own public items and serves them on its internal search endpoint
(`GET /internal/v1/search`), ordered by score, then `created_at`, then id, each hit carrying the
service's own keyset cursor just after it. The gateway asks every service concurrently, merges the
hits in one total order (score desc, created_at desc, type, id) and keeps, per service, the cursor
of the last hit it handed out: its own cursor is those positions together, so the next page asks
each service for what comes after what the client has already seen (a k-way merge over pages).

A service that fails or is too slow does not fail the search: the answer says `partial: true`
and names it, and its position stays where it was.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import heapq
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Annotated, Any, Literal

import aiohttp
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from codegram_gateway.proxy import Upstreams, describe
from codegram_kit.runtime.context import current_request_id
from codegram_kit.runtime.tracing import inject
from codegram_kit.web.errors import ValidationFailed
from codegram_kit.web.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageInfo, next_link
from codegram_kit.web.responses import JSON_MEDIA_TYPE

log = logging.getLogger("codegram.gateway.search")

ContentType = Literal["snippet", "doc"]
SERVICE_OF: dict[str, str] = {"snippet": "snippets", "doc": "docs"}
SEARCH_PATH = "/internal/v1/search"
MAX_QUERY_LENGTH = 500

router = APIRouter(prefix="/api/v1", tags=["search"])


class SearchHit(BaseModel):
    type: ContentType
    score: float = Field(description="Relevance within this query; higher first")
    item: dict[str, Any] = Field(description="The snippet or doc, as in lists")
    highlights: dict[str, list[str]] = Field(
        default_factory=dict, description='Matching fragments per field, terms wrapped in "<mark>"'
    )


class SearchPage(BaseModel):
    data: list[SearchHit]
    pagination: PageInfo
    partial: bool = Field(description="True when a content service did not answer: results may be missing")
    unavailable: list[ContentType] = Field(default_factory=list, description="What could not be searched")


@dataclass
class _Source:
    type: str
    position: str | None  # the service's cursor after the last hit handed out; None: from the top
    hits: list[dict[str, Any]] = field(default_factory=list)
    asked: int = 0
    failed: bool = False


class SearchFanOut:
    def __init__(self, upstreams: Upstreams, timeout: float) -> None:
        self.upstreams = upstreams
        self.timeout = aiohttp.ClientTimeout(total=timeout, connect=2)

    async def search(
        self,
        request: Request,
        *,
        q: str,
        types: list[str],
        language: str | None,
        tags: list[str],
        limit: int,
        cursor: str | None,
    ) -> SearchPage:
        fingerprint = _fingerprint(q, types, language, tags)
        positions, exhausted = _decode(cursor, fingerprint, types)
        sources = [_Source(t, positions.get(t)) for t in types if t not in exhausted]
        headers = self._headers(request)
        await asyncio.gather(
            *(self._ask(s, headers, q=q, language=language, tags=tags, limit=limit) for s in sources)
        )
        # Each service's hits are already in its order; merging keeps it for ties within a service.
        merged = list(
            islice(
                heapq.merge(
                    *([(s, hit) for hit in s.hits] for s in sources if not s.failed),
                    key=lambda pair: _order(pair[0].type, pair[1]),
                ),
                limit,
            )
        )
        data = []
        for source, hit in merged:
            source.position = hit["cursor"]
            data.append(
                SearchHit(
                    type=source.type,  # type: ignore[arg-type]
                    score=hit["score"],
                    item=hit["item"],
                    highlights=hit.get("highlights") or {},
                )
            )
        for source in sources:
            consumed_all = not source.failed and all(source.position == h["cursor"] for h in source.hits[-1:])
            if consumed_all and len(source.hits) < source.asked:
                exhausted.add(source.type)
            positions[source.type] = source.position
        failed = [s.type for s in sources if s.failed]
        # A service that failed keeps its place in the cursor but does not hold the next page
        # open by itself: the answer is already marked partial.
        more = any(t not in exhausted and t not in failed for t in types)
        return SearchPage(
            data=data,
            pagination=PageInfo(
                limit=limit, next_cursor=_encode(positions, exhausted, fingerprint) if more else None
            ),
            partial=bool(failed),
            unavailable=failed,  # type: ignore[arg-type]
        )

    def _headers(self, request: Request) -> dict[str, str]:
        headers = {"x-request-id": current_request_id() or "", "accept": JSON_MEDIA_TYPE}
        if "authorization" in request.headers:
            headers["authorization"] = request.headers["authorization"]
        inject(headers)
        return headers

    async def _ask(
        self,
        source: _Source,
        headers: dict[str, str],
        *,
        q: str,
        language: str | None,
        tags: list[str],
        limit: int,
    ) -> None:
        service = SERVICE_OF[source.type]
        breaker = self.upstreams.breakers[service]
        if breaker.retry_after() is not None:
            source.failed = True
            return
        # One more than a page tells whether the service has anything after it.
        source.asked = min(limit + 1, MAX_LIMIT)
        params: list[tuple[str, str]] = [("q", q), ("limit", str(source.asked))]
        params += [("tag", t) for t in tags]
        if language:
            params.append(("language", language))
        if source.position:
            params.append(("cursor", source.position))
        url = self.upstreams.base_urls[service] + SEARCH_PATH
        assert self.upstreams.session is not None
        try:
            async with self.upstreams.session.get(
                url, params=params, headers=headers, timeout=self.timeout
            ) as resp:
                body = await resp.json(content_type=None)
                if resp.status == 400:
                    breaker.succeeded()
                    error = (body or {}).get("error", {})
                    # A query the service cannot take is the client's 400, with the service's details.
                    raise ValidationFailed(error.get("message", "invalid search"), error.get("details"))
                if resp.status != 200:
                    raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status)
                source.hits = _valid_hits(body)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("search source failed", extra={"service": service, "error": describe(exc)})
            if not isinstance(exc, aiohttp.ClientResponseError) or exc.status >= 500:
                breaker.failed()
            source.failed = True
            return
        breaker.succeeded()


def _valid_hits(body: Any) -> list[dict[str, Any]]:
    hits = body.get("data") if isinstance(body, dict) else None
    if not isinstance(hits, list) or not all(
        isinstance(h, dict)
        and isinstance(h.get("score"), int | float)
        and isinstance(h.get("cursor"), str)
        and isinstance(h.get("id"), str)
        and isinstance(h.get("item"), dict)
        for h in hits
    ):
        raise ValueError("malformed search answer")
    return hits


def _order(kind: str, hit: dict[str, Any]) -> tuple[float, float, str]:
    # Score desc, then newest first, then type; within one type the service's own order (which
    # ends in the id) decides, so every page agrees on one total order.
    try:
        created = datetime.fromisoformat(str(hit.get("created_at")).replace("Z", "+00:00")).timestamp()
    except ValueError:
        created = 0.0
    return (-float(hit["score"]), -created, kind)


def _fingerprint(q: str, types: list[str], language: str | None, tags: list[str]) -> str:
    material = json.dumps([q, sorted(types), language, sorted(tags)], separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


def _encode(positions: dict[str, str | None], exhausted: set[str], fingerprint: str) -> str:
    raw = json.dumps({"f": fingerprint, "p": positions, "x": sorted(exhausted)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str | None, fingerprint: str, types: list[str]) -> tuple[dict[str, str | None], set[str]]:
    if not cursor:
        return {}, set()
    try:
        state = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        positions, exhausted = state["p"], state["x"]
        valid = (
            state["f"] == fingerprint
            and isinstance(positions, dict)
            and all(k in SERVICE_OF and (v is None or isinstance(v, str)) for k, v in positions.items())
            and isinstance(exhausted, list)
            and all(x in SERVICE_OF for x in exhausted)
        )
    except (binascii.Error, ValueError, UnicodeDecodeError, KeyError, TypeError):
        valid = False
    if not valid:
        # Also a cursor from another query: its positions mean nothing for this one.
        raise ValidationFailed(
            "invalid cursor",
            [{"field": "cursor", "in": "query", "message": "not a cursor of this search"}],
        )
    return dict(positions), set(exhausted) & set(types)


@router.get(
    "/search",
    response_model=SearchPage,
    summary="Search public snippets and docs",
    description=(
        "Full-text search over public snippets and docs. Titles weigh more than descriptions, "
        "which weigh more than code and content; tags match exactly. The query language is "
        'forgiving: words, "quoted phrases", `-word` to exclude, `or`; identifiers in code match '
        "by their parts (`parseJSON` finds `parseJSONLine`). Results are ordered by score, then "
        "newest first, then type and id, and paginated with `cursor`. When a very common term "
        "matches too many items, each service ranks only its newest matches. If a content "
        "service is unavailable the answer is partial (`partial: true`, `unavailable` names it) "
        "rather than an error. With `language`, only snippets are searched (docs have none)."
    ),
)
async def search_content(
    request: Request,
    q: Annotated[str, Query(max_length=MAX_QUERY_LENGTH, description="What to look for")],
    type: Annotated[ContentType | None, Query(description="Only snippets or only docs")] = None,
    language: Annotated[str | None, Query(max_length=50)] = None,
    tag: Annotated[list[str] | None, Query(description="Repeatable; every tag must match")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=4096)] = None,
) -> Response:
    fan_out: SearchFanOut = request.app.state.search
    types: list[str] = [type] if type else (["snippet"] if language else ["snippet", "doc"])
    page = await fan_out.search(
        request,
        q=q,
        types=types,
        language=language,
        tags=tag or [],
        limit=limit,
        cursor=cursor,
    )
    response = Response(page.model_dump_json(), media_type=JSON_MEDIA_TYPE)
    query = {k: request.query_params.getlist(k) for k in request.query_params}
    link = next_link(request.url.path, query, page.pagination.next_cursor)
    if link:
        response.headers["Link"] = link
    return response
