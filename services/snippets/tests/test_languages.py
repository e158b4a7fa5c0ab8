"""Language names: the canonical set, client aliases, and detection accuracy on the labelled samples."""

from __future__ import annotations

import runpy
import sys
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
