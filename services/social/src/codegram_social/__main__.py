"""`codegram-social [serve|migrate]`: the social service, declared for the kit to run."""

import sys
from pathlib import Path

from codegram_kit.runtime.definition import ServiceDefinition
from codegram_social import api, content, feed, grpc_api, models
from codegram_social.config import SocialSettings

SERVICE = ServiceDefinition(
    "social",
    models,
    Path(__file__).parent / "migrations",
    SocialSettings,
    routers=[api.router],
    grpc_registrars=[grpc_api.register],
    consumers=[content.content_directory, feed.feed_fanout],
    periodic=[feed.TRIM_TASK],
)
main = SERVICE.main

if __name__ == "__main__":
    sys.exit(main())
