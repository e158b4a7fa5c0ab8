"""Code search finds identifiers by parts that mix letters and digits (`utf8` in `parse_utf8_bytes`),
through the real gateway and both content services; rows indexed before are rebuilt by migration."""

from __future__ import annotations

import asyncio
import subprocess

import httpx
import pytest
import sqlalchemy as sa
from alembic import command

from codegram_devstack.e2e import member, tag
from codegram_devstack.fleet import RunningFleet
from codegram_docs.__main__ import SERVICE as DOCS
from codegram_kit.db.engine import to_async_url
from codegram_kit.db.migrations import alembic_config
from codegram_snippets.__main__ import SERVICE as SNIPPETS
from tests.e2e.test_docs import create as create_doc
from tests.e2e.test_snippets import create as create_snippet

# name -> code; the titles carry no digits, so only the code can match.
SNIPPETS_CODE = {
    "utf8": "def parse_utf8_bytes(data):\n    return data.decode()\n",
    "int32": "let xs = to_int32_array(input);\n",
    "x86": "build_x86_64:\n\tcc -O2 main.c\n",
    "sha256": "class Sha256Hasher:\n    pass\n",
    "sha1": "digest = hmac_sha1(key, msg)\n",
    "base32": "out = base32_encode(raw)\n",
    "http2": "conn = http2_client.connect()\n",
    "v2": "GET /api_v2/users\n",
}
DOC_CONTENT = "Call `getV2Api()` and read a `UTF8String` back.\n"
# query -> the names of what it must find (the doc is "doc"), and nothing else.
EXPECTED = {
    "utf8": {"utf8", "doc"},
    "int32": {"int32"},
    "x86": {"x86"},
    "sha256": {"sha256"},
    "hasher": {"sha256"},
    "sha1": {"sha1"},
    "base32": {"base32"},
    "http2": {"http2"},
    "v2": {"v2", "doc"},
    "Sha256Hasher": {"sha256"},
    "utf9": set(),
}


@pytest.fixture
def gateway(fleet: RunningFleet) -> httpx.Client:
    with httpx.Client(base_url=fleet.gateway_url + "/api/v1", timeout=15) as client:
        yield client


def _found(gateway: httpx.Client, q: str, label: str) -> set[str]:
    resp = gateway.get("/search", params={"q": q, "tag": label, "limit": 50})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["partial"] is False
    return {hit["item"]["id"] for hit in body["data"]}


async def test_identifiers_are_found_by_parts_that_mix_letters_and_digits(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    author, label = await member(fleet, "digits"), tag()
    made = {
        name: create_snippet(gateway, author, title="identifier sample", code=code, tags=[label])["id"]
        for name, code in SNIPPETS_CODE.items()
    }
    doc = create_doc(gateway, author, title="identifier notes", content=DOC_CONTENT, tags=[label])
    made["doc"] = doc["id"]

    found = {q: _found(gateway, q, label) for q in EXPECTED}

    assert found == {q: {made[name] for name in names} for q, names in EXPECTED.items()}


# What the splitting before stored for these: `utf8` cut into `utf` and `8`.
OLD_TERMS = "parseutf8bytes parse utf 8 bytes"


def _sync_url(fleet: RunningFleet, service: str) -> str:
    return to_async_url(fleet.fleet.service_db_urls[service])


def _store_old_vector(fleet: RunningFleet, service: str, table: str, item_id: str) -> None:
    engine = sa.create_engine(_sync_url(fleet, service))
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                f"UPDATE {service}.{table} SET search = setweight(to_tsvector('simple', :terms), 'C') "
                "WHERE id = :id"
            ),
            {"terms": OLD_TERMS, "id": item_id},
        )
    engine.dispose()


def _migrate_again(fleet: RunningFleet, service: str) -> None:
    """Down to the revision before the rebuild, then `codegram-<service> migrate` as a deploy runs it."""
    definition = {"snippets": SNIPPETS, "docs": DOCS}[service]
    cfg = alembic_config(
        fleet.fleet.service_db_urls[service], service, definition.migrations_dir, definition.models.metadata
    )
    command.downgrade(cfg, "0002")
    spec = fleet.fleet.service_spec(service)
    subprocess.run([*spec.command, "migrate"], env=spec.env, check=True, capture_output=True)


async def test_the_migration_rebuilds_vectors_stored_with_the_old_terms(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    author, label = await member(fleet, "reindexed"), tag()
    snippet = create_snippet(gateway, author, title="old row", code=SNIPPETS_CODE["utf8"], tags=[label])
    doc = create_doc(gateway, author, title="old page", content="parse_utf8_bytes(data)", tags=[label])
    assert _found(gateway, "utf8", label) == {snippet["id"], doc["id"]}
    # Rows as the earlier splitting indexed them: not found by `utf8`.
    _store_old_vector(fleet, "snippets", "snippets", snippet["id"])
    _store_old_vector(fleet, "docs", "docs", doc["id"])
    assert _found(gateway, "utf8", label) == set()

    for service in ("snippets", "docs"):
        await asyncio.to_thread(_migrate_again, fleet, service)

    assert _found(gateway, "utf8", label) == {snippet["id"], doc["id"]}
    assert _found(gateway, "old", label) == {snippet["id"], doc["id"]}  # titles are indexed again too
