"""The gateway's own cost per request, robust to a shared machine: starts the bench's backend, Redis
and the gateway, drives a fixed load through the gateway with wrk, and prints the gateway process's
CPU microseconds per request (from /proc/<pid>/stat), optionally under py-spy.

    .venv/bin/python bench/gateway/profile.py [--seconds 10] [--rounds 3] [--pyspy out.txt]

Used to judge one change at a time (bench/results/gateway-steps-2026-11-28.md); the bench of record
is bench/gateway/run.py.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from codegram_devstack import engines
from codegram_devstack.engines import free_port, wait_for_port
from codegram_devstack.fleet import wait_ready
from codegram_devstack.tokens import TestSigningKey

sys.path.insert(0, str(Path(__file__).parent))
from run import PATH, _spawn, _wrk

PYSPY = os.environ.get("PYSPY", "py-spy")


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """User and system CPU time of the process and of its worker processes (a server that forks
    its workers)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    user, system = int(fields[11]) / tick, int(fields[12]) / tick
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        child_user, child_system = _cpu_seconds(int(child))
        user, system = user + child_user, system + child_system
    return user, system


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pyspy", help="write a py-spy raw profile of one more round here")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the gateway")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        help="NAME=COMMAND: another gateway build to measure in alternation (PORT in COMMAND)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        key = TestSigningKey.generate()
        ports = {"backend": free_port(), "gateway": free_port(), "minimal": free_port()}
        redis = engines.start_redis(tmp / "redis", free_port())
        processes: list[subprocess.Popen[bytes]] = []
        try:
            processes.append(
                _spawn(
                    [sys.executable, str(Path(__file__).with_name("backend.py")), str(ports["backend"])],
                    tmp / "backend.log",
                )
            )
            wait_for_port(ports["backend"], 20, processes[-1])
            backend_url = f"http://127.0.0.1:{ports['backend']}"
            minimal = _spawn(
                [
                    sys.executable,
                    str(Path(__file__).with_name("minimal_proxy.py")),
                    str(ports["minimal"]),
                    backend_url,
                ],
                tmp / "minimal.log",
            )
            processes.append(minimal)
            wait_for_port(ports["minimal"], 20, minimal)
            env = {
                **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
                "ENVIRONMENT": "development",
                "HTTP_HOST": "127.0.0.1",
                "HTTP_PORT": str(ports["gateway"]),
                "USERS_HTTP_URL": f"http://127.0.0.1:{ports['backend']}",
                "REDIS_URL": redis.url,
                "JWT_TEST_PUBLIC_KEY": key.public_pem,
                "RATE_LIMIT_AUTHENTICATED": "100000000/minute",
                "LOG_FORMAT": "json",
                **dict(e.split("=", 1) for e in args.env),
            }
            gateway = _spawn([sys.executable, "-m", "codegram_gateway"], tmp / "gateway.log", env)
            processes.append(gateway)
            assert not wait_ready({"gateway": ports["gateway"]}, 30), (tmp / "gateway.log").read_text()
            token = key.mint("00000000-0000-0000-0000-00000000beef", ttl=3600)
            url = f"http://127.0.0.1:{ports['gateway']}{PATH}"
            headers = {"Authorization": f"Bearer {token}"}
            minimal_url = f"http://127.0.0.1:{ports['minimal']}{PATH}"
            targets = [("gateway", gateway, url), ("minimal", minimal, minimal_url)]
            for spec in args.also:
                name, command = spec.split("=", 1)
                port = free_port()
                proc = _spawn(
                    command.replace("PORT", str(port)).split(),
                    tmp / f"{name}.log",
                    {**env, "HTTP_PORT": str(port)},
                )
                processes.append(proc)
                assert not wait_ready({name: port}, 30), (tmp / f"{name}.log").read_text()
                targets.append((name, proc, f"http://127.0.0.1:{port}{PATH}"))
            for _, _, target in targets:
                _wrk(target, 2, args.connections, headers)
            for _ in range(args.rounds):
                for name, proc, target in targets:
                    before = _cpu_seconds(proc.pid)
                    result = _wrk(target, args.seconds, args.connections, headers)
                    user, system = (
                        after - at_start
                        for after, at_start in zip(_cpu_seconds(proc.pid), before, strict=True)
                    )
                    requests = result["rps"] * args.seconds
                    per = 1e6 / requests
                    sys.stdout.write(
                        f"{name:10} rps {result['rps']:.0f}  p50 {result['p50_ms']:.2f} ms  "
                        f"errors {result['errors']:.0f}  cpu {(user + system) * per:.0f} "
                        f"us/request (user {user * per:.0f}, system {system * per:.0f})\n"
                    )
                    sys.stdout.flush()
            if args.pyspy:
                spy = subprocess.Popen(
                    [
                        PYSPY,
                        "record",
                        "--rate",
                        "200",
                        "--pid",
                        str(gateway.pid),
                        "-d",
                        str(int(args.seconds)),
                        "--format",
                        "raw",
                        "-o",
                        args.pyspy,
                        "--nonblocking",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                _wrk(url, args.seconds + 1, args.connections, headers)
                spy.wait(30)
            log = (tmp / "gateway.log").read_text().splitlines()
            sys.stdout.write(f"gateway log lines: {len(log)}; last: {log[-1] if log else ''}\n")
        finally:
            for proc in reversed(processes):
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            redis.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
