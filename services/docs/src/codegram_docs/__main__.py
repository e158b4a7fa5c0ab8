"""`codegram-docs [serve|migrate]`: the docs service, declared for the kit to run."""

import sys
from pathlib import Path

from codegram_docs import models
from codegram_docs.config import DocsSettings
from codegram_kit.service import ServiceDefinition

SERVICE = ServiceDefinition("docs", models, Path(__file__).parent / "migrations", DocsSettings)
main = SERVICE.main

if __name__ == "__main__":
    sys.exit(main())
