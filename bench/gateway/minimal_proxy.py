"""The ceiling row of the gateway bench: a minimal raw-ASGI reverse proxy on the gateway's own server
and client stack (uvicorn with uvloop and httptools, one pooled aiohttp session), with none of the
gateway's policies. What the gateway cannot beat on this machine, measured beside nginx every run.

    python bench/gateway/minimal_proxy.py PORT BACKEND_URL
"""

from __future__ import annotations

import sys
from typing import Any

import aiohttp
import uvicorn

BACKEND = sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:8000"
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"host", b"content-length"})
session: aiohttp.ClientSession | None = None


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global session
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512), auto_decompress=False)
            await send({"type": "lifespan.startup.complete"})
        await session.close()  # type: ignore[union-attr]
        await send({"type": "lifespan.shutdown.complete"})
        return
    assert session is not None
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"] if k not in HOP_BY_HOP}
    query = scope["query_string"].decode("latin-1")
    url = BACKEND + scope["raw_path"].decode("latin-1") + (f"?{query}" if query else "")
    async with session.request(scope["method"], url, headers=headers, allow_redirects=False) as upstream:
        out = [(k, v) for k, v in upstream.raw_headers if k.lower() not in HOP_BY_HOP]
        await send({"type": "http.response.start", "status": upstream.status, "headers": out})
        await send({"type": "http.response.body", "body": await upstream.read()})


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
