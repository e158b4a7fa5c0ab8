"""Response helpers for API.md's general rules: ETag / If-None-Match and paginated lists."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import pydantic_core
from fastapi import Request, Response
from pydantic import BaseModel

from codegram_kit.web.pagination import next_link

JSON_MEDIA_TYPE = "application/json"


def _dumps(content: object) -> bytes:
    # pydantic's own serializer, not fastapi's jsonable_encoder: the same JSON for the models'
    # fields, at a fraction of the cost on every list page.
    return pydantic_core.to_json(content, by_alias=True)


def etag_json(request: Request, content: BaseModel, status_code: int = 200) -> Response:
    """A JSON body with a strong ETag; a matching If-None-Match answers 304 with no body."""
    body = _dumps(content)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    candidates = {t.strip() for t in request.headers.get("if-none-match", "").split(",")}
    if etag in candidates or f"W/{etag}" in candidates or "*" in candidates:
        return Response(status_code=304, headers=headers)
    return Response(body, status_code=status_code, media_type=JSON_MEDIA_TYPE, headers=headers)


def page_response(
    request: Request, items: Sequence[BaseModel | dict[str, Any]], limit: int, next_cursor: str | None
) -> Response:
    """`{"data": [...], "pagination": {...}}` plus a `Link: rel="next"` header when there is more.
    Items are models, or the JSON values a model would serialise to."""
    body = _dumps({"data": list(items), "pagination": {"limit": limit, "next_cursor": next_cursor}})
    response = Response(body, media_type=JSON_MEDIA_TYPE)
    link = next_link(request.url.path, dict(request.query_params), next_cursor)
    if link:
        response.headers["Link"] = link
    return response
