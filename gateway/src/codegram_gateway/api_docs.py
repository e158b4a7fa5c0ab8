"""The public API's documentation: one OpenAPI built from the services' specs, and offline `/docs`."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from codegram_kit.web.openapi import add_components, add_errors, describe_routes, operations

log = logging.getLogger("codegram.gateway.docs")

API_PREFIX = "/api/v1/"
PUBLIC_PREFIXES = (API_PREFIX, "/.well-known/")
ASSETS = "/docs/assets"
DESCRIPTION = """The public API of CodeGram. JSON in and out; errors use one envelope
`{"error": {"code", "message", "details"}, "request_id"}`; lists are cursor-paginated
(`limit` 1..100, `cursor` from `pagination.next_cursor`, `Link: rel="next"`); authenticated
endpoints take `Authorization: Bearer <access token>` from the sign-in flow under `/api/v1/auth`.
Every status an operation can answer is listed under it, errors with the `ErrorEnvelope` schema;
besides the rules in each schema, no string in a query or body may contain NUL (U+0000): a 400."""


class MergedOpenAPI:
    """Fetches each service's spec, keeps its public paths and schemas, and caches the merge."""

    def __init__(self, base_urls: dict[str, str], ttl: float = 60.0, own: FastAPI | None = None) -> None:
        self.base_urls = base_urls
        self.own = own  # the gateway's own public routes (search)
        self.ttl = ttl
        self._cached: dict[str, Any] | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def document(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        async with self._lock:
            if self._cached is None or time.monotonic() - self._at > self.ttl:
                self._cached = await self._build(session)
                self._at = time.monotonic()
            return self._cached

    async def _build(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        specs = await asyncio.gather(*(self._fetch(session, s, u) for s, u in self.base_urls.items()))
        paths: dict[str, Any] = {}
        schemas: dict[str, Any] = {}
        missing = []
        if self.own is not None:
            own = get_openapi(title="gateway", version="1", routes=self.own.routes)
            specs = [*specs, describe_routes(own, self.own.routes)]
        proxied: set[str] = set()
        for service, spec in zip([*self.base_urls, "gateway"], specs, strict=False):
            if spec is None:
                missing.append(service)
                continue
            for path, item in spec.get("paths", {}).items():
                if path.startswith(PUBLIC_PREFIXES):
                    paths[path] = item
                    if service != "gateway":
                        proxied.add(path)
            schemas.update(spec.get("components", {}).get("schemas", {}))
        document: dict[str, Any] = {
            "openapi": "3.1.0",
            "info": {"title": "CodeGram API", "version": "1.0.0", "description": DESCRIPTION},
            "paths": dict(sorted(paths.items())),
            "components": {"schemas": schemas},
        }
        share_filters(document)
        add_edge_statuses(document, proxied)
        if missing:
            # Serve what answered; the next request after the cache expires tries again.
            document["info"]["x-unavailable-services"] = missing
            self._at = time.monotonic() - self.ttl + 5
        return document

    async def _fetch(self, session: aiohttp.ClientSession, service: str, base: str) -> dict[str, Any] | None:
        try:
            async with session.get(f"{base}/openapi.json", timeout=aiohttp.ClientTimeout(total=3)) as resp:
                if resp.status == 200:
                    return await resp.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("openapi of a service unavailable", extra={"service": service, "error": repr(exc)})
        return None


SEARCH = "/api/v1/search"
SNIPPETS = "/api/v1/snippets"


def share_filters(document: dict[str, Any]) -> None:
    """Search passes `language` and `tag` on to the content services, which decide what they accept:
    the search documents the snippets list's rules for them (one list of language names)."""
    paths = document["paths"]
    if SEARCH not in paths or SNIPPETS not in paths:
        return
    rules = {p["name"]: p["schema"] for p in paths[SNIPPETS]["get"].get("parameters", [])}
    for parameter in paths[SEARCH]["get"].get("parameters", []):
        if parameter["name"] in ("language", "tag") and parameter["name"] in rules:
            parameter["schema"] = rules[parameter["name"]]


def add_edge_statuses(document: dict[str, Any], proxied: set[str]) -> None:
    """What the gateway itself can answer before or instead of a service (edge.py): under /api/v1 a
    401 for any token that fails verification (even where none is needed), a 429 past the rate
    limit and a 413 for a body over the limit; for a proxied path, 502, 503 and 504 when its service
    fails, is down (or its circuit open) or is too slow."""
    for path, _method, operation in operations(document):
        statuses: list[int] = []
        if path.startswith(API_PREFIX):
            statuses += [401, 429]
            if "requestBody" in operation:
                statuses.append(413)
        if path in proxied:
            statuses += [502, 503, 504]
        add_errors(operation, statuses)
        operation["responses"] = dict(sorted(operation["responses"].items()))
    add_components(document)


def install_api_docs(app: FastAPI, merged: MergedOpenAPI, session_factory: Any) -> None:
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(await merged.document(session_factory()))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="CodeGram API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            # No call to the public spec validator: the docs must work offline.
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        )
