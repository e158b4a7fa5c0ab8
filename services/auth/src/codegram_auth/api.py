"""The auth service's public HTTP API (API.md "Auth"), called only through the gateway."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from codegram_auth.schemas import AuthorizeRead, CallbackBody, RefreshBody, TokenRead
from codegram_auth.service import AuthService, TokenPair, auth_service
from codegram_kit.auth import CurrentPrincipal
from codegram_kit.errors import error_response
from codegram_kit.user_views import user_from_proto

router = APIRouter(tags=["auth"])


async def _auth_service(request: Request) -> AsyncIterator[AuthService]:
    async with auth_service(request.app.state.runtime) as service:
        yield service


Auth = Annotated[AuthService, Depends(_auth_service)]


def _tokens(pair: TokenPair) -> TokenRead:
    return TokenRead(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        user=user_from_proto(pair.user) if pair.user is not None else None,
    )


@router.get(
    "/api/v1/auth/github/authorize", response_model=AuthorizeRead, summary="Start signing in with GitHub"
)
async def authorize(auth: Auth, redirect_uri: Annotated[str, Query(max_length=2048)]) -> AuthorizeRead:
    url, state = await auth.authorize(redirect_uri)
    return AuthorizeRead(authorize_url=url, state=state)


@router.post(
    "/api/v1/auth/github/callback", response_model=TokenRead, summary="Finish signing in with GitHub"
)
async def callback(body: CallbackBody, auth: Auth) -> TokenRead:
    return _tokens(await auth.callback(body.code, body.state))


@router.post(
    "/api/v1/auth/refresh",
    response_model=TokenRead,
    response_model_exclude_none=True,
    summary="Rotate a refresh token for a new pair",
)
async def refresh(body: RefreshBody, auth: Auth) -> Response | TokenRead:
    pair = await auth.refresh(body.refresh_token)
    if pair is None:
        # Answered, not raised: a reused token's family revocation must commit with this 401.
        return error_response(401, "UNAUTHORIZED", "invalid refresh token")
    return _tokens(pair)


@router.post("/api/v1/auth/logout", status_code=204, response_class=Response, summary="Revoke a token family")
async def logout(body: RefreshBody, principal: CurrentPrincipal, auth: Auth) -> Response:
    await auth.logout(body.refresh_token, principal.user_id)
    return Response(status_code=204)


@router.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(auth: Auth) -> Response:
    keys = await auth.jwks()
    return Response(
        content=json.dumps(keys),
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=60"},
    )
