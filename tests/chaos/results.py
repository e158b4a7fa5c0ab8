"""What each fault's run found, kept for the run's end: printed, and written to bench/results."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parents[2] / "bench" / "results"
HEADER = (
    "| fault | writes accepted | their median | lost | duplicated | 500s | other answers | 503s "
    "| 503s while down | median | ≥ 100 ms | longest | longest unavailability |\n"
    "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n"
)
# One row and one printed line per fault, in the order they ran.
ROWS: list[str] = []
LINES: list[str] = []


def write() -> Path | None:
    if not ROWS:
        return None
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    path = RESULTS_DIR / f"chaos-{now:%Y-%m-%d}.md"
    path.write_text(
        f"# Chaos run {now:%Y-%m-%d %H:%M} UTC\n\n"
        "`make chaos` (tests/chaos): a steady write load through two gateways while one fault at a "
        "time hits the fleet; then every acknowledged write and every derived count is checked "
        "through the API. See bench/README.md.\n\n" + HEADER + "".join(ROWS)
    )
    return path
