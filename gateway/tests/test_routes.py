"""The route table's answers, remembered per method and path, stay those of the table and bounded
in number whatever paths clients make up."""

from __future__ import annotations

from codegram_gateway.routes import RouteTable


def test_remembered_answers_are_the_tables_and_stay_bounded() -> None:
    table = RouteTable()
    route, allowed = table.match("GET", "/api/v1/users/someone")
    assert route is not None and route.service == "users" and allowed == frozenset({"GET"})
    assert table.match("GET", "/api/v1/users/someone") == (route, allowed)
    missing, methods = table.match("POST", "/api/v1/users/someone")
    assert missing is None and methods == frozenset({"GET"})  # a 405 naming GET
    for n in range(10_000):
        table.match("GET", f"/api/v1/snippets/{n}")
    assert len(table._seen) <= 4096
    assert table.match("GET", "/api/v1/users/someone") == (route, allowed)
    assert table.match("GET", "/api/v1/nothing/here") == (None, frozenset())
