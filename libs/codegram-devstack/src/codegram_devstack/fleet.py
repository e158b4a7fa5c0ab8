"""The whole fleet on one machine: engines, roles and schemas, migrations, and the process list."""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from codegram_clients import registry
from codegram_devstack import engines
from codegram_devstack.bootstrap import DATABASE, bootstrap
from codegram_devstack.engines import Engine
from codegram_devstack.tokens import TestSigningKey

log = logging.getLogger("codegram.devstack")

# The fleet's services and who calls whom: codegram_clients.registry, as the gateway and the
# manifests read it.
SERVICES = registry.NAMES
# What `make up` passes through from the caller's environment (API.md "Configuration").
PASSTHROUGH = (
    "GITHUB_CLIENT_ID",
    "GITHUB_CLIENT_SECRET",
    "GITHUB_OAUTH_URL",
    "GITHUB_API_URL",
    "AUTH_REDIRECT_URIS",
    "CORS_ORIGINS",
    "RATE_LIMIT_ANONYMOUS",
    "RATE_LIMIT_AUTHENTICATED",
    "RATE_LIMIT_AUTH",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "LOG_LEVEL",
)
STANDIN_CLIENT_ID = "codegram-local"
STANDIN_CLIENT_SECRET = "codegram-local-secret"


@dataclass
class Ports:
    gateway: int
    standin: int
    postgres: int
    nats: int
    redis: int
    http: dict[str, int]
    grpc: dict[str, int]

    @classmethod
    def fixed(cls, gateway: int) -> Ports:
        """The well-known ports `make up` uses, so that a restart finds the same addresses."""
        return cls(
            gateway=gateway,
            standin=9010,
            postgres=5433,
            nats=4223,
            redis=6380,
            http={s.name: s.dev_http_port for s in registry.SERVICES},
            grpc={s.name: s.dev_grpc_port for s in registry.SERVICES},
        )

    @classmethod
    def free(cls) -> Ports:
        """Ports nobody uses now, so tests never collide with a running `make up`."""
        return cls(
            gateway=engines.free_port(),
            standin=engines.free_port(),
            postgres=engines.free_port(),
            nats=engines.free_port(),
            redis=engines.free_port(),
            http={s: engines.free_port() for s in SERVICES},
            grpc={s: engines.free_port() for s in SERVICES},
        )


@dataclass
class ProcessSpec:
    name: str
    command: list[str]
    env: dict[str, str]
    port: int


@dataclass
class Fleet:
    state_dir: Path
    ports: Ports
    durable: bool = True
    environment: str = "development"
    database_url: str | None = None
    nats_url: str | None = None
    redis_url: str | None = None
    log_format: str = "console"
    engines: list[engines.Engine] = field(default_factory=list)
    service_db_urls: dict[str, str] = field(default_factory=dict)
    # Settings every process gets on top of its own (a test's fault injection, say).
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.signing_key = TestSigningKey.load_or_create(self.state_dir / "dev-signing-key.pem")

    # -- engines ---------------------------------------------------------------------------------
    def start_engines(self) -> None:
        if self.database_url is None:
            pg = engines.start_postgres(
                self.state_dir / "postgres", self.ports.postgres, durable=self.durable
            )
            self.engines.append(pg)
            self.database_url = pg.url
        if self.nats_url is None:
            nats = engines.start_nats(self.state_dir / "nats", self.ports.nats)
            self.engines.append(nats)
            self.nats_url = nats.url
        if self.redis_url is None:
            redis = engines.start_redis(self.state_dir / "redis", self.ports.redis)
            self.engines.append(redis)
            self.redis_url = redis.url

    def engine(self, name: str) -> Engine:
        return next(e for e in self.engines if e.name == name)

    def restart_engine(self, name: str) -> Engine:
        """Start an engine again on its own port and data, stopping it first if it still runs
        (outage tests stop or kill one, then bring it back where the processes expect it)."""
        index = next(i for i, e in enumerate(self.engines) if e.name == name)
        engine = self.engines[index]
        engine.stop()
        assert engine.log_file is not None
        data_dir = engine.log_file.parent
        if name == "postgres":
            restarted = engines.start_postgres(data_dir, engine.port, durable=self.durable)
        elif name == "nats":
            restarted = engines.start_nats(data_dir, engine.port)
        else:
            restarted = engines.start_redis(data_dir, engine.port)
        self.engines[index] = restarted
        return restarted

    def stop_engines(self) -> None:
        for engine in reversed(self.engines):
            engine.stop()
        self.engines.clear()

    # -- database --------------------------------------------------------------------------------
    def _passwords(self) -> dict[str, str]:
        path = self.state_dir / "db-passwords.json"
        stored = json.loads(path.read_text()) if path.exists() else {}
        for service in SERVICES:
            stored.setdefault(service, secrets.token_urlsafe(18))
        path.write_text(json.dumps(stored))
        path.chmod(0o600)
        return stored

    def _encryption_key(self) -> str:
        """The auth service's at-rest key for this state directory, made once."""
        path = self.state_dir / "auth-encryption-key"
        if not path.exists():
            path.write_text(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
            path.chmod(0o600)
        return path.read_text().strip()

    def bootstrap_database(self) -> None:
        assert self.database_url is not None
        self.service_db_urls = bootstrap(self.database_url, self._passwords())

    def admin_url(self, database: str = DATABASE) -> str:
        """The superuser's URL for one database (tests use it to look behind the services' backs)."""
        assert self.database_url is not None
        return urlunsplit(urlsplit(self.database_url)._replace(path=f"/{database}"))

    def migrate(self) -> None:
        for service in SERVICES:
            spec = self.service_spec(service)
            subprocess.run([*spec.command, "migrate"], env=spec.env, check=True)

    # -- processes -------------------------------------------------------------------------------
    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ", "TMPDIR")}
        env.update({k: os.environ[k] for k in PASSTHROUGH if k in os.environ})
        env.update(
            {
                "ENVIRONMENT": self.environment,
                "LOG_FORMAT": self.log_format,
                "NATS_URL": self.nats_url or "",
                "REDIS_URL": self.redis_url or "",
                "JWT_TEST_PUBLIC_KEY": self.signing_key.public_pem,
                "JWKS_URL": f"http://127.0.0.1:{self.ports.http['auth']}/.well-known/jwks.json",
                "AUTH_ENCRYPTION_KEYS": self._encryption_key(),
                "HTTP_HOST": "127.0.0.1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.environment == "test":
            # Tests rotate and remove signing keys and must see it within a second, not minutes.
            env.update(JWKS_CACHE_SECONDS="1", JWKS_MIN_REFRESH_SECONDS="0.2")
            # The whole suite calls from one address; the rate-limit tests start their own
            # gateways with small limits.
            for name in ("RATE_LIMIT_ANONYMOUS", "RATE_LIMIT_AUTHENTICATED", "RATE_LIMIT_AUTH"):
                env.setdefault(name, "100000/minute")
            # A job of a killed github process comes back in seconds, not half a minute.
            env.setdefault("SYNC_ACK_WAIT_SECONDS", "4")
        if "GITHUB_CLIENT_ID" not in os.environ:
            standin = f"http://127.0.0.1:{self.ports.standin}"
            env.update(
                GITHUB_CLIENT_ID=STANDIN_CLIENT_ID,
                GITHUB_CLIENT_SECRET=STANDIN_CLIENT_SECRET,
                GITHUB_OAUTH_URL=standin,
                GITHUB_API_URL=standin,
            )
        env.update(self.extra_env)
        return env

    def service_spec(self, service: str) -> ProcessSpec:
        env = self._base_env()
        env.update(
            DATABASE_URL=self.service_db_urls[service],
            HTTP_PORT=str(self.ports.http[service]),
            GRPC_PORT=str(self.ports.grpc[service]),
        )
        # Only the addresses of the peers it calls, as its Deployment gets them.
        for peer in registry.entry(service).calls:
            env[registry.grpc_target_setting(peer).upper()] = f"127.0.0.1:{self.ports.grpc[peer]}"
        return ProcessSpec(
            service, [sys.executable, "-m", f"codegram_{service}"], env, self.ports.http[service]
        )

    def gateway_spec(self) -> ProcessSpec:
        env = self._base_env()
        env["HTTP_PORT"] = str(self.ports.gateway)
        for upstream in registry.GATEWAY_UPSTREAMS:
            env[registry.http_url_setting(upstream).upper()] = f"http://127.0.0.1:{self.ports.http[upstream]}"
        return ProcessSpec("gateway", [sys.executable, "-m", "codegram_gateway"], env, self.ports.gateway)

    def process_specs(self) -> list[ProcessSpec]:
        specs = [self.service_spec(s) for s in SERVICES]
        specs.append(self.gateway_spec())
        if "GITHUB_CLIENT_ID" not in os.environ:
            specs.append(
                ProcessSpec(
                    "github-standin",
                    [
                        sys.executable,
                        "-m",
                        "codegram_devstack.github_standin",
                        "--port",
                        str(self.ports.standin),
                    ],
                    self._base_env(),
                    self.ports.standin,
                )
            )
        return specs


def wait_ready(
    ports: dict[str, int],
    timeout: float,
    exited: Callable[[str], str | None] = lambda _name: None,
) -> list[str]:
    """Poll every process's /readyz until all answer 200; returns the names still not ready.

    `exited(name)` says why a process is gone (its log tail), to fail fast instead of waiting.
    """
    deadline = time.monotonic() + timeout
    pending = dict(ports)
    while pending and time.monotonic() < deadline:
        for name, port in list(pending.items()):
            reason = exited(name)
            if reason is not None:
                raise RuntimeError(f"{name} exited:\n{reason}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    del pending[name]
            except httpx.HTTPError:
                pass
        if pending:
            time.sleep(0.2)
    return sorted(pending)


@dataclass
class RunningFleet:
    """The fleet's processes started directly (tests, benchmarks), each logging to its own file."""

    fleet: Fleet
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def start(cls, fleet: Fleet, log_dir: Path, timeout: float = 90.0) -> RunningFleet:
        log_dir.mkdir(parents=True, exist_ok=True)
        running = cls(fleet)
        specs = fleet.process_specs()
        for spec in specs:
            running.logs[spec.name] = log_dir / f"{spec.name}.log"
            with running.logs[spec.name].open("ab") as out:
                running.processes[spec.name] = subprocess.Popen(
                    spec.command, env=spec.env, stdout=out, stderr=subprocess.STDOUT
                )
        try:
            pending = wait_ready({s.name: s.port for s in specs}, timeout, running._exit_reason)
            if pending:
                tails = "\n".join(f"--- {n}\n{running.log(n)[-2000:]}" for n in pending)
                raise TimeoutError(f"not ready after {timeout}s: {pending}\n{tails}")
        except BaseException:
            running.stop()
            raise
        return running

    def launch(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        """Start one of the fleet's processes again from its spec (same ports, same log), with
        `env` on top, without waiting for it; the previous one must be gone."""
        previous = self.processes.get(name)
        if previous is not None and previous.poll() is None:
            raise RuntimeError(f"{name} still runs (pid {previous.pid})")
        spec = next(s for s in self.fleet.process_specs() if s.name == name)
        with self.logs[name].open("ab") as out:
            self.processes[name] = subprocess.Popen(
                spec.command, env={**spec.env, **env}, stdout=out, stderr=subprocess.STDOUT
            )
        return self.processes[name]

    def _exit_reason(self, name: str) -> str | None:
        proc = self.processes[name]
        return None if proc.poll() is None else f"rc={proc.returncode}\n{self.log(name)[-4000:]}"

    def stop(self, timeout: float = 20.0) -> None:
        for proc in self.processes.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.fleet.ports.gateway}"

    def http_url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.fleet.ports.http[service]}"

    def grpc_target(self, service: str) -> str:
        return f"127.0.0.1:{self.fleet.ports.grpc[service]}"

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")


@contextmanager
def throwaway_fleet() -> Iterator[RunningFleet]:
    """Engines and every process on free ports in a temporary directory, all gone afterwards
    (benchmarks; the tests use the pytest plugin's fixtures)."""
    with tempfile.TemporaryDirectory() as tmp:
        fleet = Fleet(
            state_dir=Path(tmp), ports=Ports.free(), durable=False, environment="test", log_format="json"
        )
        # Signing keys cached as in production: the test stack's one-second cache refetches the
        # key set every second in every process, a cost production does not pay.
        fleet.extra_env.update(JWKS_CACHE_SECONDS="300", JWKS_MIN_REFRESH_SECONDS="5")
        fleet.start_engines()
        try:
            fleet.bootstrap_database()
            fleet.migrate()
            running = RunningFleet.start(fleet, Path(tmp) / "logs")
            try:
                yield running
            finally:
                running.stop()
        finally:
            fleet.stop_engines()
