"""The HTTP door every content service has (API.md "Snippets", "Docs"): create, list, read, change and
delete an item, a user's items, and the internal search the gateway fans out to, built for one kind.

Annotations here are evaluated as the routes are built (no `from __future__ import annotations`):
FastAPI reads each endpoint's types, and those are the kind's own schemas.
"""

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

import pydantic_core
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from codegram_content.api_models import rfc3339
from codegram_content.items import Authored, SearchHit
from codegram_content.query_params import Cursor, Limit, SearchQuery, viewer_id
from codegram_content.use_cases import ContentService
from codegram_kit.runtime.definition import ServiceRuntime
from codegram_kit.web.openapi import error_responses
from codegram_kit.web.pagination import DEFAULT_LIMIT, Page
from codegram_kit.web.principal import CurrentPrincipal, OptionalPrincipal
from codegram_kit.web.responses import etag_json, page_response

Username = Annotated[str, Path(max_length=100)]


@dataclass(frozen=True, slots=True)
class Text:
    """An operation's summary and description in OpenAPI."""

    summary: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class ContentKind:
    """What differs between the content services' doors: names, schemas, filters and words.

    `list_filters` and `search_filters` are FastAPI dependencies that read the kind's filter
    parameters (`language`, `tag`) into the filters its repository takes; `search_filters` answers
    None for a search that can find nothing (docs asked for a language).
    """

    noun: str  # "snippet": routes /snippets and /snippets/{snippet_id}, operations create_snippet...
    plural: str
    open_service: Callable[[ServiceRuntime], AbstractAsyncContextManager[ContentService[Any, Any]]]
    create_schema: type[BaseModel]
    update_schema: type[BaseModel]
    read_schema: type[BaseModel]
    list_item_schema: type[BaseModel]
    hit_schema: type[BaseModel]
    results_schema: type[BaseModel]
    read: Callable[[Authored[Any]], BaseModel]
    list_item: Callable[[Authored[Any]], BaseModel]
    list_filters: Callable[..., Any]
    search_filters: Callable[..., Any]
    create_text: Text
    list_text: Text
    search_text: Text
    update_description: str | None = None
    # The same item as `list_item`'s model serialises it, as plain JSON values: pages are built
    # from these when given (no model built and validated per item).
    list_item_json: Callable[[Authored[Any]], dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class ContentRouters:
    router: APIRouter
    # Not routed by the gateway (it forwards /api/v1 only): the gateway's /api/v1/search calls it.
    internal_router: APIRouter
    # The FastAPI dependency giving the kind's use cases, for the service's own routes.
    service: Callable[[Request], AsyncIterator[Any]]


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    cursor: str | None


async def page_params(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> PageParams:
    return PageParams(limit, cursor)


AuthorName = Annotated[str | None, Query(max_length=100)]
Sort = Literal["recent", "popular"]


def _path_id(name: str) -> Callable[..., Awaitable[str]]:
    """A dependency reading the path parameter `name` (`snippet_id`): FastAPI names path parameters
    after the endpoint's arguments, and each kind keeps its own name in the public API."""

    async def item_id(**path: str) -> str:
        return path[name]

    annotation = Annotated[str, Path(max_length=64)]
    item_id.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)]
    )
    return item_id


def _filters_inline(read_filters: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """An endpoint taking the kind's filters (its `filters` argument, read by `read_filters` from
    the request's parameters), with `read_filters`' parameters in its own signature, where
    `filters` is: FastAPI reads them with the endpoint's own, and the OpenAPI operation lists them
    in the same place, without a dependency to resolve. `read_filters` runs on the event loop."""
    theirs = inspect.signature(read_filters, eval_str=True).parameters

    def inline(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(endpoint, eval_str=True)
        assert not set(theirs) & set(own.parameters), "a filter parameter shadows an endpoint's"
        parameters = []
        for parameter in own.parameters.values():
            if parameter.name == "filters":
                parameters += [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in theirs.values()]
            else:
                parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))

        async def with_filters(**values: Any) -> Any:
            filters = read_filters(**{name: values.pop(name) for name in theirs})
            if inspect.isawaitable(filters):
                filters = await filters
            return await endpoint(filters=filters, **values)

        with_filters.__signature__ = own.replace(parameters=parameters)  # type: ignore[attr-defined]
        return with_filters

    return inline


def _json_items(kind: ContentKind, found: list[Authored[Any]]) -> list[BaseModel]:
    if kind.list_item_json is None:
        return [kind.list_item(i) for i in found]
    # Plain JSON values where the page response takes models: it serialises either the same way.
    return cast(list[BaseModel], [kind.list_item_json(i) for i in found])


def search_hit(kind: ContentKind, found: SearchHit[Any]) -> BaseModel:
    """A search hit as the kind's hit model."""
    return kind.hit_schema(
        id=str(found.item.id),
        score=found.score,
        created_at=found.item.created_at,
        cursor=found.cursor,
        item=kind.list_item(Authored(found.item, found.author)),
        highlights=found.highlights,
    )


def search_hit_json(kind: ContentKind, found: SearchHit[Any]) -> dict[str, Any]:
    """`search_hit` as the JSON values of its model, from the kind's `list_item_json` (no model
    built and validated per hit; the services' tests compare the two)."""
    assert kind.list_item_json is not None
    return {
        "id": str(found.item.id),
        "score": found.score,
        "created_at": rfc3339(found.item.created_at),
        "cursor": found.cursor,
        "item": kind.list_item_json(Authored(found.item, found.author)),
        "highlights": found.highlights,
    }


def content_routers(kind: ContentKind) -> ContentRouters:
    noun, plural = kind.noun, kind.plural
    router = APIRouter(prefix="/api/v1", tags=[plural])
    internal_router = APIRouter(prefix="/internal/v1", tags=["internal"])

    async def open_service(request: Request) -> AsyncIterator[ContentService[Any, Any]]:
        async with kind.open_service(request.app.state.runtime) as service:
            yield service

    Service = Annotated[ContentService[Any, Any], Depends(open_service)]
    ItemId = Annotated[str, Depends(_path_id(f"{noun}_id"))]
    Paging = Annotated[PageParams, Depends(page_params)]
    Read = kind.read_schema
    Create = kind.create_schema
    Update = kind.update_schema

    async def create(body: Create, principal: CurrentPrincipal, service: Service) -> Response:  # type: ignore[valid-type]
        read = kind.read(await service.create(principal.user_id, body.model_dump()))  # type: ignore[attr-defined]
        location = f"/api/v1/{plural}/{read.id}"  # type: ignore[attr-defined]
        return JSONResponse(jsonable_encoder(read), status_code=201, headers={"Location": location})

    # The busiest route: its parameters, the kind's filters' too, are its own, not dependencies
    # of their own (each level of dependencies FastAPI resolves costs on every request).
    @_filters_inline(kind.list_filters)
    async def list_public(
        request: Request,
        principal: OptionalPrincipal,  # (opt): a bad token is a 401; personalises liked_by_me
        service: Service,
        filters: Any,
        author: AuthorName = None,
        sort: Sort = "recent",
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Response:
        found, next_cursor = await service.list_public(
            filters,
            author_username=author,
            order=sort,
            cursor=cursor,
            limit=limit,
            viewer_id=viewer_id(principal),
        )
        return page_response(request, _json_items(kind, found), limit, next_cursor)

    async def get(
        request: Request, item_id: ItemId, principal: OptionalPrincipal, service: Service
    ) -> Response:
        return etag_json(request, kind.read(await service.get(item_id, viewer_id(principal))))

    async def update(
        item_id: ItemId,
        body: Update,  # type: ignore[valid-type]
        principal: CurrentPrincipal,
        service: Service,
    ) -> BaseModel:
        changes = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        return kind.read(await service.update(item_id, principal.user_id, changes))

    async def delete(item_id: ItemId, principal: CurrentPrincipal, service: Service) -> Response:
        await service.delete(item_id, principal.user_id)
        return Response(status_code=204)

    async def list_by_author(
        request: Request, username: Username, principal: OptionalPrincipal, service: Service, paging: Paging
    ) -> Response:
        found, next_cursor = await service.list_by_author(
            username, viewer_id(principal), paging.cursor, paging.limit
        )
        return page_response(request, _json_items(kind, found), paging.limit, next_cursor)

    @_filters_inline(kind.search_filters)
    async def search(
        service: Service,
        principal: OptionalPrincipal,  # passed through by the gateway; only public items either way
        *,
        q: SearchQuery = "",
        filters: Any,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> Response:
        hits = [] if filters is None else await service.search(q, filters, cursor=cursor, limit=limit)
        # Serialised once, by pydantic's serializer: returned as a model, FastAPI would validate
        # it against the response model again and then encode it with `json`.
        if kind.list_item_json is None:
            results: Any = kind.results_schema(data=[search_hit(kind, h) for h in hits])
        else:
            results = {"data": [search_hit_json(kind, h) for h in hits]}
        return Response(pydantic_core.to_json(results, by_alias=True), media_type="application/json")

    item_path = f"/{plural}/{{{noun}_id}}"
    id_param = f"{noun}_id"
    # OpenAPI links: the id a create answers is the one to read, change and delete (clients and
    # API fuzzers follow them from one call to the next).
    pointer = "#/paths/" + f"{router.prefix}{item_path}".replace("~", "~0").replace("/", "~1")
    links = {
        f"{verb}{noun.capitalize()}": {
            "operationRef": f"{pointer}/{method}",
            "parameters": {id_param: "$response.body#/id"},
        }
        for verb, method in (("Get", "get"), ("Update", "patch"), ("Delete", "delete"))
    }
    hidden = error_responses(404, s404=f"No such {noun}, or one the caller may not see.")
    author_only = error_responses(403, 404, s403=f"Only its author may change a {noun} (one others may see).")
    unknown_user = error_responses(404, s404="No user with that username.")
    router.add_api_route(
        f"/{plural}",
        create,
        methods=["POST"],
        name=f"create_{noun}",
        status_code=201,
        response_model=Read,
        responses={
            201: {
                "links": links,
                "headers": {
                    "Location": {
                        "description": f"The new {noun}'s address.",
                        "required": True,
                        "schema": {"type": "string"},
                    }
                },
            }
        },
        summary=kind.create_text.summary,
        description=kind.create_text.description,
    )
    router.add_api_route(
        f"/{plural}",
        list_public,
        methods=["GET"],
        name=f"list_{plural}",
        response_model=Page[kind.list_item_schema],  # type: ignore[name-defined]
        responses=error_responses(404, s404="`author` names no user."),
        summary=kind.list_text.summary,
        description=kind.list_text.description,
    )
    router.add_api_route(
        item_path,
        get,
        methods=["GET"],
        name=f"get_{noun}",
        response_model=Read,
        responses=hidden,
        summary=f"One {noun}",
    )
    router.add_api_route(
        item_path,
        update,
        methods=["PATCH"],
        name=f"update_{noun}",
        response_model=Read,
        responses=author_only,
        summary=f"Change your {noun}",
        description=kind.update_description,
    )
    router.add_api_route(
        item_path,
        delete,
        methods=["DELETE"],
        name=f"delete_{noun}",
        status_code=204,
        responses=author_only,
        summary=f"Delete your {noun}",
    )
    router.add_api_route(
        f"/users/{{username}}/{plural}",
        list_by_author,
        methods=["GET"],
        name=f"list_user_{plural}",
        response_model=Page[kind.list_item_schema],  # type: ignore[name-defined]
        responses=unknown_user,
        summary=f"A user's {plural}, newest first",
        description=f"The author sees all of their own {plural}, unlisted and private ones included; "
        "everyone else sees the public ones.",
    )
    internal_router.add_api_route(
        "/search",
        search,
        methods=["GET"],
        name=f"search_{plural}",
        response_model=kind.results_schema,
        summary=kind.search_text.summary,
        description=kind.search_text.description,
    )
    return ContentRouters(router, internal_router, open_service)
