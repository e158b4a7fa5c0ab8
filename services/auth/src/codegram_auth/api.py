"""The auth service's public HTTP API (API.md "Auth"), called only through the gateway."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response

from codegram_auth.config import AuthSettings
from codegram_auth.domain import TokenPair
from codegram_auth.schemas import AuthorizeRead, CallbackBody, RefreshBody, TokenRead
from codegram_auth.service import AuthService, auth_service
from codegram_kit.web.errors import error_response
from codegram_kit.web.openapi import error_responses
from codegram_kit.web.principal import CurrentPrincipal

router = APIRouter(prefix="/api/v1", tags=["auth"])
# The keys' well-known address (RFC 8615), outside the versioned API: verifiers are configured with it.
well_known = APIRouter(prefix="/.well-known", tags=["auth"])


async def _auth_service(request: Request) -> AuthService:
    # Async so that it runs on the event loop, where the gRPC channel to the users service is made.
    return auth_service(request.app.state.runtime)


Auth = Annotated[AuthService, Depends(_auth_service)]


def _tokens(pair: TokenPair) -> TokenRead:
    return TokenRead(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        user=pair.user,
    )


# The sign-in state lives in Redis: without it, sign-in answers 503 with Retry-After.
_STATE_STORE = error_responses(503, s503="`SERVICE_UNAVAILABLE`: the sign-in state store is unavailable.")


@router.get(
    "/auth/github/authorize",
    response_model=AuthorizeRead,
    responses=_STATE_STORE,
    summary="Start signing in with GitHub",
)
async def authorize(
    auth: Auth,
    redirect_uri: Annotated[
        str, Query(max_length=2048, description="One of the configured redirect URIs (the enum).")
    ],
) -> AuthorizeRead:
    url, state = await auth.authorize(redirect_uri)
    return AuthorizeRead(authorize_url=url, state=state)


def _publish_redirect_uris(operation: dict[str, Any], app: FastAPI | None) -> None:
    """The allowlist is configuration (AUTH_REDIRECT_URIS): the running service documents its own."""
    settings = getattr(getattr(app, "state", None), "runtime", None)
    settings = getattr(settings, "settings", None)
    if not isinstance(settings, AuthSettings):
        return
    for parameter in operation.get("parameters", []):
        if parameter.get("name") == "redirect_uri":
            parameter["schema"]["enum"] = sorted(settings.redirect_uris)


authorize.refine_openapi = _publish_redirect_uris  # type: ignore[attr-defined]


@router.post(
    "/auth/github/callback",
    response_model=TokenRead,
    responses={
        **error_responses(
            400,
            401,
            s400="`VALIDATION_ERROR`: a bad body, or a `state` that is unknown, already used or expired "
            "(the state must come from `authorize`, which the schema cannot say).",
            s401="`UNAUTHORIZED`: GitHub refused the code.",
        ),
        **_STATE_STORE,
    },
    summary="Finish signing in with GitHub",
)
async def callback(body: CallbackBody, auth: Auth) -> TokenRead:
    return _tokens(await auth.callback(body.code, body.state))


@router.post(
    "/auth/refresh",
    response_model=TokenRead,
    response_model_exclude_none=True,
    responses=error_responses(
        401,
        s401="`UNAUTHORIZED`: an unknown, expired or revoked refresh token (a reused one revokes its "
        "whole family).",
    ),
    summary="Rotate a refresh token for a new pair",
)
async def refresh(body: RefreshBody, auth: Auth) -> Response | TokenRead:
    pair = await auth.refresh(body.refresh_token)
    if pair is None:
        # The revocation of a reused token's family has committed; the caller learns only this.
        return error_response(401, "UNAUTHORIZED", "invalid refresh token")
    return _tokens(pair)


@router.post("/auth/logout", status_code=204, response_class=Response, summary="Revoke a token family")
async def logout(body: RefreshBody, principal: CurrentPrincipal, auth: Auth) -> Response:
    await auth.logout(body.refresh_token, principal.user_id)
    return Response(status_code=204)


@well_known.get("/jwks.json", summary="Public keys that verify access tokens")
async def jwks(auth: Auth) -> Response:
    keys = await auth.jwks()
    return Response(
        content=json.dumps(keys),
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=60"},
    )
