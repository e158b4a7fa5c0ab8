"""The github service's public HTTP API (API.md "GitHub"), called only through the gateway: no route yet."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["github"])
