"""Gateway overhead against nginx, in one run: wrk drives the same backend directly, through nginx
(`proxy_pass` with upstream keep-alive), through a minimal raw-ASGI proxy on the gateway's server and
client stack (the ceiling, for the record) and through the CodeGram gateway with an authenticated
request (EdDSA token verified, rate limit counted and synced to Redis, request id, access log).

    .venv/bin/python bench/gateway/run.py [--seconds 10] [--connections 32] [--rounds 3]

Targets are measured in alternation, `--rounds` times each, and the median round is kept, so
that a passing hiccup of the shared machine does not decide the result. Writes a Markdown report
to bench/results/ and prints as its last line
`gateway/nginx throughput ratio: R, added p50: X ms`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from codegram_devstack import engines
from codegram_devstack.engines import free_port, wait_for_port
from codegram_devstack.fleet import wait_ready
from codegram_devstack.tokens import TestSigningKey

ROOT = Path(__file__).resolve().parents[2]
# The ceiling row: the same server and client stack as the gateway with none of its policies.
MINIMAL = "minimal raw-ASGI proxy (ceiling)"
PATH = "/api/v1/users/bench"
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {tmp}/nginx-access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream backend {{ server 127.0.0.1:{backend}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
}}
"""


def _spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)


def _wrk(url: str, seconds: float, connections: int, headers: dict[str, str]) -> dict[str, float]:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": _ms(latency["50"]),
        "p99_ms": _ms(latency["99"]),
        "errors": (int(non_2xx.group(1)) if non_2xx else 0)
        + (sum(int(g) for g in errors.groups()) if errors else 0),
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is missing: `make bench-gateway` installs it")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        key = TestSigningKey.generate()
        ports = {"backend": free_port(), "nginx": free_port(), "gateway": free_port(), "minimal": free_port()}
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
            (tmp / "nginx.conf").write_text(
                NGINX_CONF.format(tmp=tmp, backend=ports["backend"], port=ports["nginx"])
            )
            processes.append(
                _spawn(
                    [nginx, "-c", str(tmp / "nginx.conf"), "-e", str(tmp / "nginx-error.log")],
                    tmp / "nginx.log",
                )
            )
            wait_for_port(ports["nginx"], 20, processes[-1])
            processes.append(
                _spawn(
                    [
                        sys.executable,
                        str(Path(__file__).with_name("minimal_proxy.py")),
                        str(ports["minimal"]),
                        f"http://127.0.0.1:{ports['backend']}",
                    ],
                    tmp / "minimal.log",
                )
            )
            wait_for_port(ports["minimal"], 20, processes[-1])
            gateway_env = {
                **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
                "ENVIRONMENT": "development",
                "HTTP_HOST": "127.0.0.1",
                "HTTP_PORT": str(ports["gateway"]),
                "USERS_HTTP_URL": f"http://127.0.0.1:{ports['backend']}",
                "REDIS_URL": redis.url,
                "JWT_TEST_PUBLIC_KEY": key.public_pem,
                "RATE_LIMIT_AUTHENTICATED": "100000000/minute",
                "LOG_FORMAT": "json",
            }
            processes.append(
                _spawn([sys.executable, "-m", "codegram_gateway"], tmp / "gateway.log", gateway_env)
            )
            assert not wait_ready({"gateway": ports["gateway"]}, 30), (tmp / "gateway.log").read_text()
            token = key.mint("00000000-0000-0000-0000-00000000beef", ttl=3600)
            targets = {
                "backend, direct": (f"http://127.0.0.1:{ports['backend']}{PATH}", {}),
                "nginx proxy_pass": (f"http://127.0.0.1:{ports['nginx']}{PATH}", {}),
                MINIMAL: (f"http://127.0.0.1:{ports['minimal']}{PATH}", {}),
                "CodeGram gateway, authenticated": (
                    f"http://127.0.0.1:{ports['gateway']}{PATH}",
                    {"Authorization": f"Bearer {token}"},
                ),
            }
            for url, headers in targets.values():  # warm-up
                _wrk(url, 2, args.connections, headers)
            rounds: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
            for _ in range(args.rounds):
                for name, (url, headers) in targets.items():
                    rounds[name].append(_wrk(url, args.seconds, args.connections, headers))
                    time.sleep(1)
        finally:
            for proc in reversed(processes):
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            redis.stop()

    rows = {name: _median_round(results) for name, results in rounds.items()}
    gateway, proxy = rows["CodeGram gateway, authenticated"], rows["nginx proxy_pass"]
    ratio = gateway["rps"] / proxy["rps"]
    added_p50 = gateway["p50_ms"] - proxy["p50_ms"]
    ceiling = rows[MINIMAL]["rps"] / proxy["rps"]
    report = _report(args, rows, rounds, ratio, added_p50, ceiling)
    results_dir = ROOT / "bench" / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"gateway-{dt.date.today().isoformat()}.md"
    path.write_text(report)
    sys.stdout.write(report)
    sys.stdout.write(f"\nreport: {path.relative_to(ROOT)}\n")
    sys.stdout.write(f"minimal-proxy/nginx throughput ratio (ceiling): {ceiling:.2f}\n")
    sys.stdout.write(f"gateway/nginx throughput ratio: {ratio:.2f}, added p50: {added_p50:.2f} ms\n")
    return 0


def _median_round(results: list[dict[str, float]]) -> dict[str, float]:
    median = statistics.median_low(r["rps"] for r in results)
    return next(r for r in results if r["rps"] == median)


def _report(args, rows, rounds, ratio: float, added_p50: float, ceiling: float) -> str:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    lines = [
        f"# Gateway vs nginx, {dt.date.today().isoformat()} (commit {commit or 'unknown'})",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}; "
        "wrk, the backend, the proxy under test and Redis share the cores.",
        f"`GET {PATH}`, wrk -t1 -c{args.connections}, {args.seconds:.0f}s per round, "
        f"{args.rounds} rounds in alternation, median round shown.",
        "",
        "| target | req/s | p50 ms | p99 ms | errors | req/s of every round |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in rows.items():
        every = ", ".join(f"{x['rps']:.0f}" for x in rounds[name])
        cells = f"{r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']:.0f}"
        lines.append(f"| {name} | {cells} | {every} |")
    lines += [
        "",
        f"gateway/nginx throughput ratio: {ratio:.2f} (target ≥ 0.85); "
        f"added p50 over nginx: {added_p50:.2f} ms (target ≤ 1 ms)",
        "",
        f"Ceiling, for the record: {MINIMAL} (bench/gateway/minimal_proxy.py: no token, limit, id, "
        f"metrics or log) reached {ceiling:.2f} of nginx in the same run.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
