"""`codegram-dev`: run the fleet (`up`), regenerate stubs (`proto`), mint a development token (`token`)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
from pathlib import Path

import httpx
from honcho.manager import Manager

from codegram_devstack import protogen
from codegram_devstack.fleet import Fleet, Ports, wait_ready
from codegram_devstack.github_demo_data import ACCOUNTS
from codegram_kit.grpc.client import create_channel
from codegram_proto.codegram.users.v1 import users_pb2, users_pb2_grpc

log = logging.getLogger("codegram.devstack")
ROOT = Path(__file__).resolve().parents[4]
STATE_DIR = ROOT / ".local"


def _gateway_port() -> int:
    return int(os.environ.get("CODEGRAM_GATEWAY_PORT", "8000"))


def up(state_dir: Path, free_ports: bool) -> int:
    ports = Ports.free() if free_ports else Ports.fixed(_gateway_port())
    if free_ports:
        ports.gateway = _gateway_port()
    fleet = Fleet(
        state_dir=state_dir,
        ports=ports,
        database_url=os.environ.get("DATABASE_URL"),
        nats_url=os.environ.get("NATS_URL"),
        redis_url=os.environ.get("REDIS_URL"),
    )
    log.info("starting engines (data in %s)", state_dir)
    fleet.start_engines()
    try:
        fleet.bootstrap_database()
        log.info("running migrations")
        fleet.migrate()
        manager = Manager()
        for spec in fleet.process_specs():
            manager.add_process(spec.name, " ".join(_quote(c) for c in spec.command), env=spec.env)
        gateway = f"http://127.0.0.1:{fleet.ports.gateway}"
        seed = "GITHUB_CLIENT_ID" not in os.environ
        threading.Thread(target=_announce_when_ready, args=(fleet, gateway, seed), daemon=True).start()
        manager.loop()
        return int(manager.returncode or 0)
    finally:
        log.info("stopping engines")
        fleet.stop_engines()


def _announce_when_ready(fleet: Fleet, gateway: str, seed: bool, timeout: float = 180.0) -> None:
    """Once every process answers /readyz: seed the demo users and say where the gateway is."""
    pending = wait_ready({spec.name: spec.port for spec in fleet.process_specs()}, timeout)
    if pending:
        log.warning("not ready after %.0fs: %s; see the logs above", timeout, ", ".join(pending))
        return
    if seed:
        asyncio.run(
            seed_demo_users(
                f"127.0.0.1:{fleet.ports.grpc['users']}", f"http://127.0.0.1:{fleet.ports.standin}"
            )
        )
    log.info("CodeGram is ready: gateway %s  (API docs %s/docs)", gateway, gateway)


async def seed_demo_users(users_target: str, standin_url: str) -> None:
    """Give the stand-in's demo accounts a CodeGram profile, as their first sign-in would."""
    async with create_channel(users_target) as channel:
        stub = users_pb2_grpc.UsersServiceStub(channel)
        for account in ACCOUNTS:
            await stub.UpsertGitHubUser(
                users_pb2.UpsertGitHubUserRequest(
                    github_id=account.id,
                    login=account.login,
                    name=account.name,
                    avatar_url=f"{standin_url}/avatars/u/{account.id}?v=4",
                    email=account.primary_email,
                    bio=account.bio,
                    location=account.location,
                    blog=account.blog,
                    followers=account.followers,
                    following=account.following,
                    public_repos=account.repo_count,
                )
            )
    log.info("demo users: %s", ", ".join(a.login for a in ACCOUNTS))


def _quote(part: str) -> str:
    import shlex

    return shlex.quote(part)


def token(username: str, gateway: str, ttl: int) -> int:
    """Print an access token for a user, signed with the local development key."""
    resp = httpx.get(f"{gateway}/api/v1/users/{username}", timeout=5)
    if resp.status_code != 200:
        log.error("no such user %s (%s)", username, resp.status_code)
        return 1
    fleet_key = Fleet(state_dir=STATE_DIR, ports=Ports.fixed(_gateway_port())).signing_key
    sys.stdout.write(fleet_key.mint(resp.json()["id"], ttl=ttl) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s devstack %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="codegram-dev")
    sub = parser.add_subparsers(dest="command", required=True)
    up_cmd = sub.add_parser("up", help="start the whole fleet with embedded engines")
    up_cmd.add_argument("--state-dir", type=Path, default=STATE_DIR, help="where engine data lives")
    up_cmd.add_argument("--free-ports", action="store_true", help="any free ports but the gateway's")
    proto = sub.add_parser("proto", help="generate the gRPC and event stubs from proto/")
    proto.add_argument("--check", action="store_true", help="fail when the committed stubs are stale")
    tok = sub.add_parser("token", help="mint a development access token for a user")
    tok.add_argument("username")
    tok.add_argument("--gateway", default=f"http://127.0.0.1:{_gateway_port()}")
    tok.add_argument("--ttl", type=int, default=3600)
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(args.state_dir, args.free_ports)
    if args.command == "proto":
        return protogen.main(["--check"] if args.check else [])
    return token(args.username, args.gateway, args.ttl)


if __name__ == "__main__":
    sys.exit(main())
