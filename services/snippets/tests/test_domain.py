"""Pure rules of API.md "Snippets": code previews (tags and ids are tested in the libraries they live in)."""

from __future__ import annotations

from codegram_snippets.domain import PREVIEW_LINES, code_preview


def test_the_preview_is_the_first_lines() -> None:
    code = "\n".join(f"line {i}" for i in range(50))
    preview = code_preview(code)
    assert preview.splitlines() == [f"line {i}" for i in range(PREVIEW_LINES)]
    assert code_preview("one line") == "one line"
