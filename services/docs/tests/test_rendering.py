"""API.md "Docs": markdown rendered to sanitised HTML (no script, no event handlers, no `javascript:`
URLs), links with rel="nofollow noopener", fenced code highlighted with classes; bounded work."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from html.parser import HTMLParser

import pytest

from codegram_docs import rendering
from codegram_docs.rendering import MAX_INLINE_RENDER_BYTES, plain, render, render_bounded, sanitise

ATTACKS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](java\tscript:alert(1))",
    "<javascript:alert(1)>",
    "[x](vbscript:msgbox(1))",
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "[x](data:text/html,<script>alert(1)</script>)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "<svg onload=alert(1)><script>alert(1)</script></svg>",
    '<iframe src="https://evil.example"></iframe>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<style>body{display:none}</style>",
    '```" onmouseover="alert(1)\nx\n```',
    '```python" onclick="alert(1)\nx = 1\n```',
    '[x](https://ok.example "t\\" onclick=\\"alert(1)")',
    "<!-- <script>alert(1)</script> -->",
    '<a href="https://ok.example" onclick="alert(1)">x</a>',
]


class _Elements(HTMLParser):
    """The real elements and attributes of an HTML fragment (escaped text is text, not markup)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, attrs))


SAFE_TAGS = set(
    "a blockquote br code del em h1 h2 h3 h4 h5 h6 hr img li ol p pre s span strong".split()
    + "table tbody td th thead tr ul".split()
)


def _dangerous(html: str) -> list[str]:
    found = []
    for tag, attrs in _Elements(html).elements:
        if tag not in SAFE_TAGS:
            found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                found.append(f"{tag} {name}")
            if name in ("href", "src") and re.match(r"\s*(javascript|vbscript|data):", value or "", re.I):
                found.append(f"{tag} {name}={value}")
            if name == "style" and not re.fullmatch(r"text-align:(left|right|center)", value or ""):
                found.append(f"{tag} style={value}")
    return found


@pytest.mark.parametrize("markdown", ATTACKS)
def test_attacks_come_out_harmless(markdown: str) -> None:
    html = render(markdown)
    assert _dangerous(html) == [], html


@pytest.mark.parametrize("html", [a for a in ATTACKS if a.startswith("<")])
def test_the_sanitiser_alone_also_removes_them(html: str) -> None:
    # Defence in depth: even if markdown-it ever passed raw HTML through, nh3 would clean it.
    assert _dangerous(sanitise(html)) == [], sanitise(html)


def test_raw_html_is_shown_as_text_not_passed_through() -> None:
    assert render("<b>bold</b>") == "<p>&lt;b&gt;bold&lt;/b&gt;</p>\n"


def test_links_are_nofollow_noopener_and_safe_urls_survive() -> None:
    html = render("[site](https://example.com/a?b=1) [mail](mailto:a@example.com) [rel](/docs#x)")
    assert html.count('rel="nofollow noopener"') == 3
    assert 'href="https://example.com/a?b=1"' in html
    assert 'href="mailto:a@example.com"' in html and 'href="/docs#x"' in html


def test_images_keep_http_sources_and_lose_data_ones() -> None:
    html = render('![cat](https://example.com/cat.png "Cat") ![x](data:image/png;base64,AAAA)')
    assert '<img src="https://example.com/cat.png" alt="cat" title="Cat">' in html
    assert "data:" not in html


def test_fenced_code_is_highlighted_with_classes_and_keeps_its_language() -> None:
    html = render("```python\ndef f(x):\n    return '<b>'\n```")
    assert html.startswith('<pre><code class="language-python"><span class="k">def</span>')
    assert '<span class="nf">f</span>' in html
    assert "&lt;b&gt;" in html and "style=" not in html


def test_an_unknown_language_is_escaped_plain() -> None:
    assert render("```klingon\n<i>x</i>\n```") == (
        '<pre><code class="language-klingon">&lt;i&gt;x&lt;/i&gt;\n</code></pre>\n'
    )


def test_tables_and_strikethrough() -> None:
    html = render("| a | b |\n|:--|--:|\n| 1 | 2 |\n\n~~gone~~")
    assert '<th style="text-align:left">a</th>' in html and '<td style="text-align:right">2</td>' in html
    assert "<s>gone</s>" in html


def test_headings_lists_quotes_and_emphasis_render() -> None:
    html = render("# Title\n\n> quote\n\n- one\n- **two**\n\n1. _x_\n\n`code`")
    for part in ("<h1>Title</h1>", "<blockquote>", "<ul>", "<strong>two</strong>", "<ol>", "<em>x</em>"):
        assert part in html
    assert "<code>code</code>" in html


def test_a_slow_large_page_is_stopped_and_shown_as_plain_text() -> None:
    # markdown-it-py is quadratic on unclosed brackets: minutes for this, without a deadline.
    markdown = "[" * 300_000
    started = time.monotonic()
    html = render_bounded(markdown, 1.0)
    assert time.monotonic() - started < 10
    assert html == plain(markdown)


def test_a_large_ordinary_page_renders_in_the_child_process() -> None:
    markdown = "# Big\n\n" + "Some *words* here.\n\n" * (MAX_INLINE_RENDER_BYTES // 10)
    html = render_bounded(markdown, 30.0)
    assert html.startswith("<h1>Big</h1>") and html.count("<em>words</em>") == MAX_INLINE_RENDER_BYTES // 10


async def test_large_pages_render_a_bounded_number_at_once_within_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rendering, "MAX_CONCURRENT_RENDERS", 1)
    running, most, lock = 0, 0, threading.Lock()
    bounded = rendering.render_bounded

    def counting(markdown: str, timeout: float) -> str:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            return bounded(markdown, timeout)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(rendering, "render_bounded", counting)
    slow = "[" * 300_000  # minutes to render whole
    ordinary = "# Big\n\n" + "Some *words* here.\n\n" * (MAX_INLINE_RENDER_BYTES // 10)
    started = time.monotonic()
    pages = await asyncio.gather(*(rendering.render_async(slow, 2.0) for _ in range(3)))
    # The deadline covers waiting for the slot: all three are shown plain, none took minutes.
    assert time.monotonic() - started < 8
    assert pages == [plain(slow)] * 3
    assert most == 1
    # The slot is free again for a page that renders in time.
    assert (await rendering.render_async(ordinary, 30.0)).startswith("<h1>Big</h1>")


def test_the_plain_fallback_is_escaped() -> None:
    assert plain("<script>x</script>") == "<pre>&lt;script&gt;x&lt;/script&gt;</pre>"
