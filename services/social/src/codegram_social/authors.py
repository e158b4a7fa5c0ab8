"""The authors social shows (feed items, notifications, comments): its own read model of the users
service's profiles (`models.authors`, kept from the users service's events by the
`author-profiles` consumer), read through to the users service only for ids it does not hold
(codegram_content.authors)."""

from __future__ import annotations

from codegram_clients.users import GrpcAuthorDirectory
from codegram_content.authors import LocalAuthorDirectory, author_profiles
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_social.config import SocialSettings
from codegram_social.models import authors

# The consumer factory for the service definition (`consumers=`).
AUTHOR_PROFILES = author_profiles(authors)


def local_authors(runtime: ServiceRuntime) -> LocalAuthorDirectory:
    settings = runtime.settings
    assert isinstance(settings, SocialSettings)
    return LocalAuthorDirectory(
        runtime.db, authors, GrpcAuthorDirectory(runtime.channel(settings.users_grpc_target))
    )
