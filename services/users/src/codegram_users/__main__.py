"""`codegram-users [serve|migrate]`: the users service, declared for the kit to run."""

from __future__ import annotations

import sys
from pathlib import Path

from codegram_kit.runtime.definition import ServiceDefinition
from codegram_users import api, events, grpc_api, models
from codegram_users.config import UsersSettings

SERVICE = ServiceDefinition(
    name="users",
    models=models,
    migrations_dir=Path(__file__).resolve().parent / "migrations",
    settings_class=UsersSettings,
    routers=[api.router],
    grpc_registrars=[grpc_api.register],
    consumers=[events.snippet_counts, events.doc_counts, events.follow_counts, events.github_profiles],
)
main = SERVICE.main

if __name__ == "__main__":
    sys.exit(main())
