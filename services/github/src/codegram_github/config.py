"""Settings of the github service."""

from __future__ import annotations

from codegram_kit.runtime.settings import ServiceSettings


class GitHubSettings(ServiceSettings):
    service_name: str = "github"
