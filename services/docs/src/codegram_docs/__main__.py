"""`codegram-docs [serve|migrate]`: the docs service, declared for the kit to run."""

from __future__ import annotations

import sys
from pathlib import Path

from codegram_content.authors import author_profiles
from codegram_content.social_counts import interaction_counts
from codegram_docs import api, grpc_api, models
from codegram_docs.config import DocsSettings
from codegram_kit.runtime.definition import ServiceDefinition

SERVICE = ServiceDefinition(
    name="docs",
    models=models,
    migrations_dir=Path(__file__).resolve().parent / "migrations",
    settings_class=DocsSettings,
    routers=[api.router, api.internal_router],
    grpc_registrars=[grpc_api.register],
    consumers=[interaction_counts("doc", models.docs), author_profiles(models.authors)],
)
main = SERVICE.main

if __name__ == "__main__":
    sys.exit(main())
