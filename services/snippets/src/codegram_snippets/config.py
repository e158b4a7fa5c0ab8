"""Settings of the snippets service."""

from __future__ import annotations

from codegram_kit.settings import ServiceSettings


class SnippetsSettings(ServiceSettings):
    service_name: str = "snippets"
