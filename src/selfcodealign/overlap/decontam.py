"""Benchmark decontamination: exact normalised substrings (Aho-Corasick) and n-gram overlap.

From each benchmark task it takes the texts worth protecting: the problem statement (HumanEval's
docstring, MBPP's prompt), the canonical solution and, for MBPP, the test assertions; for a user
file, every string field among prompt/question/text/canonical_solution/solution/code/test. A
document is contaminated when, after normalising (lower case, whitespace runs collapsed), it
contains one of those texts (if at least `min_chars` long, so that `return a + b` matches
nothing), or shares an `ngram`-word sequence with one. Every hit names the task it matched.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from selfcodealign import benchmarks
from selfcodealign.extras import require

_SPACE = re.compile(r"\s+")
_TOKEN = re.compile(r"\w+")
_FIELDS = ("prompt", "question", "text", "canonical_solution", "solution", "code", "test",
           "assertion")


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text.lower()).strip()


@dataclass(frozen=True)
class Hit:
    task_id: str
    kind: str  # "substring" or "ngram"
    match: str

    def describe(self) -> str:
        return f"{self.task_id} ({self.kind}: {self.match[:80]!r})"


def _docstring(prompt: str) -> str | None:
    try:
        tree = ast.parse(prompt)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return ast.get_docstring(node)
    return None


def task_texts(benchmark: str, task: dict[str, Any]) -> list[str]:
    """The texts of one task that a training example must not contain."""
    texts: list[str] = []
    if benchmark == "humaneval":
        texts += [d for d in [_docstring(task.get("prompt", ""))] if d]
        texts.append(task.get("canonical_solution", ""))
    elif benchmark == "mbpp":
        texts.append(str(task.get("prompt", "")).strip().strip("'\"").strip())
        texts.append(task.get("canonical_solution", ""))
        texts += [line for line in str(task.get("assertion", "")).splitlines() if line.strip()]
    else:
        texts += [v for k in _FIELDS if isinstance(v := task.get(k), str)]
    return [t for t in texts if t and t.strip()]


class Decontaminator:
    """Checks documents against a set of benchmarks; build once, check many."""

    def __init__(self, names: Iterable[str], folder: str | None = None, *, ngram: int = 10,
                 min_chars: int = 40) -> None:
        ahocorasick = require("ahocorasick", extra="seeds", feature="decontamination")
        self.automaton = ahocorasick.Automaton()
        self.ngrams: dict[tuple[str, ...], str] = {}
        self.ngram = ngram
        self.tasks = 0
        for name in names:
            kind = name if name in benchmarks.RELEASES else "file"
            for index, task in enumerate(benchmarks.load(name, folder)):
                task_id = str(task.get("task_id") or f"{name}#{index}")
                self.tasks += 1
                for text in task_texts(kind, task):
                    self._add(task_id, text, min_chars)
        self.empty = len(self.automaton) == 0
        if not self.empty:
            self.automaton.make_automaton()

    def _add(self, task_id: str, text: str, min_chars: int) -> None:
        norm = normalise(text)
        if len(norm) >= min_chars and norm not in self.automaton:
            self.automaton.add_word(norm, (task_id, norm))
        tokens = _TOKEN.findall(text.lower())
        for i in range(len(tokens) - self.ngram + 1):
            self.ngrams.setdefault(tuple(tokens[i:i + self.ngram]), task_id)

    def check(self, text: str) -> Hit | None:
        """The first benchmark hit in `text`, or None."""
        if not self.empty:
            for _, (task_id, pattern) in self.automaton.iter(normalise(text)):
                return Hit(task_id, "substring", pattern)
        tokens = _TOKEN.findall(text.lower())
        for i in range(len(tokens) - self.ngram + 1):
            gram = tuple(tokens[i:i + self.ngram])
            if (task_id := self.ngrams.get(gram)) is not None:
                return Hit(task_id, "ngram", " ".join(gram))
        return None
