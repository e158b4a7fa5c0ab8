"""Settings of the users service."""

from __future__ import annotations

from codegram_kit.runtime.settings import ServiceSettings


class UsersSettings(ServiceSettings):
    service_name: str = "users"
