"""The social service's public HTTP API (API.md "Social"), called only through the gateway.

Today only the real-time channel (realtime.py); follows, likes, comments, the feed and
notifications join this router as they are built.
"""

from __future__ import annotations

from fastapi import APIRouter

from codegram_social import realtime

router = APIRouter(prefix="/api/v1", tags=["social"])
router.include_router(realtime.router)
