"""The routing table: which service answers which public method and path."""

from __future__ import annotations

import re
from dataclasses import dataclass

GATEWAY = "gateway"
ANY = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class Route:
    pattern: str
    service: str  # a service's name, or "gateway" for what the gateway answers itself
    methods: frozenset[str] = ANY
    timeout: float | None = None  # seconds to wait for the service; None: the gateway's default
    websocket: bool = False
    # False: the protocol carries the token after the handshake (Socket.IO's connect packet), so
    # the edge lets the handshake through, rate-limited per address, and the service verifies it.
    token_in_handshake: bool = True

    @property
    def path(self) -> str:
        """The pattern, under the name metrics read a matched route's label from."""
        return self.pattern

    def compile(self) -> re.Pattern[str]:
        # {name} matches one path segment; the table is written in the API.md notation.
        regex = re.sub(r"\{[a-z_]+\}", r"[^/]+", self.pattern)
        return re.compile(f"^{regex}$")


# Most specific first: the first match wins.
ROUTES: tuple[Route, ...] = (
    Route("/api/v1/auth/github/authorize", "auth", frozenset({"GET"})),
    # Exchanging the code waits on GitHub (up to 5 s) and then on the users service.
    Route("/api/v1/auth/github/callback", "auth", frozenset({"POST"}), timeout=15.0),
    Route("/api/v1/auth/refresh", "auth", frozenset({"POST"})),
    Route("/api/v1/auth/logout", "auth", frozenset({"POST"})),
    Route("/api/v1/users", "users", frozenset({"GET"})),
    Route("/api/v1/users/me", "users", frozenset({"GET", "PATCH"})),
    Route("/api/v1/users/{username}", "users", frozenset({"GET"})),
    Route("/api/v1/users/{username}/follow", "social", frozenset({"PUT", "DELETE"})),
    Route("/api/v1/users/{username}/followers", "social", frozenset({"GET"})),
    Route("/api/v1/users/{username}/following", "social", frozenset({"GET"})),
    Route("/api/v1/users/{username}/snippets", "snippets", frozenset({"GET"})),
    Route("/api/v1/users/{username}/repos", "github", frozenset({"GET"})),
    Route("/api/v1/users/{username}/languages", "github", frozenset({"GET"})),
    # Contributions wait on GitHub on a cache miss (a query per year of the range).
    Route("/api/v1/users/{username}/contributions", "github", frozenset({"GET"}), timeout=30.0),
    Route("/api/v1/github/sync", "github", frozenset({"POST"})),
    Route("/api/v1/github/sync/{job_id}", "github", frozenset({"GET"})),
    Route("/api/v1/snippets", "snippets", frozenset({"GET", "POST"})),
    Route("/api/v1/snippets/{id}", "snippets", frozenset({"GET", "PATCH", "DELETE"})),
    Route("/api/v1/snippets/{id}/like", "social", frozenset({"PUT", "DELETE"})),
    Route("/api/v1/snippets/{id}/comments", "social", frozenset({"GET", "POST"})),
    Route("/api/v1/users/{username}/docs", "docs", frozenset({"GET"})),
    Route("/api/v1/users/{username}/docs/{slug}", "docs", frozenset({"GET"})),
    Route("/api/v1/docs", "docs", frozenset({"GET", "POST"})),
    Route("/api/v1/docs/{id}", "docs", frozenset({"GET", "PATCH", "DELETE"})),
    Route("/api/v1/docs/{id}/like", "social", frozenset({"PUT", "DELETE"})),
    Route("/api/v1/docs/{id}/comments", "social", frozenset({"GET", "POST"})),
    Route("/api/v1/comments/{id}", "social", frozenset({"DELETE"})),
    Route("/api/v1/notifications", "social", frozenset({"GET"})),
    Route("/api/v1/notifications/unread_count", "social", frozenset({"GET"})),
    Route("/api/v1/notifications/read", "social", frozenset({"POST"})),
    Route("/api/v1/feed", "social", frozenset({"GET"})),
    Route("/api/v1/search", GATEWAY, frozenset({"GET"})),
    Route("/api/v1/ws", "social", frozenset({"GET"}), websocket=True),
    Route("/socket.io/", "social", frozenset({"GET"}), websocket=True, token_in_handshake=False),
)


# Answers remembered per (method, path): a process sees the same paths again and again.
_REMEMBERED = 4096


class RouteTable:
    def __init__(self, routes: tuple[Route, ...] = ROUTES) -> None:
        self._compiled = [(r, r.compile()) for r in routes]
        self._seen: dict[tuple[str, str], tuple[Route | None, frozenset[str]]] = {}

    def match(self, method: str, path: str) -> tuple[Route | None, frozenset[str]]:
        """The route for a request, and the methods the path answers (its 405's `Allow`)."""
        key = (method, path)
        found = self._seen.get(key)
        if found is None:
            if len(self._seen) >= _REMEMBERED:
                self._seen.clear()  # bounded whatever paths clients make up
            found = self._seen[key] = self._match(method, path)
        return found

    def _match(self, method: str, path: str) -> tuple[Route | None, frozenset[str]]:
        allowed: set[str] = set()
        for route, regex in self._compiled:
            if regex.match(path):
                if method in route.methods:
                    return route, route.methods
                allowed |= route.methods
        return None, frozenset(allowed)


# Served at the gateway's root rather than under /api/v1.
JWKS = Route("/.well-known/jwks.json", "auth", frozenset({"GET"}))
