"""`codegram-github [serve|migrate]`: the github service, declared for the kit to run."""

import sys
from pathlib import Path

from codegram_github import api, models
from codegram_github.config import GitHubSettings
from codegram_kit.runtime.definition import ServiceDefinition

SERVICE = ServiceDefinition(
    "github", models, Path(__file__).parent / "migrations", GitHubSettings, routers=[api.router]
)
main = SERVICE.main

if __name__ == "__main__":
    sys.exit(main())
