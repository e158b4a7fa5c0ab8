"""Long-lived connections counted per user against a cap (the gateway's WebSockets, social's
Socket.IO clients)."""

from __future__ import annotations


class OpenSockets:
    """How many sockets each user holds open in this process, against a cap. Each process counts
    its own: with N replicas a user may hold up to N times the cap (docs/operations.md)."""

    def __init__(self, per_user: int) -> None:
        self.per_user = per_user
        self._open: dict[str, int] = {}

    def take(self, user_id: str) -> bool:
        """Count one more socket of this user, unless the user is at the cap."""
        held = self._open.get(user_id, 0)
        if held >= self.per_user:
            return False
        self._open[user_id] = held + 1
        return True

    def give_back(self, user_id: str) -> None:
        held = self._open.get(user_id, 0) - 1
        if held > 0:
            self._open[user_id] = held
        else:
            self._open.pop(user_id, None)
