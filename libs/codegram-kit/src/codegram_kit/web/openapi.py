"""The OpenAPI a process serves, made truthful: every status an operation can answer, with the
error envelope as a named schema, and who may call it (API.md "General rules").

FastAPI documents its own 422 for a request that breaks the schema, while the kit answers 400
VALIDATION_ERROR (errors.py), and it knows nothing of the statuses that dependencies or the
gateway produce. One pass over the finished document fixes that for every route at once; what is
particular to one route (a 404, a 403, a 409) the route declares itself with `error_responses`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from codegram_kit.web.errors import ErrorEnvelope
from codegram_kit.web.principal import optional_principal, require_principal

SCHEMA_REF = "#/components/schemas/ErrorEnvelope"
BEARER = "bearer"
BEARER_SCHEME = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# What each status means in this API (API.md's table), as the response's description.
DESCRIPTIONS: dict[int, str] = {
    400: "`VALIDATION_ERROR`: a body, query or path value breaks the rules above (or holds a NUL "
    "character); `details` names each field.",
    401: "`UNAUTHORIZED`: the bearer token is missing where required, or malformed, expired or revoked.",
    403: "`FORBIDDEN`: authenticated, but not allowed to do this.",
    404: "`NOT_FOUND`: nothing there, or nothing the caller may see.",
    405: "`METHOD_NOT_ALLOWED`: the path exists under other methods, listed in `Allow`.",
    409: "`CONFLICT`: the change conflicts with the current state; try again.",
    413: "`PAYLOAD_TOO_LARGE`: the request body is over the limit (1 MiB by default).",
    429: "`RATE_LIMITED`: too many requests; wait `Retry-After` seconds.",
    500: "`INTERNAL_SERVER_ERROR`: an unexpected failure (never with internals in the body).",
    502: "`BAD_GATEWAY`: the service behind this endpoint failed.",
    503: "`SERVICE_UNAVAILABLE`: the service behind this endpoint, or one it needs, is unavailable "
    "for a moment; `Retry-After` says when to try again where known.",
    504: "`GATEWAY_TIMEOUT`: the service behind this endpoint did not answer in time.",
}

_RETRY_AFTER = {
    "description": "Seconds to wait before trying again.",
    "schema": {"type": "integer", "minimum": 0},
}
HEADERS: dict[int, dict[str, Any]] = {
    429: {"Retry-After": {**_RETRY_AFTER, "required": True}},
    503: {"Retry-After": _RETRY_AFTER},
}


def error_response(status: int, description: str | None = None) -> dict[str, Any]:
    """One documented error response: the envelope, with what the status means here."""
    response: dict[str, Any] = {
        "description": description or DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": SCHEMA_REF}}},
    }
    if status in HEADERS:
        response["headers"] = dict(HEADERS[status])
    return response


def error_responses(*statuses: int, **descriptions: str) -> dict[int | str, dict[str, Any]]:
    """A route's own error statuses, for `responses=`: `error_responses(404, 403, s403="...")`
    (a `sNNN` keyword says what that status means for this route)."""
    return {s: error_response(s, descriptions.get(f"s{s}")) for s in statuses}


def error_schemas() -> dict[str, Any]:
    """The envelope's schemas, named, to sit under `components.schemas`."""
    schema = ErrorEnvelope.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
    named = dict(schema.pop("$defs", {}))
    named["ErrorEnvelope"] = schema
    return named


def _calls(dependant: Dependant) -> Iterable[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def auth_of(route: APIRoute) -> str | None:
    """ "required", "optional" or None: whether the route reads a bearer token, and must have one."""
    calls = set(_calls(route.dependant))
    if require_principal in calls:
        return "required"
    if optional_principal in calls:
        return "optional"
    return None


def operations(spec: dict[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def add_errors(operation: dict[str, Any], statuses: Iterable[int]) -> None:
    """Documents the envelope under each status the operation does not document yet."""
    responses = operation.setdefault("responses", {})
    for status in statuses:
        key = str(status)
        if key not in responses:
            responses[key] = error_response(status)
        else:
            responses[key].setdefault("content", {"application/json": {"schema": {"$ref": SCHEMA_REF}}})


def add_components(spec: dict[str, Any]) -> None:
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.update(error_schemas())
    # FastAPI's own validation-error schemas are never answered (the envelope replaces them).
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    components.setdefault("securitySchemes", {})[BEARER] = BEARER_SCHEME


# A cursor is only ever one a previous page handed out (`pagination.next_cursor`); its text is
# opaque, so the schema names it with its own format rather than promising any string will do.
CURSOR_FORMAT = "cursor"
CURSOR_DESCRIPTION = (
    "Opaque: the `pagination.next_cursor` of the previous page, unchanged (empty means the first "
    "page). Anything else is a 400."
)


def mark_cursors(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") != "query" or parameter.get("name") != "cursor":
            continue
        schema = parameter.get("schema", {})
        for branch in [schema, *schema.get("anyOf", [])]:
            if branch.get("type") == "string":
                branch["format"] = CURSOR_FORMAT
        parameter.setdefault("description", CURSOR_DESCRIPTION)


# An endpoint may carry a function of this name, `refine(operation, app)`, to document what only
# the running process knows (a configured allowlist, say).
REFINE_ATTRIBUTE = "refine_openapi"


def describe_routes(spec: dict[str, Any], routes: Sequence[BaseRoute], app: Any = None) -> dict[str, Any]:
    """`spec` (FastAPI's document of `routes`) with the kit's answers: 400 for bad input in place of
    422, 401 and the bearer scheme where a token is read, 500 everywhere."""
    api_routes = {
        (route.path_format, method.lower()): route
        for route in routes
        if isinstance(route, APIRoute) and route.include_in_schema
        for method in route.methods
    }
    for path, method, operation in operations(spec):
        route = api_routes.get((path, method))
        refine = getattr(route.endpoint, REFINE_ATTRIBUTE, None) if route is not None else None
        if refine is not None:
            refine(operation, app)
        operation.get("responses", {}).pop("422", None)
        mark_cursors(operation)
        statuses = [400, 500]
        kind = auth_of(route) if route is not None else None
        if kind is not None:
            statuses.append(401)
            # An optional token: anonymous calls are fine too (the empty requirement).
            operation["security"] = [{BEARER: []}] if kind == "required" else [{BEARER: []}, {}]
        add_errors(operation, statuses)
        operation["responses"] = dict(sorted(operation["responses"].items()))
    add_components(spec)
    return spec


def install_openapi(app: FastAPI) -> None:
    """Serves `describe_routes` of the app's document instead of FastAPI's own."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_routes(build(), app.routes, app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
