"""Who is calling: the FastAPI dependencies that read and verify a request's bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from codegram_kit.web.errors import Unauthorized
from codegram_kit.web.tokens import Principal, TokenVerifier, parse_bearer


def bearer_token(connection: HTTPConnection) -> str | None:
    return parse_bearer(connection.headers.get("authorization", ""))


async def optional_principal(request: Request) -> Principal | None:
    token = bearer_token(request)
    if token is None:
        if request.headers.get("authorization"):
            raise Unauthorized("malformed authorization header")
        return None
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify(token)


async def require_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized("authentication required")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]
