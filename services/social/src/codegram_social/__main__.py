"""`codegram-social [serve|migrate]`: the social service, declared for the kit to run."""

import sys
from pathlib import Path

from codegram_kit.runtime.definition import ServiceDefinition
from codegram_social import api, content, feed, grpc_api, models, push, socket_io
from codegram_social.authors import AUTHOR_PROFILES
from codegram_social.config import SocialSettings

SERVICE = ServiceDefinition(
    "social",
    models,
    Path(__file__).parent / "migrations",
    SocialSettings,
    routers=[api.router],
    grpc_registrars=[grpc_api.register],
    asgi_routes=[socket_io.route],
    consumers=[content.content_directory, feed.feed_fanout, push.notification_push, AUTHOR_PROFILES],
    periodic=[feed.TRIM_TASK],
)
main = SERVICE.main

if __name__ == "__main__":
    sys.exit(main())
