"""Assembles the users service process from its parts."""

from __future__ import annotations

from codegram_kit.service import ServiceRuntime, build_service_app
from codegram_kit.settings import ServiceSettings
from fastapi import FastAPI

from codegram_users import api, grpc_api
from codegram_users.models import metadata, outbox, processed_events


def create_app(settings: ServiceSettings) -> FastAPI:
    runtime = ServiceRuntime(
        settings, metadata=metadata, outbox_table=outbox, processed_table=processed_events
    )
    return build_service_app(
        runtime, title="CodeGram users", routers=[api.router], grpc_registrars=[grpc_api.register]
    )
