"""The benchmark's backend: one small JSON answer on the path the gateway routes to the users
service, served like every CodeGram service (FastAPI on uvicorn with uvloop and httptools)."""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
BODY = {"id": "0", "username": "bench", "full_name": "Bench Mark", "bio": "x" * 200}


@app.get("/api/v1/users/{username}")
async def user(username: str) -> JSONResponse:
    return JSONResponse({**BODY, "username": username})


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
