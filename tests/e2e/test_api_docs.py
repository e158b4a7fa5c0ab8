"""The gateway's merged OpenAPI and its interactive docs, served with no network beyond the gateway."""

from __future__ import annotations

import re

import httpx

from codegram_devstack.fleet import RunningFleet


def test_openapi_merges_the_public_paths_of_every_service(fleet: RunningFleet) -> None:
    spec = httpx.get(f"{fleet.gateway_url}/openapi.json").json()
    paths = spec["paths"]
    for expected in (
        "/api/v1/users/{username}",
        "/api/v1/users/me",
        "/api/v1/users",
        "/api/v1/auth/github/authorize",
        "/api/v1/auth/github/callback",
        "/api/v1/auth/refresh",
        "/.well-known/jwks.json",
        "/api/v1/search",  # the gateway's own
        "/api/v1/snippets",
    ):
        assert expected in paths, expected
    assert not [p for p in paths if p in ("/healthz", "/readyz", "/metrics")]
    assert "UserRead" in spec["components"]["schemas"]
    assert "SearchPage" in spec["components"]["schemas"]
    assert not [p for p in paths if p.startswith("/internal/")]
    assert "x-unavailable-services" not in spec["info"]


def test_docs_render_from_assets_served_by_the_gateway(fleet: RunningFleet) -> None:
    page = httpx.get(f"{fleet.gateway_url}/docs")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    references = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert references
    for ref in references:
        assert ref.startswith("/"), f"{ref} would leave the gateway"
        asset = httpx.get(f"{fleet.gateway_url}{ref}")
        assert asset.status_code == 200, ref
        assert len(asset.content) > 100
    assert "/openapi.json" in page.text
    assert '"validatorUrl": null' in page.text  # no call to an online validator
