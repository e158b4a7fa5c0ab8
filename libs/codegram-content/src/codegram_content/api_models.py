"""Public API models the content services (snippets, docs) share: field rules, the embedded author,
the fields every item carries, and the internal search answer the gateway merges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    StringConstraints,
)
from pydantic_core import CoreSchema, core_schema

from codegram_clients.users import Author, AuthorSummary


def rfc3339(value: datetime) -> str:
    # Always with microseconds: fixed width, so the strings sort as the times do (the gateway
    # merges search hits by created_at).
    if value.tzinfo is not UTC:  # the database's times are UTC already: no conversion for those
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


Timestamp = Annotated[datetime, PlainSerializer(rfc3339, return_type=str)]


def no_nul(value: str) -> str:
    # Postgres text cannot hold NUL; refusing it here makes it a 400 instead of a 500.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


@dataclass(frozen=True, slots=True)
class within_bytes:
    """A snippet's code or a doc's markdown: not blank, no NUL, at most `max_bytes` in UTF-8. The
    schema says what JSON Schema can: at most that many characters, one of them not whitespace;
    the byte limit is in the description."""

    max_bytes: int

    def check(self, value: str) -> str:
        no_nul(value)
        if not value.strip():
            raise ValueError("must not be empty")
        if len(value.encode()) > self.max_bytes:
            raise ValueError(f"must be at most {self.max_bytes // 1024} KiB")
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> Any:
        json_schema = handler(schema)
        json_schema.update(
            maxLength=self.max_bytes,
            pattern=r"\S",
            description=f"Not blank; at most {self.max_bytes // 1024} KiB as UTF-8.",
        )
        return json_schema


# Bodies keep their whitespace: a first line's indentation is part of code, and of markdown too
# (it makes a code block).
KEEP_WHITESPACE = StringConstraints(strip_whitespace=False)
Title = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(no_nul)]
Description = Annotated[str, Field(max_length=2000), AfterValidator(no_nul)]
VisibilityField = Literal["public", "unlisted", "private"]


class ContentFields(BaseModel):
    """What a snippet and a doc both show, in lists and one by one."""

    id: str
    title: str
    description: str
    tags: list[str]
    visibility: VisibilityField
    author: AuthorSummary
    likes_count: int
    comments_count: int
    liked_by_me: bool
    created_at: Timestamp
    updated_at: Timestamp


def content_fields(item: Any, author: Author, liked_by_me: bool = False) -> dict[str, Any]:
    """`ContentFields` of a stored snippet or doc (a domain object with those attributes)."""
    return {
        "id": str(item.id),
        "title": item.title,
        "description": item.description,
        "tags": list(item.tags),
        "visibility": item.visibility,
        "author": AuthorSummary.of(author),
        "likes_count": item.likes_count,
        "comments_count": item.comments_count,
        "liked_by_me": liked_by_me,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }


def content_json(item: Any, author: Author, liked_by_me: bool = False) -> dict[str, Any]:
    """`ContentFields` of a stored snippet or doc as the JSON values its model gives, in the model's
    order: lists serialise a page of these straight to JSON, without building and validating a
    model for each item (the same JSON; the services' tests compare the two)."""
    return {
        "id": str(item.id),
        "title": item.title,
        "description": item.description,
        "tags": list(item.tags),
        "visibility": item.visibility,
        "author": {
            "id": str(author.id),
            "username": author.username,
            "full_name": author.full_name,
            "avatar_url": author.avatar_url,
        },
        "likes_count": item.likes_count,
        "comments_count": item.comments_count,
        "liked_by_me": liked_by_me,
        "created_at": rfc3339(item.created_at),
        "updated_at": rfc3339(item.updated_at),
    }


ItemT = TypeVar("ItemT", bound=BaseModel)
HitT = TypeVar("HitT", bound=BaseModel)


class SearchHitFields(BaseModel, Generic[ItemT]):
    """One hit of a service's internal search; subclass with the item type (`SearchHitRead`)."""

    id: str
    score: float = Field(description="In [0, 1); the same for the same item and query.")
    created_at: Timestamp
    cursor: str = Field(description="Pass as `cursor=` to get the hits after this one.")
    item: ItemT
    highlights: dict[str, list[str]] = Field(
        description="Per searched field: HTML-escaped fragments with <mark> around matches."
    )


class SearchResultsFields(BaseModel, Generic[HitT]):
    data: list[HitT]
