"""Readiness: which dependencies a process cannot serve without, and which only degrade it.

`/readyz` decides whether an orchestrator routes traffic to a replica. A dependency every replica
shares (NATS, Redis) being down must not take every replica out of service when the replicas can
still answer: such a dependency is declared `degradable` and reported without failing readiness.
See docs/operations.md ("Health") for what each process serves without each dependency.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

log = logging.getLogger("codegram.readiness")

ReadinessCheck = Callable[[], Awaitable[Any]]
CheckState = Literal["ok", "degraded", "unavailable"]

# Below the probes' timeoutSeconds (3) in deploy/k8s: a hung dependency gives an answer, not a
# probe timeout (which would count as unready whatever the dependency's role).
CHECK_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Degradable:
    """A check whose failure leaves the process ready: it is reported as `degraded`."""

    check: ReadinessCheck

    async def __call__(self) -> Any:
        return await self.check()


def degradable(check: ReadinessCheck) -> Degradable:
    return Degradable(check)


async def _run(name: str, check: ReadinessCheck, seconds: float) -> CheckState:
    try:
        async with asyncio.timeout(seconds):
            await check()
        return "ok"
    except Exception as exc:  # a failed check is an answer, not a crash
        first_line = next(iter(str(exc).splitlines()), "")[:200]
        log.warning(
            "readiness check failed", extra={"check": name, "error": f"{type(exc).__name__}: {first_line}"}
        )
        return "degraded" if isinstance(check, Degradable) else "unavailable"


async def evaluate(
    checks: Mapping[str, ReadinessCheck], seconds: float = CHECK_TIMEOUT_SECONDS
) -> tuple[bool, dict[str, Any]]:
    """Run every check at once; (ready, body) where body names each check's state."""
    names = list(checks)
    states = await asyncio.gather(*(_run(n, checks[n], seconds) for n in names))
    results = dict(zip(names, states, strict=True))
    ready = "unavailable" not in states
    status = "unavailable" if not ready else "degraded" if "degraded" in states else "ok"
    return ready, {"status": status, "checks": results}
