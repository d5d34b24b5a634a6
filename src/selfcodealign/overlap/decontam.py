"""Benchmark decontamination: normalised substrings and word n-grams, in one Aho-Corasick scan.

From each benchmark task it takes the texts worth protecting: the problem statement (every
docstring of a HumanEval prompt, MBPP's prompt), each helper function a HumanEval prompt gives
whole, the canonical solution and, for MBPP, the test assertions; for a user
file, every string field among prompt/question/text/canonical_solution/solution/code/test.

Texts are normalised to their word tokens (letters, digits, `_`; lower case) joined by single
spaces, so formatting, punctuation and case changes do not hide a copy. A document is
contaminated when its normalised form contains a whole benchmark text (if that text has at least
`min_words` words, so that `return a + b` matches nothing) or any `ngram`-word sequence of one.
Both kinds of pattern live in one Aho-Corasick automaton: a document is scanned once, whatever
the number of benchmark texts. `check_many` normalises a whole batch at once (documents joined
by a `|` token that no pattern contains; spaces collapsed by a numpy mask) and scans it once.
Every hit names the task it matched (a whole text preferred).
"""

from __future__ import annotations

import ast
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from selfcodealign import benchmarks
from selfcodealign.codeblocks import parse_python
from selfcodealign.extras import require

_FIELDS = ("prompt", "question", "text", "canonical_solution", "solution", "code", "test",
           "assertion")
# bytes.translate table: ASCII that is not a letter, digit or `_` becomes a space; upper -> lower
_TABLE = bytes(c + 32 if 65 <= c <= 90 else c if (48 <= c <= 57 or 97 <= c <= 122 or c == 95
                                                   or c >= 128) else 32 for c in range(256))
# the batch table: \x01 (joining documents) becomes `|`, a token no pattern contains
_BATCH_TABLE = _TABLE[:1] + b"|" + _TABLE[2:]


def normalise(text: str) -> str:
    """Word tokens joined by single spaces, with a space at each end."""
    data = text.encode("utf-8", "surrogatepass").translate(_TABLE).split()
    return " " + b" ".join(data).decode("latin-1") + " "  # byte-exact, no UTF-8 decoding


@dataclass(frozen=True)
class Hit:
    task_id: str
    kind: str  # "substring" (a whole benchmark text) or "ngram"
    match: str

    def describe(self) -> str:
        return f"{self.task_id} ({self.kind}: {self.match[:80]!r})"


def prompt_texts(prompt: str) -> list[str]:
    """From a benchmark prompt: the docstring of every function it defines, and the whole
    source of every helper it gives complete (a function with a body beyond its docstring),
    so a copy of any of them is found, not only of the first."""
    try:
        tree = parse_python(prompt)
    except (SyntaxError, ValueError, RecursionError):
        return []
    texts = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        doc = ast.get_docstring(node)
        if doc:
            texts.append(doc)
        body = node.body[1:] if doc else node.body
        if any(not (isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and
                    isinstance(stmt.value, ast.Constant))) for stmt in body):
            source = ast.get_source_segment(prompt, node)
            if source:
                texts.append(source)
    return texts


def task_texts(benchmark: str, task: dict[str, Any]) -> list[str]:
    """The texts of one task that a training example must not contain."""
    texts: list[str] = []
    if benchmark == "humaneval":
        texts += prompt_texts(task.get("prompt", ""))
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
                 min_words: int = 8) -> None:
        ahocorasick = require("ahocorasick", extra="seeds", feature="decontamination")
        self.automaton = ahocorasick.Automaton()
        self.np = require("numpy", extra="seeds", feature="decontamination")
        self.ngram, self.min_words = ngram, min_words
        self.tasks = 0
        for name in names:
            kind = name if name in benchmarks.RELEASES else "file"
            for index, task in enumerate(benchmarks.load(name, folder)):
                task_id = str(task.get("task_id") or f"{name}#{index}")
                self.tasks += 1
                for text in task_texts(kind, task):
                    self._add(task_id, text)
        if len(self.automaton):
            self.automaton.make_automaton()

    def _add(self, task_id: str, text: str) -> None:
        tokens = normalise(text).split()
        if len(tokens) >= self.min_words:
            whole = " " + " ".join(tokens) + " "
            self.automaton.add_word(whole, (task_id, "substring", whole.strip()))
        for i in range(len(tokens) - self.ngram + 1):
            gram = " " + " ".join(tokens[i:i + self.ngram]) + " "
            if gram not in self.automaton:
                self.automaton.add_word(gram, (task_id, "ngram", gram.strip()))

    def check(self, text: str) -> Hit | None:
        """The benchmark hit in `text` (a whole-text match preferred), or None."""
        if not len(self.automaton):
            return None
        found = None
        for _, (task_id, kind, match) in self.automaton.iter(normalise(text)):
            if kind == "substring":
                return Hit(task_id, kind, match)
            found = found or Hit(task_id, kind, match)
        return found

    def check_many(self, texts: Sequence[str]) -> list[Hit | None]:
        """`check` for each text, normalising and scanning the batch as one string."""
        if not len(self.automaton) or not texts:
            return [None] * len(texts)
        joined = " \x01 ".join(texts)
        if joined.count("\x01") != len(texts) - 1:  # a document has \x01 itself: one by one
            return [self.check(text) for text in texts]
        np = self.np  # collapse runs of spaces with one vectorised mask: no token objects
        data = np.frombuffer(b" " + joined.encode("utf-8", "surrogatepass")
                             .translate(_BATCH_TABLE) + b" ", np.uint8)
        space = data == 32
        keep = np.empty(len(data), bool)
        keep[0] = True
        np.logical_not(space[1:] & space[:-1], out=keep[1:])
        scan = data[keep].tobytes().decode("latin-1")  # byte-exact, as in `normalise`
        bounds, at = [], scan.find("|")
        while at >= 0:  # where each document ends (a C-speed search per document)
            bounds.append(at)
            at = scan.find("|", at + 1)
        found: list[Hit | None] = [None] * len(texts)
        for end, (task_id, kind, match) in self.automaton.iter(scan):
            doc = bisect_left(bounds, end)
            current = found[doc]
            if current is None or (kind == "substring" and current.kind != "substring"):
                found[doc] = Hit(task_id, kind, match)
        return found
