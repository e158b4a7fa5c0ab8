"""The auth service's use cases: GitHub sign-in, token refresh and logout, keys, token custody."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import StatusCode, aio
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from codegram_auth.config import AuthSettings
from codegram_auth.crypto import SecretBox
from codegram_auth.github_client import GitHubIdentity, GitHubOAuth
from codegram_auth.keys import SigningKeys
from codegram_auth.models import github_tokens
from codegram_auth.refresh import RefreshTokens
from codegram_kit.errors import BadGateway, NotFound, Unavailable, ValidationFailed
from codegram_kit.outbox import Outbox
from codegram_kit.service import ServiceRuntime
from codegram_proto.codegram.events.v1 import auth_pb2 as auth_events
from codegram_proto.codegram.users.v1 import users_pb2, users_pb2_grpc

log = logging.getLogger(__name__)

SIGNED_IN = "codegram.auth.user.signed_in"
SESSION_REVOKED = "codegram.auth.session.revoked"
_STATE_PREFIX = "auth:oauth-state:"


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        message, [{"field": field, "in": "body" if field != "redirect_uri" else "query", "message": message}]
    )


# When Redis, which holds the OAuth state, cannot be reached: how soon a client may try again.
STATE_STORE_RETRY_AFTER_SECONDS = 5


def _state_store_down(exc: Exception) -> Unavailable:
    # A warning, not a traceback: an outage of a dependency is an answer (503), not a bug.
    log.warning("oauth state store unreachable", extra={"error": repr(exc)})
    return Unavailable("sign-in is unavailable for a moment", retry_after=STATE_STORE_RETRY_AFTER_SECONDS)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    user: users_pb2.User | None = None


class AuthService:
    def __init__(
        self,
        *,
        settings: AuthSettings,
        session: AsyncSession,
        outbox: Outbox,
        redis: Redis | None,
        users: users_pb2_grpc.UsersServiceStub | None,
        github: GitHubOAuth,
        box: SecretBox,
    ) -> None:
        self.settings = settings
        self.session = session
        self.outbox = outbox
        self.redis = redis
        self.users = users
        self.github = github
        self.box = box
        self.keys = SigningKeys(session, box)
        self.refresh_tokens = RefreshTokens(session, settings.refresh_token_ttl_seconds)

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
        identity = await self.github.sign_in(
            code=code, redirect_uri=pending["redirect_uri"], code_verifier=pending["code_verifier"]
        )
        user, created = await self._upsert_user(identity)
        user_id = UUID(user.id)
        await self._keep_github_token(user_id, identity)
        refresh, session_id = await self.refresh_tokens.issue(user_id)
        occurred = Timestamp()
        occurred.FromDatetime(datetime.now(UTC))
        await self.outbox.add(
            self.session,
            SIGNED_IN,
            auth_events.UserSignedIn(user_id=user.id, first_sign_in=created, occurred_at=occurred),
        )
        return TokenPair(
            await self._access_token(user.id, session_id),
            refresh,
            self.settings.access_token_ttl_seconds,
            user,
        )

    async def _upsert_user(self, identity: GitHubIdentity) -> tuple[users_pb2.User, bool]:
        assert self.users is not None
        gh: dict[str, Any] = identity.user
        request = users_pb2.UpsertGitHubUserRequest(
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
        try:
            reply = await self.users.UpsertGitHubUser(request)
        except aio.AioRpcError as exc:
            if exc.code() in (StatusCode.UNAVAILABLE, StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable("the users service is unavailable") from exc
            raise BadGateway("the users service failed") from exc
        return reply.user, reply.created

    async def _keep_github_token(self, user_id: UUID, identity: GitHubIdentity) -> None:
        values = {
            "user_id": user_id,
            "github_id": int(identity.user["id"]),
            "token_encrypted": self.box.seal(identity.access_token.encode()),
            "scope": identity.scope,
            "updated_at": datetime.now(UTC),
        }
        await self.session.execute(
            pg_insert(github_tokens)
            .values(**values)
            .on_conflict_do_update(index_elements=[github_tokens.c.user_id], set_=values)
        )

    async def _access_token(self, user_id: str, session_id: UUID) -> str:
        return await self.keys.sign_access_token(
            user_id,
            session_id=str(session_id),
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
            ttl=self.settings.access_token_ttl_seconds,
        )

    # -- refresh and logout ----------------------------------------------------------------------
    async def refresh(self, token: str) -> TokenPair | None:
        """A new pair, or None when the token is unknown, spent, revoked or expired. A spent token
        revokes its family, and that revocation must commit even though the caller gets a 401."""
        rotation = await self.refresh_tokens.rotate(token)
        if rotation.reuse_detected and rotation.user_id is not None and rotation.family_id is not None:
            await self._session_revoked(rotation.user_id, rotation.family_id, "reuse")
        if rotation.user_id is None or rotation.family_id is None or rotation.new_token is None:
            return None
        return TokenPair(
            await self._access_token(str(rotation.user_id), rotation.family_id),
            rotation.new_token,
            self.settings.access_token_ttl_seconds,
        )

    async def logout(self, token: str, user_id: str) -> None:
        uid = UUID(user_id)
        family = await self.refresh_tokens.revoke_family_of(token, uid)
        if family is not None:
            await self._session_revoked(uid, family, "logout")

    async def _session_revoked(self, user_id: UUID, session_id: UUID, reason: str) -> None:
        """Told in the revoking transaction, so the sockets of that session close (social)."""
        occurred = Timestamp()
        occurred.FromDatetime(datetime.now(UTC))
        await self.outbox.add(
            self.session,
            SESSION_REVOKED,
            auth_events.SessionRevoked(
                user_id=str(user_id), session_id=str(session_id), reason=reason, occurred_at=occurred
            ),
        )

    # -- keys and custody ------------------------------------------------------------------------
    async def jwks(self) -> dict[str, Any]:
        return await self.keys.jwks()

    async def rotate_signing_key(self) -> str:
        return await self.keys.rotate()

    async def remove_retired_keys(self, older_than: timedelta) -> list[str]:
        return await self.keys.remove_retired(older_than)

    async def github_token(self, user_id: str) -> tuple[str, str]:
        try:
            uid = UUID(user_id)
        except ValueError as exc:
            raise NotFound("no GitHub token for this user") from exc
        row = (
            await self.session.execute(sa.select(github_tokens).where(github_tokens.c.user_id == uid))
        ).first()
        if row is None:
            raise NotFound("no GitHub token for this user")
        return self.box.open(row.token_encrypted).decode(), row.scope


@asynccontextmanager
async def auth_service(runtime: ServiceRuntime) -> AsyncIterator[AuthService]:
    """The use cases over one unit of work, for the HTTP and gRPC doors alike."""
    settings = runtime.settings
    assert isinstance(settings, AuthSettings)
    async with runtime.db.unit_of_work() as session:
        yield AuthService(
            settings=settings,
            session=session,
            outbox=runtime.outbox,
            redis=runtime.redis,
            users=users_pb2_grpc.UsersServiceStub(runtime.channel(settings.users_grpc_target)),
            github=GitHubOAuth(
                oauth_url=settings.github_oauth_url,
                api_url=settings.github_api_url,
                client_id=settings.github_client_id,
                client_secret=settings.github_client_secret,
                timeout=settings.github_timeout_seconds,
            ),
            box=SecretBox(settings.auth_encryption_keys),
        )
