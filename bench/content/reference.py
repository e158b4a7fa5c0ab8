"""The reference handler of the content bench: the list page of the snippets service (the 20 newest
public snippets with a code preview, their authors from one batched query) in about as little
Python as it takes, on the same database, so the service's throughput has a ceiling beside it.

    python bench/content/reference.py DATABASE_URL PORT
"""

from __future__ import annotations

import sys

import asyncpg
import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PAGE = """
SELECT id::text, author_id, title, description, substr(code, 1, 1000) AS code, language, tags,
       visibility, likes_count, comments_count, created_at, updated_at
FROM snippets.snippets WHERE visibility = 'public' ORDER BY created_at DESC, id DESC LIMIT $1
"""
AUTHORS = "SELECT id, username, full_name, avatar_url FROM users.users WHERE id = ANY($1::uuid[])"
pool: asyncpg.Pool | None = None


async def startup() -> None:
    global pool
    pool = await asyncpg.create_pool(sys.argv[1], min_size=4, max_size=10)


async def snippets(request: Request) -> Response:
    limit = min(int(request.query_params.get("limit", "20")), 100)
    assert pool is not None
    async with pool.acquire() as conn:
        rows = await conn.fetch(PAGE, limit)
        ids = list({r["author_id"] for r in rows})
        authors = {a["id"]: a for a in await conn.fetch(AUTHORS, ids)}
    data = []
    for r in rows:
        a = authors.get(r["author_id"])
        data.append(
            {
                "id": r["id"],
                "title": r["title"],
                "description": r["description"],
                "tags": r["tags"],
                "visibility": r["visibility"],
                "author": {
                    "id": str(r["author_id"]),
                    "username": a["username"] if a else "",
                    "full_name": a["full_name"] if a else "",
                    "avatar_url": a["avatar_url"] if a else "",
                },
                "likes_count": r["likes_count"],
                "comments_count": r["comments_count"],
                "liked_by_me": False,
                "created_at": r["created_at"],
                "updated_at": r["updated_at"],
                "language": r["language"],
                "code_preview": "\n".join(r["code"].splitlines()[:10]),
            }
        )
    body = {"data": data, "pagination": {"limit": limit, "next_cursor": None}}
    return Response(orjson.dumps(body), media_type="application/json")


app = Starlette(routes=[Route("/api/v1/snippets", snippets)], on_startup=[startup])

if __name__ == "__main__":
    port = int(sys.argv[2])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", loop="uvloop", http="httptools")
