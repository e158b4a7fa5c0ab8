"""Language names: the canonical set, client aliases, and detection accuracy on the labelled samples."""

from __future__ import annotations

import runpy
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from codegram_snippets import languages

# Tests import in importlib mode (no sibling imports): the sample set is read from its file.
SAMPLES: list[tuple[str, str]] = runpy.run_path(str(Path(__file__).with_name("language_samples.py")))[
    "SAMPLES"
]

REQUIRED = {
    "python", "javascript", "typescript", "go", "rust", "java", "c", "cpp", "ruby", "php", "sql",
    "shell", "html",
}  # fmt: skip


def test_the_sample_set_covers_every_required_language_several_times() -> None:
    counts = Counter(lang for lang, _ in SAMPLES)
    assert set(counts) == REQUIRED
    assert min(counts.values()) >= 4
    assert all(len(code.strip().splitlines()) >= 5 for _, code in SAMPLES)


def test_detection_accuracy_on_the_labelled_samples(capsys: pytest.CaptureFixture[str]) -> None:
    wrong = [(lang, found, code) for lang, code in SAMPLES if (found := languages.detect(code)) != lang]
    accuracy = 1 - len(wrong) / len(SAMPLES)
    with capsys.disabled():
        report = ", ".join(f"{lang}->{found}" for lang, found, _ in wrong) or "none"
        sys.stderr.write(
            f"\nlanguage detection: {accuracy:.1%} of {len(SAMPLES)} samples right; misses: {report}\n"
        )
    # Every sample is ordinary code of its language: at most one miss in the whole set.
    assert len(wrong) <= 1, wrong


def test_pygments_alone_does_worse_than_the_combination() -> None:
    # The reason the heuristics exist; if Pygments ever gets this good, they can go.
    alone = sum(languages.pygments_guess(code) == lang for lang, code in SAMPLES)
    combined = sum(languages.detect(code) == lang for lang, code in SAMPLES)
    assert combined > alone


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("#!/usr/bin/env python3\nprint('x')\n", "python"),
        ("#!/usr/bin/env node\nx\n", "javascript"),
        ("#!/bin/sh\nls\n", "shell"),
        ("hello there, just some prose\nwith two lines\n", "text"),
        ("", "text"),
    ],
)
def test_shebangs_and_prose(code: str, expected: str) -> None:
    assert languages.detect(code) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [("Python", "python"), ("py", "python"), ("JS", "javascript"), ("c++", "cpp"), ("golang", "go"),
     ("bash", "shell"), (" TypeScript ", "typescript"), ("C#", "csharp"), ("text", "text")],
)  # fmt: skip
def test_client_names_are_canonicalised(given: str, expected: str) -> None:
    assert languages.canonical(given) == expected


@pytest.mark.parametrize("given", ["klingon", "", "python; drop table", "pyth0n"])
def test_unknown_names_are_refused(given: str) -> None:
    assert languages.canonical(given) is None


def test_every_alias_points_into_the_canonical_set() -> None:
    assert set(languages.ALIASES.values()) <= languages.CANONICAL


HOSTILE = [
    "\n" * 100_000 + "x",
    " \n" * 50_000 + "x",
    "\r\n" * 50_000 + "x",
    " " * 100_000 + "x",
    "\t" * 100_000,
    "function" + " " * 100_000 + "x",
    "def f(" + ")" * 100_000,
    "if " * 33_000,
    "fn a<" * 20_000,
    "<img" * 25_000,
    "x = 1\n" + "\n" * 100_000 + "def f():\n    pass\n",
]


@pytest.mark.parametrize("code", HOSTILE, ids=lambda code: repr(code[:12]))
def test_detection_is_bounded_work_on_hostile_code(code: str) -> None:
    # CPU time, so a busy machine does not fail it: tens of milliseconds, where backtracking
    # patterns took seconds to minutes on the first of these.
    start = time.process_time()
    languages.detect(code)
    assert time.process_time() - start < 1.0


def test_detection_reads_a_bounded_head_from_the_first_line_that_is_not_blank() -> None:
    assert languages.head("\n\n \n  def f():\r\n    pass\r\n") == "  def f():\n    pass\n"
    assert len(languages.head("x" * 100_000)) == 8000
    assert languages.head("a\n" * 10_000).count("\n") < 400
    # Leading blank lines say nothing: the code after them is detected as it would be alone.
    code = "import os\n\ndef main(argv):\n    return os.getcwd()\n"
    assert languages.detect("\n" * 60_000 + code) == languages.detect(code) == "python"
