"""`make up`'s runner: the fleet comes up ready behind the gateway, and Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

from codegram_devstack.engines import free_port


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-4000:]
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"not ready in {timeout}s:\n{log.read_text()[-4000:]}")


def _wait_for_log(log: Path, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()[-4000:]
        time.sleep(0.2)


def test_up_serves_then_stops_every_process_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "up.log"
    env = {**os.environ, "CODEGRAM_GATEWAY_PORT": str(port)}
    for name in ("DATABASE_URL", "NATS_URL", "REDIS_URL", "GITHUB_CLIENT_ID"):
        env.pop(name, None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "codegram_devstack.cli",
                "up",
                "--state-dir",
                str(tmp_path / "state"),
                "--free-ports",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    family: list[psutil.Process] = []
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", proc, log)
        family = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in family)
        for expected in ("postgres", "nats-server", "redis-server", "codegram_gateway", "codegram_users"):
            assert expected in names

        _wait_for_log(log, "CodeGram is ready")
        resp = httpx.get(f"http://127.0.0.1:{port}/api/v1/users/nobody-here")
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "NOT_FOUND"
        octocat = httpx.get(f"http://127.0.0.1:{port}/api/v1/users/octocat")
        assert octocat.status_code == 200 and octocat.json()["github"]["login"] == "octocat"

        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) is not None
        _, alive = psutil.wait_procs(family, timeout=10)
        assert alive == [], [p.cmdline() for p in alive]
        assert "stopping engines" in log.read_text()
    finally:
        # Whatever failed above, leave no engine or service behind for the next test.
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for leftover in family:
            if leftover.is_running():
                leftover.kill()
