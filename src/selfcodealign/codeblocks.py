"""Code blocks in model-written markdown: the one parser every stage uses.

The execute and select stages (tests and responses of I->R records) and evaluation (a model's
answer to a benchmark problem) all read code out of markdown the same way:

- A fence is a line of three or more backticks (or tildes), indented by anything, followed by an
  info string whose first word is the tag (`python`, `Python3`, `{.py}` all give a tag). It is
  closed by a line holding only the same character, at least as many times. The body loses the
  opening fence's indentation (a block inside a list item).
- A fence that is never closed runs to the end of the text: generation often stops at the
  closing fence (a stop string), and a model sometimes forgets it.
- Python blocks are those tagged `python`, `py`, `python3`, `py3` (any case). Untagged blocks
  count only when no block is tagged and they parse as Python; text with no fence at all counts
  when the whole text parses as Python (a record that holds plain code).
"""

from __future__ import annotations

import ast
import re
import threading
from dataclasses import dataclass

PYTHON_TAGS = frozenset({"python", "py", "python3", "py3"})
_OPEN = re.compile(r"^([ \t]*)(`{3,}|~{3,})[ \t]*([^\n`]*)$")


@dataclass(frozen=True)
class Block:
    tag: str  # lower-cased first word of the info string; "" when untagged
    body: str
    closed: bool


def _tag(info: str) -> str:
    word = info.strip().split(maxsplit=1)[0] if info.strip() else ""
    return word.strip("{}").lstrip(".").lower()


def _dedent(line: str, indent: str) -> str:
    return line[len(indent):] if line.startswith(indent) else line.lstrip(" \t")


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced block of `text`, in order."""
    blocks: list[Block] = []
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        opening = _OPEN.match(lines[i].rstrip("\r\n"))
        if opening is None:
            i += 1
            continue
        indent, fence, info = opening.groups()
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body: list[str] = []
        i += 1
        closed = False
        while i < len(lines):
            if closing.match(lines[i].rstrip("\r\n")):
                closed = True
                i += 1
                break
            body.append(_dedent(lines[i], indent))
            i += 1
        blocks.append(Block(_tag(info), "".join(body), closed))
    return blocks


_AST_LOCK = threading.Lock()


def parse_python(source: str) -> ast.Module:
    """`ast.parse`, one thread at a time. CPython 3.11 converts the parser's tree to Python
    objects with a recursion counter kept per interpreter, so two threads parsing at once (the
    sandbox checks programs on a thread pool) can fail with "SystemError: AST constructor
    recursion depth mismatch". Parsing holds the GIL anyway: the lock costs no parallelism."""
    with _AST_LOCK:
        return ast.parse(source)


def parses(source: str) -> bool:
    try:
        parse_python(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False
    return True


def python_blocks(text: str) -> list[str]:
    """The Python code blocks of a markdown text (see the module docstring for the rules)."""
    blocks = fenced_blocks(text)
    tagged = [b.body for b in blocks if b.tag in PYTHON_TAGS]
    if tagged:
        return tagged
    untagged = [b.body for b in blocks if not b.tag and parses(b.body)]
    if untagged:
        return untagged
    if not blocks and text.strip() and parses(text):
        return [text]
    return []


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.M) is not None


def solution_code(text: str, entry_point: str) -> str:
    """A benchmark answer's solution: the first Python block that defines `entry_point`, else
    the first Python (or untagged) block, else the whole text."""
    blocks = [b.body for b in fenced_blocks(text) if b.tag in PYTHON_TAGS or not b.tag]
    for body in blocks:
        if _defines(body, entry_point):
            return body.strip("\n") + "\n"
    if blocks:
        return blocks[0].strip("\n") + "\n"
    return text.strip("\n") + "\n"
