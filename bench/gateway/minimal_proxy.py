"""The ceiling row of the gateway bench: a minimal raw-ASGI reverse proxy on the gateway's own server
and client (uvicorn with uvloop and httptools; the gateway's upstream pool,
codegram_gateway.upstream_http), with none of the gateway's policies. What the gateway cannot beat on
this machine, measured beside nginx every run.

    python bench/gateway/minimal_proxy.py PORT BACKEND_URL
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

from codegram_gateway.upstream_http import Pool

BACKEND = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:8000"
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"host", b"content-length"})
pool = Pool(BACKEND)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        pool.close()
        await send({"type": "lifespan.shutdown.complete"})
        return
    headers = [(k, v) for k, v in scope["headers"] if k not in HOP_BY_HOP]
    target = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b"")
    upstream = await pool.request(scope["method"], target, headers, None, 30.0, retry=True)
    try:
        out = [(k, v) for k, v in upstream.headers if k.lower() not in HOP_BY_HOP]
        await send({"type": "http.response.start", "status": upstream.status, "headers": out})
        await send({"type": "http.response.body", "body": await upstream.read()})
    finally:
        upstream.release()


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
