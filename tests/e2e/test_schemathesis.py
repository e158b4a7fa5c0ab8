"""The documented API is the served API: schemathesis, with every check, against the gateway's merged
`/openapi.json` on the real fleet, signed in and anonymous.

Every operation the spec lists is tested, so an endpoint is held to its documentation from the
day it is merged. The run is schemathesis's own (`schemathesis run`): its phases (examples,
coverage, fuzzing, and stateful sequences along the spec's links), a fixed seed and at least 30
examples per operation. What the spec cannot say is in api_contract/schemathesis.toml, each with
its reason; the only data hook (api_contract/contract_hooks.py) makes opaque cursors empty.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from codegram_devstack.e2e import member
from codegram_devstack.fleet import RunningFleet

log = logging.getLogger(__name__)
HERE = Path(__file__).parent / "api_contract"
SEED = 20261128
EXAMPLES = 30
# Well above what a clean run takes on two loaded cores; a hang fails rather than stalls CI.
RUN_SECONDS = 600


def schemathesis_run(
    spec_url: str, headers: dict[str, str], report_dir: Path
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "--no-color",
        "run",
        spec_url,
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        # One worker: hypothesis is not thread-safe (two workers hit its internal caches at once
        # and fail the run with a runtime error now and then).
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--report",
        "junit",
        "--report-dir",
        str(report_dir),
        *[f"--header={name}: {value}" for name, value in headers.items()],
    ]
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "contract_hooks",
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=RUN_SECONDS, cwd=report_dir, check=False
    )


@pytest.mark.timeout(RUN_SECONDS + 60)
@pytest.mark.parametrize("who", ["signed-in", "anonymous"])
def test_every_operation_answers_as_documented(fleet: RunningFleet, tmp_path: Path, who: str) -> None:
    spec = httpx.get(f"{fleet.gateway_url}/openapi.json", timeout=15).json()
    assert "x-unavailable-services" not in spec["info"]
    operations = sum(len(item) for item in spec["paths"].values())
    assert operations >= 20, "the merged spec lost its operations"
    headers = asyncio.run(member(fleet, "contract")).auth if who == "signed-in" else {}

    started = time.monotonic()
    result = schemathesis_run(f"{fleet.gateway_url}/openapi.json", headers, tmp_path)
    elapsed = time.monotonic() - started

    output = result.stdout + result.stderr
    log.info("schemathesis (%s): %d operations in %.0f s", who, operations, elapsed)
    assert result.returncode == 0, output[-30000:]
    assert f"Tested: {operations}" in output, output[-5000:]


def test_the_spec_documents_the_envelope_not_fastapis_422(fleet: RunningFleet) -> None:
    spec = httpx.get(f"{fleet.gateway_url}/openapi.json", timeout=15).json()
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    assert "ErrorEnvelope" in spec["components"]["schemas"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            where = f"{method.upper()} {path}"
            assert "422" not in responses, where
            assert responses["400"]["content"]["application/json"]["schema"] == envelope, where
            if path.startswith("/api/v1/"):
                for status in ("401", "429"):
                    assert responses[status]["content"]["application/json"]["schema"] == envelope, where
                assert responses["429"]["headers"]["Retry-After"]["required"] is True, where
            if "requestBody" in operation:
                assert "413" in responses, where
            if {"bearer": []} in operation.get("security", []):
                assert "bearer" in spec["components"]["securitySchemes"], where


@pytest.mark.parametrize("where", ["gateway", "service"])
def test_a_method_the_path_does_not_answer_is_405_with_allow(fleet: RunningFleet, where: str) -> None:
    base = fleet.gateway_url if where == "gateway" else fleet.http_url("snippets")
    assert httpx.get(f"{base}/api/v1/snippets", timeout=15).status_code == 200
    for method in ("PUT", "TRACE"):
        resp = httpx.request(method, f"{base}/api/v1/snippets", timeout=15)
        assert resp.status_code == 405, resp.text
        assert resp.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
        assert set(resp.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}, resp.headers
