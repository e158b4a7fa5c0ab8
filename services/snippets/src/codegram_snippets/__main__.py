"""`codegram-snippets [serve|migrate]`: the snippets service, declared for the kit to run."""

from __future__ import annotations

import sys
from pathlib import Path

from codegram_content.authors import author_profiles
from codegram_content.social_counts import interaction_counts
from codegram_kit.runtime.definition import ServiceDefinition
from codegram_snippets import api, grpc_api, models
from codegram_snippets.config import SnippetsSettings

SERVICE = ServiceDefinition(
    name="snippets",
    models=models,
    migrations_dir=Path(__file__).resolve().parent / "migrations",
    settings_class=SnippetsSettings,
    routers=[api.router, api.internal_router],
    grpc_registrars=[grpc_api.register],
    consumers=[interaction_counts("snippet", models.snippets), author_profiles(models.authors)],
)
main = SERVICE.main

if __name__ == "__main__":
    sys.exit(main())
