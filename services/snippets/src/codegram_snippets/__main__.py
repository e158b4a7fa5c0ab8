"""`codegram-snippets [serve|migrate]`: the snippets service, declared for the kit to run."""

import sys
from pathlib import Path

from codegram_kit.service import ServiceDefinition
from codegram_snippets import models
from codegram_snippets.config import SnippetsSettings

SERVICE = ServiceDefinition("snippets", models, Path(__file__).parent / "migrations", SnippetsSettings)
main = SERVICE.main

if __name__ == "__main__":
    sys.exit(main())
