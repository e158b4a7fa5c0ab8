"""Markdown to safe HTML: CommonMark (plus tables and strikethrough) by markdown-it-py, fenced code
highlighted by Pygments, and the result sanitised by nh3.

Two layers, so that one mistake is not enough: markdown-it runs with raw HTML off (a `<script>` in
the markdown is shown as text, never passed through) and refuses `javascript:`, `vbscript:` and
`file:` links itself; nh3 (ammonia) then keeps only the tags and attributes below, only http,
https and mailto URLs (relative ones too), drops comments, and gives every link
`rel="nofollow noopener"`. Classes survive only where the renderer puts them: `language-*` on
`code` and Pygments' token classes on `span` (so styling is a stylesheet's job, never inline), and
`style` only as a table cell's `text-align`.

Rendering is CPU-bound, and markdown-it-py is quadratic on some inputs (40,000 `[` in one paragraph
take seconds, 512 KiB of them minutes), so the work is bounded: code blocks over the highlighting
budget are shown plain, and a page over `MAX_INLINE_RENDER_BYTES` is rendered in a child process
with a deadline (`render_bounded`); past it the child is killed and the page is shown as escaped
preformatted text, so no input can hold a core for long. At most `MAX_CONCURRENT_RENDERS` children
run at once (`render`'s async door, `render_async`): a burst of large pages queues for a slot
instead of taking every core from the requests, and the wait counts against the same deadline.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import re
import weakref
from html import escape
from multiprocessing.connection import Connection

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

# Lexing costs about 50 ms per 10 KiB (and a few lexers are slow on odd input): bounded work per
# block and per page; code beyond it is shown plain.
MAX_HIGHLIGHT_CHARS = 32 * 1024
MAX_HIGHLIGHT_CHARS_PER_PAGE = 128 * 1024

TAGS = {
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img",
    "li", "ol", "p", "pre", "s", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "code": {"class"},
    "span": {"class"},
    "th": {"style"},
    "td": {"style"},
}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow noopener"

# Up to this size the worst case measured is about a second, so it renders in the caller's thread;
# larger pages pay a few tens of milliseconds for a child process, to have a deadline.
MAX_INLINE_RENDER_BYTES = 16 * 1024


def _usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# Child renders at once per service process: half the CPUs it may use, so that the other half
# keeps answering requests while large pages render (one on a 2-core machine).
MAX_CONCURRENT_RENDERS = max(1, _usable_cpus() // 2)

log = logging.getLogger(__name__)
# forkserver, not fork: the service's process has gRPC and database threads that must not be
# forked; the fork server starts clean, with this module imported once.
_CONTEXT = multiprocessing.get_context("forkserver")
# "__main__" first: the server imports the main module once, so each child does not again.
_CONTEXT.set_forkserver_preload(["__main__", __name__])

# One semaphore per event loop (asyncio primitives belong to the loop they are used on).
_SLOTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
# Renders under way, referenced until done (the loop keeps only weak references to tasks).
_IN_FLIGHT: set[asyncio.Task[str]] = set()

_TOKEN_CLASSES = frozenset(c for c in STANDARD_TYPES.values() if c)
_LANGUAGE_CLASS = re.compile(r"language-[A-Za-z0-9_+#.-]{1,40}")
_ALIGN = re.compile(r"text-align:(left|right|center)")
_FORMATTER = HtmlFormatter(nowrap=True)


class _Highlighter:
    """Pygments spans for fenced blocks with a known language, within the page's budget; "" lets
    markdown-it escape the block plain."""

    def __init__(self) -> None:
        self.budget = MAX_HIGHLIGHT_CHARS_PER_PAGE

    def __call__(self, code: str, language: str, _attrs: str) -> str:
        if not language or len(code) > min(MAX_HIGHLIGHT_CHARS, self.budget):
            return ""
        try:
            lexer = get_lexer_by_name(language, stripnl=False, ensurenl=False)
        except ClassNotFound:
            return ""
        self.budget -= len(code)
        return highlight(code, lexer, _FORMATTER)


def _markdown() -> MarkdownIt:
    # One parser per page: the highlighting budget is the page's.
    md = MarkdownIt("commonmark", {"html": False, "highlight": _Highlighter()})
    return md.enable(["table", "strikethrough"])


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "class":
        if tag == "code":
            kept = [c for c in value.split() if _LANGUAGE_CLASS.fullmatch(c)]
        else:
            kept = [c for c in value.split() if c in _TOKEN_CLASSES]
        return " ".join(kept) or None
    if attribute == "style":
        return value if _ALIGN.fullmatch(value.replace(" ", "").rstrip(";")) else None
    return value


def sanitise(html: str) -> str:
    """Only the tags, attributes, classes and URL schemes above survive; links get `rel`."""
    return nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
        attribute_filter=_keep_attribute,
    )


def render(markdown: str) -> str:
    """The sanitised HTML of a doc's markdown."""
    try:
        rendered = _markdown().render(markdown)
    except RecursionError:
        # Pathological nesting: the text is still shown, escaped, rather than refused or lost.
        rendered = plain(markdown)
    return sanitise(rendered)


def plain(markdown: str) -> str:
    """The fallback when rendering did not finish in time: the markdown as escaped preformatted text."""
    return f"<pre>{escape(markdown, quote=False)}</pre>"


def _render_into(connection: Connection, markdown: str) -> None:
    try:
        connection.send(render(markdown))
    finally:
        connection.close()


def render_bounded(markdown: str, timeout: float) -> str:
    """`render`, but never longer than `timeout` seconds for large pages (blocking: call off the loop)."""
    if len(markdown.encode()) <= MAX_INLINE_RENDER_BYTES:
        return render(markdown)
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    process = _CONTEXT.Process(target=_render_into, args=(sender, markdown), daemon=True)
    process.start()
    sender.close()
    try:
        if receiver.poll(timeout):
            html: str = receiver.recv()
            return html
        log.warning("markdown rendering took too long; shown as plain text", extra={"bytes": len(markdown)})
    except (EOFError, OSError):
        log.warning("markdown rendering failed; shown as plain text", exc_info=True)
    finally:
        receiver.close()
        if process.is_alive():
            process.kill()
        process.join()
    return plain(markdown)


def _render_slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _SLOTS.get(loop)
    if slots is None:
        slots = _SLOTS[loop] = asyncio.Semaphore(MAX_CONCURRENT_RENDERS)
    return slots


async def render_async(markdown: str, deadline_seconds: float) -> str:
    """`render_bounded` off the event loop, with at most `MAX_CONCURRENT_RENDERS` child renders at
    once. The deadline covers the wait for a slot: a page is shown plain within `deadline_seconds`
    however many large pages arrive together."""
    if len(markdown.encode()) <= MAX_INLINE_RENDER_BYTES:
        return await asyncio.to_thread(render, markdown)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_seconds
    slots = _render_slots()
    try:
        async with asyncio.timeout(deadline_seconds):
            await slots.acquire()
    except TimeoutError:
        log.warning("no rendering slot in time; shown as plain text", extra={"bytes": len(markdown)})
        return plain(markdown)
    # The slot is given back when the child is done, not when the caller goes away: shielded, a
    # render whose request was cancelled still counts until its child has stopped.
    task = asyncio.create_task(_render_in_slot(slots, markdown, deadline - loop.time()))
    _IN_FLIGHT.add(task)
    task.add_done_callback(_IN_FLIGHT.discard)
    return await asyncio.shield(task)


async def _render_in_slot(slots: asyncio.Semaphore, markdown: str, remaining: float) -> str:
    try:
        if remaining <= 0:
            return plain(markdown)
        return await asyncio.to_thread(render_bounded, markdown, remaining)
    finally:
        slots.release()
