"""The auth service's use cases: GitHub sign-in, token refresh and logout, keys, token custody.

Each use case opens its own unit of work, and sign-in opens it only once GitHub and the users
service have answered: no transaction is held while a peer is waited on (ARCHITECTURE.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_auth.config import AuthSettings
from codegram_auth.crypto import SecretBox
from codegram_auth.domain import (
    Spend,
    StoredSigningKey,
    TokenPair,
    load_private_key,
    new_refresh_token,
    new_signing_key,
    refresh_token_hash,
    sign_access_token,
    spend_of,
)
from codegram_auth.events import AuthEvents
from codegram_auth.github_client import GitHubIdentity, GitHubOAuth
from codegram_auth.repository import GitHubTokenRepository, RefreshTokenRepository, SigningKeyRepository
from codegram_clients.users import GitHubAccount, UserRead, UsersClient
from codegram_kit.db.engine import Database
from codegram_kit.messaging.outbox import Outbox
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.web.errors import NotFound, Unavailable, ValidationFailed

log = logging.getLogger(__name__)

_STATE_PREFIX = "auth:oauth-state:"
# When Redis, which holds the OAuth state, cannot be reached: how soon a client may try again.
STATE_STORE_RETRY_AFTER_SECONDS = 5


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        message, [{"field": field, "in": "body" if field != "redirect_uri" else "query", "message": message}]
    )


def _state_store_down(exc: Exception) -> Unavailable:
    # A warning, not a traceback: an outage of a dependency is an answer (503), not a bug.
    log.warning("oauth state store unreachable", extra={"error": repr(exc)})
    return Unavailable("sign-in is unavailable for a moment", retry_after=STATE_STORE_RETRY_AFTER_SECONDS)


class GitHubSignIn(Protocol):
    """GitHub's side of sign-in (github_client.py)."""

    def authorize_url(self, *, state: str, redirect_uri: str, code_challenge: str) -> str: ...

    async def sign_in(self, *, code: str, redirect_uri: str, code_verifier: str) -> GitHubIdentity: ...


class UserAccounts(Protocol):
    """The users service's side of sign-in (codegram_clients.users)."""

    async def upsert_github_user(self, account: GitHubAccount) -> tuple[UserRead, bool]: ...


def github_account(identity: GitHubIdentity) -> GitHubAccount:
    """The account as the users service takes it, from GitHub's profile of the user."""
    gh: dict[str, Any] = identity.user
    return GitHubAccount(
        github_id=int(gh["id"]),
        login=str(gh["login"]),
        name=str(gh.get("name") or ""),
        email=identity.email or "",
        avatar_url=str(gh.get("avatar_url") or ""),
        bio=str(gh.get("bio") or ""),
        location=str(gh.get("location") or ""),
        blog=str(gh.get("blog") or ""),
        followers=int(gh.get("followers") or 0),
        following=int(gh.get("following") or 0),
        public_repos=int(gh.get("public_repos") or 0),
    )


class _Unit:
    """The repositories and the event writer of one unit of work."""

    def __init__(self, session: AsyncSession, outbox: Outbox) -> None:
        self.signing_keys = SigningKeyRepository(session)
        self.refresh_tokens = RefreshTokenRepository(session)
        self.github_tokens = GitHubTokenRepository(session)
        self.events = AuthEvents(outbox, session)


class AuthService:
    def __init__(
        self,
        *,
        settings: AuthSettings,
        db: Database,
        outbox: Outbox,
        redis: Redis | None,
        users: UserAccounts,
        github: GitHubSignIn,
        box: SecretBox,
    ) -> None:
        self.settings = settings
        self.db = db
        self.outbox = outbox
        self.redis = redis
        self.users = users
        self.github = github
        self.box = box

    @asynccontextmanager
    async def _unit_of_work(self) -> AsyncIterator[_Unit]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        async with self.db.unit_of_work() as session:
            yield _Unit(session, self.outbox)

    # -- sign-in ---------------------------------------------------------------------------------
    async def authorize(self, redirect_uri: str) -> tuple[str, str]:
        if redirect_uri not in self.settings.redirect_uris:
            raise _invalid("redirect_uri", "redirect_uri is not allowed")
        assert self.redis is not None
        state = secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        record = json.dumps({"redirect_uri": redirect_uri, "code_verifier": verifier})
        try:
            await self.redis.set(_STATE_PREFIX + state, record, ex=self.settings.oauth_state_ttl_seconds)
        except (RedisError, OSError) as exc:
            raise _state_store_down(exc) from exc
        return self.github.authorize_url(
            state=state, redirect_uri=redirect_uri, code_challenge=challenge
        ), state

    async def callback(self, code: str, state: str) -> TokenPair:
        assert self.redis is not None
        # GETDEL consumes the state atomically: a replay, even a concurrent one, finds nothing.
        try:
            raw = await self.redis.getdel(_STATE_PREFIX + state)
        except (RedisError, OSError) as exc:
            raise _state_store_down(exc) from exc
        if raw is None:
            raise _invalid("state", "unknown, used or expired state")
        pending = json.loads(raw)
        # The peers first, with no transaction open: while GitHub or the users service is slow,
        # this sign-in holds no connection of the pool.
        identity = await self.github.sign_in(
            code=code, redirect_uri=pending["redirect_uri"], code_verifier=pending["code_verifier"]
        )
        user, created = await self.users.upsert_github_user(github_account(identity))
        user_id = UUID(user.id)
        async with self._unit_of_work() as unit:
            await unit.github_tokens.keep(
                user_id,
                github_id=int(identity.user["id"]),
                token_sealed=self.box.seal(identity.access_token.encode()),
                scope=identity.scope,
            )
            refresh, session_id = await self._issue_refresh_token(unit, user_id)
            await unit.events.signed_in(user_id, first_sign_in=created)
            access = await self._access_token(unit, user_id, session_id)
        return TokenPair(access, refresh, self.settings.access_token_ttl_seconds, user)

    # -- refresh and logout ----------------------------------------------------------------------
    async def refresh(self, token: str) -> TokenPair | None:
        """A new pair, or None when the token is unknown, spent, revoked or expired. A spent token
        revokes its family, and that revocation commits although the caller gets a 401."""
        async with self._unit_of_work() as unit:
            stored = await unit.refresh_tokens.by_hash_for_update(refresh_token_hash(token))
            now = datetime.now(UTC)
            spend = spend_of(stored, now)
            if stored is None or spend is Spend.INVALID:
                return None
            if spend is Spend.REUSED:
                await unit.refresh_tokens.revoke_family(stored.family_id)
                await unit.events.session_revoked(stored.user_id, stored.family_id, "reuse")
                return None
            await unit.refresh_tokens.mark_used(stored.id, now)
            new_token, _ = await self._issue_refresh_token(unit, stored.user_id, stored.family_id)
            access = await self._access_token(unit, stored.user_id, stored.family_id)
        return TokenPair(access, new_token, self.settings.access_token_ttl_seconds)

    async def logout(self, token: str, user_id: str) -> None:
        uid = UUID(user_id)
        async with self._unit_of_work() as unit:
            family = await unit.refresh_tokens.family_of(refresh_token_hash(token), uid)
            if family is not None:
                await unit.refresh_tokens.revoke_family(family)
                await unit.events.session_revoked(uid, family, "logout")

    async def _issue_refresh_token(
        self, unit: _Unit, user_id: UUID, family_id: UUID | None = None
    ) -> tuple[str, UUID]:
        """A new token, in a new family (a new sign-in session) unless one is given."""
        token = new_refresh_token()
        family_id = family_id or uuid.uuid4()
        await unit.refresh_tokens.add(
            refresh_token_hash(token),
            family_id=family_id,
            user_id=user_id,
            expires_at=datetime.now(UTC) + timedelta(seconds=self.settings.refresh_token_ttl_seconds),
        )
        return token, family_id

    # -- signing keys ----------------------------------------------------------------------------
    async def jwks(self) -> dict[str, list[dict[str, Any]]]:
        async with self._unit_of_work() as unit:
            return {"keys": await unit.signing_keys.public_jwks()}

    async def rotate_signing_key(self) -> str:
        """A new current key; the old one is retired but still verifies."""
        async with self._unit_of_work() as unit:
            await unit.signing_keys.lock()
            await unit.signing_keys.retire_current()
            return (await self._add_signing_key(unit)).kid

    async def remove_retired_keys(self, older_than: timedelta) -> list[str]:
        async with self._unit_of_work() as unit:
            return await unit.signing_keys.remove_retired_before(datetime.now(UTC) - older_than)

    async def _access_token(self, unit: _Unit, user_id: UUID, session_id: UUID) -> str:
        kid, key = await self._current_signing_key(unit)
        return sign_access_token(
            key,
            kid,
            str(user_id),
            session_id=str(session_id),
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
            ttl=self.settings.access_token_ttl_seconds,
        )

    async def _current_signing_key(self, unit: _Unit) -> tuple[str, Ed25519PrivateKey]:
        stored = await unit.signing_keys.current()
        if stored is None:
            # The first key: made once even when several replicas start signing at the same time.
            await unit.signing_keys.lock()
            stored = await unit.signing_keys.current() or await self._add_signing_key(unit)
        return stored.kid, load_private_key(self.box.open(stored.private_key_sealed))

    async def _add_signing_key(self, unit: _Unit) -> StoredSigningKey:
        key = new_signing_key()
        return await unit.signing_keys.add(key, self.box.seal(key.private_pem))

    # -- GitHub token custody --------------------------------------------------------------------
    async def github_token(self, user_id: str) -> tuple[str, str]:
        """(the user's GitHub access token, its scope)."""
        try:
            uid = UUID(user_id)
        except ValueError as exc:
            raise NotFound("no GitHub token for this user") from exc
        async with self._unit_of_work() as unit:
            stored = await unit.github_tokens.of_user(uid)
        if stored is None:
            raise NotFound("no GitHub token for this user")
        sealed, scope = stored
        return self.box.open(sealed).decode(), scope


def auth_service(runtime: ServiceRuntime) -> AuthService:
    """The use cases over the process's pool, peers and keys, for the HTTP and gRPC doors alike."""
    settings = runtime.settings
    assert isinstance(settings, AuthSettings)
    return AuthService(
        settings=settings,
        db=runtime.db,
        outbox=runtime.outbox,
        redis=runtime.redis,
        users=UsersClient(runtime.channel(settings.users_grpc_target)),
        github=GitHubOAuth(
            oauth_url=settings.github_oauth_url,
            api_url=settings.github_api_url,
            client_id=settings.github_client_id,
            client_secret=settings.github_client_secret,
            timeout=settings.github_timeout_seconds,
        ),
        box=SecretBox(settings.auth_encryption_keys),
    )
