"""`codegram-users [serve|migrate]`."""

from __future__ import annotations

import sys
from pathlib import Path

from codegram_kit import service

from codegram_users.app import create_app
from codegram_users.config import UsersSettings
from codegram_users.models import metadata

VERSIONS_DIR = Path(__file__).resolve().parent / "migrations"


def main() -> int:
    return service.main(UsersSettings(), metadata=metadata, versions_dir=VERSIONS_DIR, app_factory=create_app)


if __name__ == "__main__":
    sys.exit(main())
