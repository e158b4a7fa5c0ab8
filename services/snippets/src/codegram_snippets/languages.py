"""Language names: one small canonical lowercase set, client aliases, and detection from the code.

Detection combines cheap heuristics (shebangs, distinctive keywords and library calls, each pattern
weighted by how much it gives a language away) with Pygments' `guess_lexer`, whose guess counts as
one more piece of evidence. Pygments alone is weak on short snippets (it names plain C "C++" or
JavaScript "Text"), while a few patterns per language settle the ordinary cases; Pygments decides
only when no heuristic speaks. The labelled samples in tests/language_samples.py hold it to the
languages API.md names.
"""

# The evidence table keeps one pattern per line, which is how it reads and is reviewed.
# ruff: noqa: E501

from __future__ import annotations

import re
from collections.abc import Iterable

from pygments.lexers import guess_lexer
from pygments.util import ClassNotFound

TEXT = "text"

# Canonical names: what is stored, returned and accepted by the `language` filter.
CANONICAL: frozenset[str] = frozenset(
    {
        "python", "javascript", "typescript", "go", "rust", "java", "c", "cpp", "csharp", "ruby",
        "php", "sql", "shell", "html", "css", "kotlin", "swift", "scala", "json", "yaml", "markdown",
        "dockerfile", "lua", "perl", "r", "haskell", "elixir", "dart", "text",
    }
)  # fmt: skip

# What clients (and Pygments' lexer aliases) call them.
ALIASES: dict[str, str] = {
    "py": "python", "python3": "python", "py3": "python", "python2": "python",
    "js": "javascript", "node": "javascript", "nodejs": "javascript", "jsx": "javascript",
    "ts": "typescript", "tsx": "typescript",
    "golang": "go",
    "rs": "rust",
    "c++": "cpp", "cxx": "cpp", "cc": "cpp", "hpp": "cpp",
    "c#": "csharp", "cs": "csharp",
    "rb": "ruby",
    "php3": "php", "php4": "php", "php5": "php",
    "postgresql": "sql", "postgres": "sql", "mysql": "sql", "sqlite": "sql", "sqlite3": "sql",
    "plpgsql": "sql", "tsql": "sql", "psql": "sql",
    "sh": "shell", "bash": "shell", "zsh": "shell", "ksh": "shell", "console": "shell",
    "shell-session": "shell",
    "htm": "html", "xhtml": "html",
    "yml": "yaml", "md": "markdown", "docker": "dockerfile", "kt": "kotlin",
    "txt": "text", "plaintext": "text", "plain": "text", "none": "text",
}  # fmt: skip


def canonical(name: str) -> str | None:
    """The canonical name for what a client or Pygments calls a language; None when unknown."""
    key = name.strip().lower()
    if key in CANONICAL:
        return key
    return ALIASES.get(key)


_M = re.MULTILINE
_MI = re.MULTILINE | re.IGNORECASE

# (language, pattern, weight): each pattern counts at most three times, so one long file of a
# common construct cannot drown the distinctive ones.
#
# Every pattern must stay linear in the text (a match holds the GIL; `^\s*` under MULTILINE took
# seconds on a run of newlines): indentation is `[ \t]*+`, never `\s*` that crosses lines; runs
# that follow each other are possessive (`*+`, `++`) so they never re-split; `.*` appears only in
# patterns anchored at a line start, and unanchored ones bound their spans (`.{0,200}`).
# tests/contract/test_regex_linear.py times each pattern on adversarial text.
_EVIDENCE: list[tuple[str, re.Pattern[str], float]] = [
    (lang, re.compile(pattern, flags), weight)
    for lang, pattern, flags, weight in [
        ("python", r"^[ \t]*+def \w++\(.*\)[ \t]*+(->[ \t]*+[\w\[\], .]++)?:[ \t]*+$", _M, 3),
        ("python", r"^[ \t]*+(from [\w.]++ import \w|import [\w.]++([ \t]++as \w++)?[ \t]*+$)", _M, 2),
        ("python", r"^[ \t]*+(elif |except\b.*:|class \w++(\(.*\))?:[ \t]*+$|with .* as \w++:)", _M, 2),
        ("python", r"\bself\.\w+|__name__ == ['\"]__main__['\"]|\bNone\b|\bTrue\b|\bFalse\b", _M, 1),
        ("python", r"^[ \t]*+(for \w++(, \w++)*+ in .*|if .*|while .*|else|try):[ \t]*+$", _M, 1.5),
        ("python", r"^[ \t]*+@\w++(\.\w++)*+(\(.*\))?[ \t]*+$", _M, 0.5),
        ("javascript", r"\b(require\(['\"]|module\.exports|console\.log\()", _M, 2),
        ("javascript", r"\b(document|window)\.\w+|addEventListener\(", _M, 2),
        ("javascript", r"\b(const|let|var) \w+ = |=>|===|!==", _M, 1),
        ("javascript", r"\bfunction\s*+(\w++\s*+)?\([^:)]{0,200}\)\s*+\{|\basync function\b|\.then\(", _M, 1),
        ("typescript", r"\b\w++\??[ \t]*+:[ \t]*+(string|number|boolean|any|void|unknown|never)(\[\])?\s*+[,;)=|{]", _M, 3),
        ("typescript", r"^[ \t]*+(export[ \t]++)?(interface \w++(<.*>)?[ \t]*+(extends [\w<>, ]++)?[ \t]*+\{|type \w++(<.*>)? = )", _M, 3),
        ("typescript", r"\b(private|public|readonly) \w++[ \t]*+:|\bas const\b|\benum \w++ \{|<\w++>\(|\): Promise<", _M, 2),
        ("go", r"^package \w++[ \t]*+$", _M, 3),
        ("go", r"^func (\(\w+ \*?\w+\) )?\w+\(|\bfunc\(", _M, 3),
        ("go", r":= |\bfmt\.\w+\(|\berr != nil\b|^import \($|\bchan \w+|\bgo func\b|\bdefer \w+", _M, 2),
        ("rust", r"\bfn \w++(<.{0,200}>)?\(|\blet mut \b|\bimpl(<.{0,200}>)? \w|\bpub (fn|struct|enum|mod)\b", _M, 3),
        ("rust", r"\b(println|vec|format|macro_rules|assert_eq|panic)!|\buse (std|crate)::|&mut |&self\b", _M, 3),
        ("rust", r"\b(Option|Result|Vec|Box|Some|Ok|Err)(<|\()|\bmatch \w+ \{|=> \{?", _M, 1),
        ("java", r"\bpublic static void main\(String|System\.(out|err)\.print|\bimport java\.", _M, 4),
        ("java", r"^[ \t]*+(public|private|protected)[ \t]++(static[ \t]++)?(final[ \t]++)?(class|interface|enum|void|[\w<>\[\]]++ \w++\()", _M, 2),
        ("java", r"@Override|\bthrows \w|^package [\w.]++;[ \t]*+$|\bnew \w++(<.{0,200}>)?\(.{0,200}\);|\bString\[\]", _M, 2),
        ("c", r"#include <(stdio|stdlib|string|unistd|stdint|math|errno|assert|ctype|time)\.h>", _M, 4),
        ("c", r"\b(printf|fprintf|malloc|calloc|free|memcpy|strcmp|strlen|scanf)\(|\btypedef struct\b", _M, 2),
        ("c", r"^[ \t]*+(int|void|char|static|unsigned|long|double)[ \t]++\*?\w++\(.*\)[ \t]*+(\{[ \t]*+)?$|\bNULL\b|\bchar \*", _M, 1),
        ("cpp", r"#include <(iostream|vector|string|map|unordered_map|memory|algorithm|set|fstream|thread)>", _M, 4),
        ("cpp", r"\bstd::|\busing namespace \w+;|\btemplate\s*<|\bnullptr\b|\bstd::(cout|endl)", _M, 3),
        ("cpp", r"\b(cout|cin|endl)\b|\bnamespace \w+ \{|\bauto& |\bconst \w+&|\bclass \w+ : public\b|::\w+\(", _M, 2),
        ("ruby", r"\.each(_with_index)? do \|\w+(, \w+)*\||\bdo \|\w+(, \w+)*\||\battr_(accessor|reader|writer)\b", _M, 3),
        ("ruby", r"^[ \t]*+(elsif |unless |(def \w++[?!]?(\(.*\))?|class \w++ < \w++|module \w++)[ \t]*+$)", _M, 2.5),
        ("ruby", r"^[ \t]*+end[ \t]*+$|^[ \t]*+(puts|require|require_relative) |\b\w++\.nil\?|:\w++ => |#\{", _M, 1.5),
        ("php", r"<\?php", _M, 8),
        ("php", r"\$this->|\$\w+->\w+\(|\bpublic function\b|\bfunction \w+\(\$|^namespace [\w\\]+;|^use [\w\\]+;", _M, 3),
        ("php", r"\$\w++\s*+(=|->|\[)|\becho \$|\barray\(|=> \$", _M, 1.5),
        ("sql", r"^[ \t]*+(SELECT\b.+\bFROM\b|INSERT INTO\b|UPDATE \w++ SET\b|DELETE FROM\b|CREATE (TABLE|INDEX|VIEW|UNIQUE INDEX)\b|ALTER TABLE\b|WITH \w++ AS \()", _MI, 4),
        ("sql", r"\b(INNER |LEFT |RIGHT )?JOIN \w+( \w+)? ON\b|\bGROUP BY\b|\bORDER BY\b|\bPRIMARY KEY\b|\bNOT NULL\b|\bVARCHAR\(", _MI, 2),
        ("sql", r"^[ \t]*+(SELECT|FROM|WHERE|AND|OR|LIMIT|HAVING|VALUES)\b", _MI, 1),
        ("shell", r"^#![ \t]*+/(usr/)?bin/(env[ \t]++)?(ba|z|k|da)?sh\b", _M, 10),
        ("shell", r"^[ \t]*+(if \[\[? |(fi|then|done|do|esac)[ \t]*+$|export \w++=|set -[euxo]|local \w++=)", _M, 2.5),
        ("shell", r"^[ \t]*+(sudo |apt(-get)? |brew |npm |pip3? |cd |mkdir |rm -|curl |wget |git |docker |chmod |echo |source )", _M, 2),
        ("shell", r"\| (grep|awk|sed|xargs|sort|uniq|head|tail|wc|cut)\b|\$\(|\$\{?\w++\}?|2>&1|>\s*+/dev/null|\s&&\s", _M, 1),
        ("html", r"<!DOCTYPE html>|<html[\s>]", _MI, 8),
        ("html", r"</(div|p|span|body|head|ul|ol|li|a|table|tr|td|section|header|footer|nav|form|button|h[1-6])>", _MI, 2),
        ("html", r"<(meta|link|img|input|br)\b[^>]{0,500}>|<(div|p|span|a|ul|li|body|head|title)( [\w-]++=\"[^\"]{0,500}\")*+>", _MI, 1),
    ]
]  # fmt: skip

_SHEBANGS = [
    (re.compile(r"^#!.*\bpython[0-9.]*\b"), "python"),
    (re.compile(r"^#!.*\bnode\b"), "javascript"),
    (re.compile(r"^#!.*\bruby\b"), "ruby"),
    (re.compile(r"^#!.*\bphp\b"), "php"),
    (re.compile(r"^#!.*\b(ba|z|k|da)?sh\b"), "shell"),
]

# What detection reads: from the first line that is not blank, this many lines and characters at
# most. Enough to decide, and bounded work whatever the snippet (100 KiB of newlines included).
_DETECT_CHARS = 8000
_DETECT_LINES = 400
_PYGMENTS_WEIGHT = 2.5
# Pygments runs every lexer's analyser over its input: a shorter head keeps it near 50 ms at worst.
_PYGMENTS_CHARS = 2000
# Below this much evidence the code is not named at all; from this much, with a clear lead over
# the runner-up, the heuristics decide alone.
_MIN_SCORE = 2.0
_DECISIVE = 5.0


def head(code: str) -> str:
    """The part of `code` detection reads, with `\\r\\n` and `\\r` line ends read as `\\n`.

    Leading blank lines are skipped (they say nothing, and a snippet may be little else). Every
    evidence pattern is linear in what it reads (the patterns avoid nested or adjacent
    repetitions that backtrack; tests/contract/test_regex_linear.py holds them to it), and this
    bounds what that is.
    """
    first = len(code) - len(code.lstrip())
    start = max(code.rfind("\n", 0, first), code.rfind("\r", 0, first)) + 1
    text = code[start : start + _DETECT_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    return "\n".join(text.split("\n", _DETECT_LINES)[:_DETECT_LINES])


def scores(code: str) -> dict[str, float]:
    """The heuristic evidence for each language (Pygments' guess excluded)."""
    text = head(code)
    result: dict[str, float] = {}
    for lang, pattern, weight in _EVIDENCE:
        hits = sum(1 for _ in zip(range(3), pattern.finditer(text), strict=False))
        if hits:
            result[lang] = result.get(lang, 0.0) + weight * hits
    # TypeScript is JavaScript with types: its JavaScript evidence counts for it too.
    if "typescript" in result:
        result["typescript"] += result.get("javascript", 0.0)
    # C++ is mostly C: C evidence is shared, so only C++'s own evidence separates them.
    if "cpp" in result:
        result["cpp"] += result.get("c", 0.0)
    return result


def pygments_guess(code: str) -> str | None:
    try:
        lexer = guess_lexer(head(code)[:_PYGMENTS_CHARS])
    except ClassNotFound:
        return None
    return _first_canonical([lexer.name, *lexer.aliases])


def _first_canonical(names: Iterable[str]) -> str | None:
    for name in names:
        found = canonical(name)
        if found is not None:
            return found
    return None


def detect(code: str) -> str:
    """The canonical language of `code`, or "text" when nothing gives it away."""
    text = head(code)
    first_line = text.lstrip()[:200].split("\n", 1)[0]
    for pattern, lang in _SHEBANGS:
        if pattern.match(first_line):
            return lang
    evidence = scores(text)
    ranked = sorted(evidence.values(), reverse=True)
    decisive = bool(ranked) and ranked[0] >= _DECISIVE and (len(ranked) == 1 or ranked[0] - ranked[1] >= 2)
    if not decisive:
        # Pygments tries every lexer it has (tens of milliseconds): only asked when in doubt.
        guess = pygments_guess(text)
        if guess is not None and guess != TEXT:
            evidence[guess] = evidence.get(guess, 0.0) + _PYGMENTS_WEIGHT
    if not evidence:
        return TEXT
    # Ties go to the language listed first in the evidence table, so the answer is stable.
    best = max(evidence.items(), key=lambda kv: (kv[1], -_TABLE_ORDER.get(kv[0], len(_TABLE_ORDER))))
    return best[0] if best[1] >= _MIN_SCORE else TEXT


_TABLE_ORDER: dict[str, int] = {}
for _entry in _EVIDENCE:
    _TABLE_ORDER.setdefault(_entry[0], len(_TABLE_ORDER))
