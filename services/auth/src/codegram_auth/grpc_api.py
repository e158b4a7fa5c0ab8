"""The auth service's internal gRPC API: GitHub token custody and signing-key rotation."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from grpc import aio

from codegram_auth.service import auth_service
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_proto.codegram.auth.v1 import auth_pb2, auth_pb2_grpc


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

    async def GetGitHubToken(self, request, context):  # type: ignore[no-untyped-def]
        token, scope = await auth_service(self.runtime).github_token(request.user_id)
        return auth_pb2.GetGitHubTokenResponse(access_token=token, scope=scope)

    async def RotateSigningKey(self, request, context):  # type: ignore[no-untyped-def]
        kid = await auth_service(self.runtime).rotate_signing_key()
        return auth_pb2.RotateSigningKeyResponse(kid=kid)

    async def RemoveRetiredKeys(self, request, context):  # type: ignore[no-untyped-def]
        older_than = timedelta(seconds=max(0, request.older_than_seconds))
        removed = await auth_service(self.runtime).remove_retired_keys(older_than)
        return auth_pb2.RemoveRetiredKeysResponse(removed_kids=removed)


def register(runtime: ServiceRuntime, server: aio.Server) -> Iterable[str]:
    auth_pb2_grpc.add_AuthServiceServicer_to_server(AuthServicer(runtime), server)
    return [auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name]
