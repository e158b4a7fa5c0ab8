"""`codegram-social [serve|migrate]`: the social service, declared for the kit to run."""

import sys
from pathlib import Path

from codegram_kit.service import ServiceDefinition
from codegram_social import models

SERVICE = ServiceDefinition(name="social", models=models, migrations_dir=Path(__file__).parent / "migrations")
main = SERVICE.main

if __name__ == "__main__":
    sys.exit(main())
