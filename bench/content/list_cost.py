"""The cost of a content read, step by step: a seeded fleet kept running while the snippets service's
code changes, driven with wrk straight to the service.

    .venv/bin/python bench/content/list_cost.py [--snippets 100000] [--control /tmp/content-cost]

Seeds once, writes `<control>/state.json` (the fleet's addresses and the snippets process's pid),
then waits for commands written to `<control>/cmd` (one line, taken and removed):
`round NAME SECONDS PATH` runs `wrk -t2 -c8` on the service's PATH (`/api/v1/snippets?limit=20`)
and appends to `<control>/rounds` the CPU milliseconds per request of the snippets process and of
Postgres (from /proc, so robust to a machine shared with other work), req/s and the load;
`restart` starts the snippets service again from the current code; `quit` ends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import _authors
from seed import seed

from codegram_devstack.fleet import RunningFleet, throwaway_fleet, wait_ready

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICKS


def postgres_cpu(port: int) -> float:
    """CPU of the fleet's Postgres (its postmaster and backends, with the ones that ended), not of
    other Postgres servers on the machine."""
    total, postmaster = 0.0, None
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if (
                args[0].endswith(b"/postgres")
                and b"-p" in args
                and args[args.index(b"-p") + 1] == str(port).encode()
            ):
                postmaster = int(entry.name)
    assert postmaster is not None, "no postmaster on that port"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if int(entry.name) == postmaster or ppid == postmaster:
                total += cpu_seconds(int(entry.name))
        except (OSError, ValueError):
            continue
    return total


def write_state(running: RunningFleet, control: Path) -> None:
    state = {
        "snippets_url": running.http_url("snippets"),
        "gateway_url": running.gateway_url,
        "admin_url": running.fleet.admin_url(),
        "pids": {name: p.pid for name, p in running.processes.items()},
    }
    (control / "state.json").write_text(json.dumps(state, indent=1))


def one_round(running: RunningFleet, name: str, seconds: int, path: str) -> dict[str, object]:
    pid = running.processes["snippets"].pid
    url = running.http_url("snippets") + path
    port = urlsplit(running.fleet.admin_url()).port
    assert port is not None
    before, before_pg = cpu_seconds(pid), postgres_cpu(port)
    out = subprocess.run(
        ["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", url], capture_output=True, text=True, check=True
    ).stdout
    after, after_pg = cpu_seconds(pid), postgres_cpu(port)
    total = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    p50 = re.search(r"50%\s+([0-9.]+)(us|ms|s)", out)
    assert total and rps, out
    count = int(total.group(1))
    return {
        "name": name,
        "path": path,
        "requests": count,
        "non_2xx": "Non-2xx" in out,
        "snippets_cpu_ms": round((after - before) / count * 1000, 3),
        "postgres_cpu_ms": round((after_pg - before_pg) / count * 1000, 3),
        "rps": float(rps.group(1)),
        "p50": p50.group(1) + p50.group(2) if p50 else None,
        "load": os.getloadavg()[0],
    }


def restart(running: RunningFleet) -> None:
    proc = running.processes["snippets"]
    proc.terminate()
    proc.wait(30)
    running.launch("snippets")
    pending = wait_ready({"snippets": running.fleet.ports.http["snippets"]}, 90)
    assert not pending, running.log("snippets")[-3000:]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--snippets", type=int, default=100_000)
    parser.add_argument("--authors", type=int, default=1000)
    parser.add_argument("--control", type=Path, default=Path(tempfile.gettempdir()) / "content-cost")
    args = parser.parse_args()
    control: Path = args.control
    control.mkdir(parents=True, exist_ok=True)
    say = lambda text: sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")  # noqa: E731
    with throwaway_fleet() as running:
        authors = asyncio.run(_authors(running, args.authors))
        seed(running.fleet.admin_url(), authors, args.snippets, log=say)
        write_state(running, control)
        say("ready")
        cmd_file, rounds = control / "cmd", control / "rounds"
        while True:
            if not cmd_file.exists():
                time.sleep(0.2)
                continue
            words = cmd_file.read_text().split()
            cmd_file.unlink()
            if not words:
                continue
            if words[0] == "quit":
                return 0
            if words[0] == "restart":
                restart(running)
                write_state(running, control)
                line = {"restarted": running.processes["snippets"].pid}
            elif words[0] == "round":
                line = one_round(running, words[1], int(words[2]), words[3])
            else:
                line = {"unknown": words}
            with rounds.open("a") as out:
                out.write(json.dumps(line) + "\n")
            say(json.dumps(line))


if __name__ == "__main__":
    sys.exit(main())
