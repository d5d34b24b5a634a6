"""The shape of a few-shot library: what a base model imitates from its shots.

`library_stats(library)` gives, per example and as medians, the figures the paper's library is
compared on (README, "Few-shot library"): instruction words, response prose words (outside code
blocks), response code lines and test code lines (non-blank lines inside python blocks),
concepts per example, how many examples test with unittest, the difficulty and category counts,
and the prose layout (a paragraph is one line, never wrapped).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from selfcodealign.codeblocks import fenced_blocks, python_blocks
from selfcodealign.prompts.library import Example, Library

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"^\s*(\d+[.)]|[-*+])\s")


def _outside_code(text: str) -> list[str | None]:
    """The lines of `text` outside fenced code blocks; None stands for each fenced block."""
    out: list[str | None] = []
    inside, fence = False, ""
    for line in text.splitlines():
        opening = _FENCE.match(line)
        if opening and (not inside or line.strip().startswith(fence)):
            inside, fence = (False, "") if inside else (True, opening.group(1))
            if inside:
                out.append(None)
            continue
        if not inside:
            out.append(line)
    return out


def prose_lines(text: str) -> list[str]:
    """The non-blank lines of `text` outside fenced code blocks."""
    return [line for line in _outside_code(text) if line is not None and line.strip()]


def wrapped_paragraphs(text: str) -> int:
    """Paragraphs (outside code) spread over several lines: hard-wrapped prose. A list item
    or a heading starts a line of its own and does not count as a wrap."""
    count, previous = 0, False
    for line in _outside_code(text):
        prose = line is not None and bool(line.strip()) and not _LIST_ITEM.match(line) \
            and not line.startswith("#")
        count += prose and previous
        previous = prose
    return count


def code_lines(text: str) -> int:
    return sum(1 for block in python_blocks(text) for line in block.splitlines() if line.strip())


@dataclass
class ExampleStats:
    id: str
    instruction_words: int
    response_prose_words: int
    response_code_lines: int
    test_code_lines: int
    concepts: int
    unittest: bool
    python_blocks_in_response: int
    wrapped_paragraphs: int
    prose_line_chars: float


@dataclass
class LibraryStats:
    examples: list[ExampleStats]
    medians: dict[str, float] = field(default_factory=dict)
    unittest_examples: int = 0
    difficulties: dict[str, int] = field(default_factory=dict)
    categories: dict[str, int] = field(default_factory=dict)

    def table(self) -> list[tuple[str, Any]]:
        rows: list[tuple[str, Any]] = [(name, value) for name, value in self.medians.items()]
        rows += [("unittest examples", self.unittest_examples),
                 ("difficulties", dict(self.difficulties)),
                 ("categories", dict(self.categories))]
        return rows


def example_stats(example: Example) -> ExampleStats:
    prose = prose_lines(example.response)
    text_lines = prose + prose_lines(example.instruction) + prose_lines(example.tests)
    blocks = [b for b in fenced_blocks(example.response) if b.tag in ("python", "py", "")]
    return ExampleStats(
        id=example.id,
        instruction_words=len(example.instruction.split()),
        response_prose_words=sum(len(line.split()) for line in prose),
        response_code_lines=code_lines(example.response),
        test_code_lines=code_lines(example.tests),
        concepts=len([c for c in example.concepts if c]),
        unittest="unittest" in "\n".join(python_blocks(example.tests)),
        python_blocks_in_response=len(blocks),
        wrapped_paragraphs=sum(wrapped_paragraphs(t) for t in (
            example.instruction, example.response, example.tests)),
        prose_line_chars=statistics.mean(len(line) for line in text_lines) if text_lines
        else 0.0,
    )


def library_stats(library: Library) -> LibraryStats:
    per = [example_stats(example) for example in library.examples]
    medians = {
        name: float(statistics.median(getattr(s, name) for s in per))
        for name in ("instruction_words", "response_prose_words", "response_code_lines",
                     "test_code_lines", "concepts", "prose_line_chars")
    }
    return LibraryStats(
        examples=per, medians=medians, unittest_examples=sum(s.unittest for s in per),
        difficulties=dict(Counter(e.difficulty for e in library.examples)),
        categories=dict(Counter(e.kind for e in library.examples)))
