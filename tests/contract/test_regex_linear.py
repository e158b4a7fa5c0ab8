"""Every regular expression of the served code runs in linear time on hostile input.

Python's `re` backtracks, and a match holds the GIL for its whole run: one quadratic pattern over a
100 KiB request body stalls every other request of the process for seconds. This test finds the
patterns itself, so a new one is held to the same bar without anyone listing it:

- every `re.<function>(...)` call in the sources of gateway/, services/ and libs/ (not tests, not
  the generated protobuf code); a literal pattern is timed as written;
- every compiled pattern a module holds (its globals, their lists, tuples and dicts, class
  attributes), which covers patterns built from other text or in a loop at import;
- a call inside a function whose pattern is built at run time must be listed in `DYNAMIC` with a
  function that produces the patterns it can build, which are timed too; an unlisted one fails.

Each pattern is run over adversarial strings of 64 KiB: runs of single characters, and for each
repetition in the pattern, text that leads up to it (from the parsed pattern) followed by 64 KiB
of what it repeats and a character that ends the match (`def f(` then `)))...`, `1/` then spaces),
with `finditer` (every start position) and `fullmatch` (a match that must reach the end). A linear
pattern needs milliseconds of CPU for that; a quadratic one needs seconds, and is cut off at
BOUND_SECONDS of CPU time, so the test stays quick and a busy machine does not make it flaky.
"""

from __future__ import annotations

import ast
import importlib
import re
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from re import _compiler, _parser  # type: ignore[attr-defined]
from re import _constants as c  # type: ignore[attr-defined]
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_ROOTS = [ROOT / "gateway" / "src", *ROOT.glob("services/*/src"), *ROOT.glob("libs/*/src")]
GENERATED = ROOT / "libs" / "codegram-proto" / "src" / "codegram_proto"
RE_FUNCTIONS = {"compile", "match", "search", "fullmatch", "sub", "subn", "split", "findall", "finditer"}
# Calls that only ever match from the start of the text: timed with fullmatch only.
ANCHORED_FUNCTIONS = {"match", "fullmatch"}

SIZE = 64 * 1024
# CPU seconds: a linear pattern needs a few milliseconds on SIZE characters, a quadratic one seconds.
BOUND_SECONDS = 1.0


def _route_patterns() -> list[re.Pattern[str]]:
    from codegram_gateway.routes import ROUTES

    return [route.compile() for route in ROUTES]


def _numbered_slug_patterns() -> list[re.Pattern[str]]:
    # re.escape(base) of a slug is literal text; the suffix is bounded.
    return [re.compile(re.escape("hello-world") + r"-([0-9]{1,9})")]


# (path relative to the repository, the source of the pattern argument) -> the patterns it builds.
DYNAMIC: dict[tuple[str, str], Callable[[], list[re.Pattern[str]]]] = {
    ("gateway/src/codegram_gateway/routes.py", "f'^{regex}$'"): _route_patterns,
    (
        "services/docs/src/codegram_docs/slugs.py",
        "re.escape(base) + '-([0-9]{1,9})'",
    ): _numbered_slug_patterns,
}


@dataclass(frozen=True)
class Found:
    pattern: re.Pattern[str]
    where: str
    anchored: bool = False  # only ever matched from the start (re.match / re.fullmatch calls)


def _source_files() -> Iterator[Path]:
    for root in SOURCE_ROOTS:
        for path in sorted(root.rglob("*.py")):
            if not path.is_relative_to(GENERATED):
                yield path


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(_src_of(path)).parts)
    parts[-1] = parts[-1].removesuffix(".py")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _src_of(path: Path) -> Path:
    return next(root for root in SOURCE_ROOTS if path.is_relative_to(root))


def _re_names(tree: ast.Module) -> tuple[set[str], dict[str, str]]:
    """Names the module calls `re` by, and `from re import x as y` functions (y -> x)."""
    modules, functions = set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.asname or a.name for a in node.names if a.name == "re"}
        elif isinstance(node, ast.ImportFrom) and node.module == "re":
            functions |= {a.asname or a.name: a.name for a in node.names if a.name in RE_FUNCTIONS}
    return modules, functions


def _flags(call: ast.Call, function: str, namespace: dict[str, Any]) -> int:
    position = {"compile": 1, "match": 2, "search": 2, "fullmatch": 2, "findall": 2, "finditer": 2,
                "split": 3, "sub": 4, "subn": 4}[function]  # fmt: skip
    node = next((k.value for k in call.keywords if k.arg == "flags"), None)
    if node is None and len(call.args) > position:
        node = call.args[position]
    if node is None:
        return 0
    return int(eval(compile(ast.Expression(node), "<flags>", "eval"), namespace))  # our own source


def _module_patterns(module: ModuleType) -> Iterator[re.Pattern[str]]:
    seen: set[int] = set()

    def walk(value: Any, depth: int) -> Iterator[re.Pattern[str]]:
        if id(value) in seen or depth > 4:
            return
        seen.add(id(value))
        if isinstance(value, re.Pattern):
            yield value
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                yield from walk(item, depth + 1)
        elif isinstance(value, dict):
            for item in value.values():
                yield from walk(item, depth + 1)
        elif isinstance(value, type) and value.__module__ == module.__name__:
            for item in vars(value).values():
                yield from walk(item, depth + 1)

    for value in vars(module).values():
        yield from walk(value, 0)


def discover() -> tuple[list[Found], list[str]]:
    """Every pattern of the sources, and the run-time-built ones `DYNAMIC` does not account for.

    A pattern built at import time (outside any function) is a module's value, which the walk of
    its globals finds and times; one built inside a function is only known through `DYNAMIC`."""
    found: list[Found] = []
    unlisted: list[str] = []
    used_dynamic: set[tuple[str, str]] = set()
    for path in _source_files():
        tree = ast.parse(path.read_text(), str(path))
        modules, functions = _re_names(tree)
        if not modules and not functions:
            continue
        relative = path.relative_to(ROOT).as_posix()
        module = importlib.import_module(_module_name(path))
        namespace = {**vars(module), "re": re}
        in_functions = {
            id(inner)
            for scope in ast.walk(tree)
            if isinstance(scope, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            for inner in ast.walk(scope)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id in modules
            ):
                function = func.attr
            elif isinstance(func, ast.Name) and func.id in functions:
                function = functions[func.id]
            else:
                continue
            if function not in RE_FUNCTIONS:
                continue
            arg = node.args[0] if node.args else next(k.value for k in node.keywords if k.arg == "pattern")
            where = f"{relative}:{node.lineno}"
            literal = arg.value if isinstance(arg, ast.Constant) else namespace.get(getattr(arg, "id", ""))
            if isinstance(literal, str):
                pattern = re.compile(literal, _flags(node, function, namespace))
                found.append(Found(pattern, where, anchored=function in ANCHORED_FUNCTIONS))
                continue
            key = (relative, ast.unparse(arg))
            if function == "compile" and id(node) not in in_functions:
                continue  # a module's value: timed with the module's patterns below
            if key in DYNAMIC:
                used_dynamic.add(key)
                found.extend(Found(p, f"{where} (built at run time)") for p in DYNAMIC[key]())
            else:
                unlisted.append(f"{where}: re.{function}({ast.unparse(arg)}, ...)")
        found.extend(Found(p, f"{relative} (module level)") for p in _module_patterns(module))
    unlisted.extend(
        f"DYNAMIC names a call that no longer exists: {key}" for key in set(DYNAMIC) - used_dynamic
    )
    return found, unlisted


# Characters adversarial input is made of: whitespace of each kind, word characters, punctuation.
CANDIDATES = " \t\n\r\x0baA1_.-/:;,()[]{}<>'\"#$@!?*+=|&%~\\`^é"
# What ends a pumped run: a character few patterns accept, a space and a newline.
SUFFIXES = ("\x00", " ", "\n")
_REPEATS = {c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT}
CATEGORIES = {
    c.CATEGORY_DIGIT: r"\d",
    c.CATEGORY_NOT_DIGIT: r"\D",
    c.CATEGORY_SPACE: r"\s",
    c.CATEGORY_NOT_SPACE: r"\S",
    c.CATEGORY_WORD: r"\w",
    c.CATEGORY_NOT_WORD: r"\W",
}


def _minimal(items: Any) -> str:
    """A short string the parsed items match (lookarounds and anchors ignored)."""
    out = []
    for op, av in items:
        if op is c.LITERAL:
            out.append(chr(av))
        elif op is c.NOT_LITERAL:
            out.append("a" if av != ord("a") else "b")
        elif op is c.ANY:
            out.append("a")
        elif op is c.IN:
            out.append(_representative(av))
        elif op in _REPEATS:
            out.append(_minimal(av[2]) * av[0])
        elif op is c.SUBPATTERN:
            out.append(_minimal(av[3]))
        elif op is c.ATOMIC_GROUP:
            out.append(_minimal(av))
        elif op is c.BRANCH:
            out.append(_minimal(av[1][0]))
    return "".join(out)


def _representative(members: Any) -> str:
    probe = re.compile("[" + "".join(_class_source(m) for m in members) + "]")
    return next((ch for ch in CANDIDATES if probe.fullmatch(ch)), "a")


def _class_source(member: Any) -> str:
    op, av = member
    if op is c.NEGATE:
        return "^"
    if op is c.LITERAL:
        return re.escape(chr(av))
    if op is c.RANGE:
        return f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}"
    if op is c.CATEGORY:
        return CATEGORIES[av]
    return ""


def _pumps(pattern: re.Pattern[str]) -> set[tuple[str, str]]:
    """(prefix, pump): for each repetition in the pattern, a string that leads up to it and what it
    repeats (each single character it accepts, and its shortest match)."""
    parsed = _parser.parse(pattern.pattern, pattern.flags & ~re.UNICODE)
    found: set[tuple[str, str]] = set()

    def accepts(body: Any) -> set[str]:
        compiled = _compiler.compile(_parser.SubPattern(parsed.state, list(body)), pattern.flags)
        chars = {ch for ch in CANDIDATES if compiled.fullmatch(ch)}
        shortest = _minimal(body)
        return chars | ({shortest} if shortest else set())

    def walk(items: Any, prefix: str) -> None:
        items = list(items)
        for index, (op, av) in enumerate(items):
            lead = prefix + _minimal(items[:index])
            if op in _REPEATS:
                if av[1] > 1:
                    found.update((lead, pump) for pump in accepts(av[2]))
                walk(av[2], lead)
            elif op is c.SUBPATTERN:
                walk(av[3], lead)
            elif op is c.ATOMIC_GROUP:
                walk(av, lead)
            elif op is c.BRANCH:
                for branch in av[1]:
                    walk(branch, lead)
            elif op in (c.ASSERT, c.ASSERT_NOT):
                walk(av[1], lead)

    walk(parsed, "")
    return found


def adversarial(pattern: re.Pattern[str]) -> Iterator[str]:
    """Runs of each character, then each repetition of the pattern pumped after what leads to it."""
    for char in " \n\ta.(<":
        yield char * SIZE + "\x00"
    for prefix, pump in sorted(_pumps(pattern)):
        body = prefix + pump * (SIZE // len(pump))
        for suffix in SUFFIXES:
            yield body + suffix


class _TooSlow(Exception):
    pass


def _interrupt(signum: int, frame: Any) -> None:
    raise _TooSlow


def _too_slow(pattern: re.Pattern[str], text: str, anchored: bool) -> bool:
    """Whether matching takes more than BOUND_SECONDS of CPU. The regex engine checks for signals
    as it runs, so a quadratic match is cut short instead of running for minutes; CPU time, not
    wall time, so a busy machine does not make a linear pattern look slow."""
    previous = signal.signal(signal.SIGVTALRM, _interrupt)
    signal.setitimer(signal.ITIMER_VIRTUAL, BOUND_SECONDS)
    try:
        pattern.fullmatch(text)
        if not anchored:
            for _ in pattern.finditer(text):
                pass
    except _TooSlow:
        return True
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)
    return False


FOUND, UNLISTED = discover()


def test_patterns_built_at_run_time_are_accounted_for() -> None:
    assert not UNLISTED, "list these in DYNAMIC with the patterns they build:\n" + "\n".join(UNLISTED)


def test_the_search_finds_the_patterns_it_should() -> None:
    # A guard on the scanner itself: these are known to exist.
    wheres = " ".join(f.where for f in FOUND)
    for expected in ("languages.py", "text_search.py", "rendering.py", "routes.py", "tags.py"):
        assert expected in wheres, expected
    assert len({(f.pattern.pattern, f.pattern.flags) for f in FOUND}) >= 50


def _unique() -> list[Found]:
    by_pattern: dict[tuple[Any, int, bool], Found] = {}
    for f in FOUND:
        by_pattern.setdefault((f.pattern.pattern, f.pattern.flags, f.anchored), f)
    return list(by_pattern.values())


@pytest.mark.parametrize("found", _unique(), ids=lambda f: f"{f.where}:{str(f.pattern.pattern)[:40]}")
def test_every_pattern_is_linear_on_adversarial_input(found: Found) -> None:
    slow = next(
        (text for text in adversarial(found.pattern) if _too_slow(found.pattern, text, found.anchored)), None
    )
    assert slow is None, (
        f"{found.where}: {found.pattern.pattern!r} takes over {BOUND_SECONDS}s on "
        f"{slow[:40]!r}...{slow[-8:]!r} ({len(slow)} characters)"
    )
