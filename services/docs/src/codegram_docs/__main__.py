"""`codegram-docs [serve|migrate]`: the docs service, declared for the kit to run."""

import sys
from pathlib import Path

from codegram_docs import models
from codegram_kit.service import ServiceDefinition

SERVICE = ServiceDefinition(name="docs", models=models, migrations_dir=Path(__file__).parent / "migrations")
main = SERVICE.main

if __name__ == "__main__":
    sys.exit(main())
