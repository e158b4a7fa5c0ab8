"""The few GitHub calls sign-in needs: the code exchange, the user and their verified email."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

from codegram_kit.web.errors import BadGateway, GatewayTimeout, Unauthorized

log = logging.getLogger("codegram.auth.github")


@dataclass(frozen=True)
class GitHubIdentity:
    access_token: str
    scope: str
    user: dict
    email: str | None


class GitHubOAuth:
    def __init__(self, *, oauth_url: str, api_url: str, client_id: str, client_secret: str, timeout: float):
        self.oauth_url = oauth_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout = timeout

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str) -> str:
        query = httpx.QueryParams(
            client_id=self.client_id,
            redirect_uri=redirect_uri,
            state=state,
            scope="read:user user:email",
            code_challenge=code_challenge,
            code_challenge_method="S256",
            allow_signup="true",
        )
        return f"{self.oauth_url}/login/oauth/authorize?{query}"

    async def sign_in(self, *, code: str, redirect_uri: str, code_verifier: str) -> GitHubIdentity:
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout, headers={"Accept": "application/json"}
            ) as http:
                grant = await self._json(
                    http.post(
                        f"{self.oauth_url}/login/oauth/access_token",
                        data={
                            "client_id": self.client_id,
                            "client_secret": self.client_secret,
                            "code": code,
                            "redirect_uri": redirect_uri,
                            "code_verifier": code_verifier,
                        },
                    )
                )
                if not isinstance(grant, dict) or "access_token" not in grant:
                    # GitHub answers 200 with {"error": ...} for a bad, used or expired code.
                    log.info(
                        "github refused the code",
                        extra={"error": grant.get("error") if isinstance(grant, dict) else None},
                    )
                    raise Unauthorized("GitHub refused the authorization code")
                token = str(grant["access_token"])
                auth = {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}
                user = await self._json(http.get(f"{self.api_url}/user", headers=auth))
                emails = await self._json(http.get(f"{self.api_url}/user/emails", headers=auth))
        except httpx.TimeoutException as exc:
            raise GatewayTimeout("GitHub did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise BadGateway("GitHub could not be reached") from exc
        if not isinstance(user, dict) or not isinstance(user.get("id"), int) or not user.get("login"):
            raise BadGateway("GitHub answered an unexpected user")
        primary = (
            next(
                (
                    e["email"]
                    for e in emails
                    if isinstance(e, dict) and e.get("primary") and e.get("verified")
                ),
                None,
            )
            if isinstance(emails, list)
            else None
        )
        return GitHubIdentity(token, str(grant.get("scope", "")), user, primary or user.get("email"))

    async def _json(self, request) -> object:  # type: ignore[no-untyped-def]
        response: httpx.Response = await request
        if response.status_code >= 500 or response.status_code in (401, 403, 429):
            raise BadGateway(f"GitHub answered {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise BadGateway("GitHub answered something that is not JSON") from exc
