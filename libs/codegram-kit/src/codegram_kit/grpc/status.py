"""Domain errors as gRPC status codes: the one mapping servers abort with."""

from __future__ import annotations

import grpc

from codegram_kit.web.errors import DomainError

_STATUS_BY_HTTP = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def status_for(error: DomainError) -> grpc.StatusCode:
    return _STATUS_BY_HTTP.get(error.status, grpc.StatusCode.INTERNAL)
