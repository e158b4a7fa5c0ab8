"""Settings of the docs service."""

from __future__ import annotations

from codegram_kit.settings import ServiceSettings


class DocsSettings(ServiceSettings):
    service_name: str = "docs"
