"""The base of every public request body: unknown fields refused, strings stripped."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A request body: unknown fields are a 400, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
