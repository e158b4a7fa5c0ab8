"""`codegram-auth [serve|migrate]`: the auth service, declared for the kit to run."""

import sys
from pathlib import Path

from codegram_auth import api, grpc_api, models
from codegram_auth.config import AuthSettings
from codegram_kit.runtime.definition import ServiceDefinition

SERVICE = ServiceDefinition(
    name="auth",
    models=models,
    migrations_dir=Path(__file__).parent / "migrations",
    settings_class=AuthSettings,
    routers=[api.router, api.well_known],
    grpc_registrars=[grpc_api.register],
    uses_redis=True,
)
main = SERVICE.main

if __name__ == "__main__":
    sys.exit(main())
