"""Every process answers /healthz, /readyz and /metrics, and every gRPC server its health service."""

from __future__ import annotations

import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from codegram_devstack.fleet import SERVICES, RunningFleet
from codegram_kit.grpc.client import create_channel


@pytest.mark.parametrize("name", [*SERVICES, "gateway"])
def test_operational_endpoints(fleet: RunningFleet, name: str) -> None:
    base = fleet.gateway_url if name == "gateway" else fleet.http_url(name)
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 200
    assert set(ready.json()["checks"].values()) == {"ok"}
    metrics = httpx.get(f"{base}/metrics")
    assert metrics.status_code == 200
    assert "codegram_http_requests_total" in metrics.text


@pytest.mark.parametrize("name", SERVICES)
async def test_grpc_health(fleet: RunningFleet, name: str) -> None:
    async with create_channel(fleet.grpc_target(name)) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_services_report_their_dependencies(fleet: RunningFleet) -> None:
    checks = httpx.get(f"{fleet.http_url('users')}/readyz").json()["checks"]
    assert set(checks) == {"database", "nats"}
    assert set(httpx.get(f"{fleet.gateway_url}/readyz").json()["checks"]) == {"redis"}


def test_request_id_is_echoed_when_sane_and_replaced_when_not(fleet: RunningFleet) -> None:
    url = f"{fleet.gateway_url}/api/v1/users/nobody-here"
    assert httpx.get(url, headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    replaced = httpx.get(url, headers={"X-Request-ID": "bad id\twith spaces"}).headers["x-request-id"]
    assert replaced != "bad id\twith spaces" and len(replaced) == 32


def test_unknown_api_path_is_404_in_the_envelope(fleet: RunningFleet) -> None:
    resp = httpx.get(f"{fleet.gateway_url}/api/v1/no-such-thing")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "NOT_FOUND"
