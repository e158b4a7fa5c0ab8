"""The social service's public API models (API.md "Social"), beyond the WebSocket frames of
realtime.py: the `User` its lists show."""

from __future__ import annotations

from codegram_clients.users import UserRead

__all__ = ["UserRead"]
