"""`codegram-gateway`: serve the edge."""

from __future__ import annotations

import sys

import uvicorn

from codegram_gateway.app import create_app
from codegram_gateway.config import GatewaySettings
from codegram_gateway.server import CoalescingHttpToolsProtocol
from codegram_kit.runtime.logging import configure_logging
from codegram_kit.runtime.stalls import settle_heap
from codegram_kit.runtime.tracing import configure_tracing


def main() -> int:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level, settings.log_format)
    configure_tracing("gateway", settings.otel_exporter_otlp_endpoint)
    app = create_app(settings)
    # Measured beside the default thresholds: about 6% less CPU per request.
    settle_heap()
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        loop="uvloop",
        http=CoalescingHttpToolsProtocol,  # httptools, a response's head and body in one write
        server_header=False,
        access_log=False,  # the request context middleware writes the one access line
        # The gateway decides itself whose X-Forwarded-For to believe (TRUSTED_PROXIES);
        # uvicorn's own rewriting would trust any local peer.
        proxy_headers=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
