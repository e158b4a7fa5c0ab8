"""Settings of the social service."""

from __future__ import annotations

from codegram_kit.runtime.settings import ServiceSettings


class SocialSettings(ServiceSettings):
    service_name: str = "social"
