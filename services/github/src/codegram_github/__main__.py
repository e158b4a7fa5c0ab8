"""`codegram-github [serve|migrate|replay-dead-letters]` and `codegram-github enqueue repos|profiles`:
the github service, declared for the kit to run, and the command its schedules (CronJobs) run."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from codegram_github import api, events, jobs, models
from codegram_github.config import GitHubSettings
from codegram_github.service import PROFILE, REPOS
from codegram_kit.runtime.definition import ServiceDefinition, ServiceRuntime
from codegram_kit.runtime.logging import configure_logging

SERVICE = ServiceDefinition(
    "github",
    models,
    Path(__file__).parent / "migrations",
    GitHubSettings,
    routers=[api.router],
    consumers=[events.signed_in],
    jobs=[jobs.sync_queue],
    periodic=[jobs.SCHEDULE_LOOP],
    uses_redis=True,
)
SCHEDULE_NAMES = {"repos": REPOS, "profiles": PROFILE}


async def _enqueue(kind: str) -> dict[str, int]:
    # Only the database: the job rows and their outbox messages; a serving replica publishes them.
    runtime = ServiceRuntime(
        SERVICE.settings(),
        metadata=models.metadata,
        outbox_table=models.outbox,
        processed_table=models.processed_events,
    )
    try:
        return await jobs.enqueue_schedule(runtime, kind)
    finally:
        await runtime.db.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "enqueue":
        return SERVICE.main(args)
    parser = argparse.ArgumentParser(
        prog="codegram-github enqueue",
        description="Enqueue a schedule's syncs: repos (daily, users active in the last 30 days) or "
        "profiles (weekly, everyone). Idempotent per user and day.",
    )
    parser.add_argument("schedule", choices=sorted(SCHEDULE_NAMES))
    chosen = parser.parse_args(args[1:])
    settings = SERVICE.settings()
    configure_logging("github", settings.log_level, settings.log_format)
    counts = asyncio.run(_enqueue(SCHEDULE_NAMES[chosen.schedule]))
    sys.stdout.write(json.dumps({"schedule": chosen.schedule, **counts}, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
