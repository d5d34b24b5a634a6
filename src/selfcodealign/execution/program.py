"""Assembling a runnable Program from an I->R record (`response` and `tests`, markdown or code).

Which code blocks count (`codeblocks.py` reads the fences, for every stage):

- Python blocks are fences tagged `python`, `py`, `python3` or `py3`; a fence left open runs
  to the end. Untagged fences count only when no block is tagged and they parse as Python; text
  with no fence at all counts when the whole text parses as Python (a record of plain code).
- The implementation is every Python block of the response, in order, except *usage examples*:
  a block that defines nothing (no def, class, import or assignment at its top level, only calls,
  prints and asserts) is an example, not the implementation, and is left out.
- Top-level statements of the implementation that would wait for a user or serve forever
  (`input()`, `serve_forever()`, `run_forever()`, `app.run()`, `uvicorn.run()`, `mainloop()`)
  are removed; functions that call them are kept (tests rarely call them, and if they do, stdin
  is /dev/null). A `__main__` guard needs no removal: the implementation runs as module
  `solution`, so the guard does not fire.
- The tests are every Python block of the tests text, in order.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import Any

from selfcodealign.codeblocks import parse_python, python_blocks
from selfcodealign.execution.base import Program

__all__ = ["assemble", "python_blocks"]

_DEFINES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom,
            ast.Assign, ast.AnnAssign, ast.AugAssign)
_NEVER_DROP = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)
_BLOCKING = {"input", "serve_forever", "run_forever", "mainloop"}
_BLOCKING_QUALIFIED = {"app.run", "uvicorn.run"}


def _parse(source: str) -> ast.Module | None:
    try:
        return parse_python(source)
    except (SyntaxError, ValueError):
        return None


def _call_name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _call_name(node.value)
        return f"{inner}.{node.attr}" if inner else node.attr
    return ""


def _blocks_forever(stmt: ast.stmt) -> bool:
    for node in ast.walk(stmt):
        if isinstance(node, ast.Call):
            name = _call_name(node.func)
            if name.split(".")[-1] in _BLOCKING or name in _BLOCKING_QUALIFIED:
                return True
    return False


def _implementation_block(source: str) -> str | None:
    """The block as it should run, or None when it is only a usage example."""
    tree = _parse(source)
    if tree is None:
        return source  # let the sandbox report the syntax error
    if not any(isinstance(node, _DEFINES) for node in tree.body):
        return None
    lines = source.splitlines(keepends=True)
    drop = [s for s in tree.body if not isinstance(s, _NEVER_DROP) and _blocks_forever(s)]
    for stmt in reversed(drop):
        lines[stmt.lineno - 1:stmt.end_lineno or stmt.lineno] = ["pass\n"]
    return "".join(lines)


def assemble(record: Mapping[str, Any]) -> Program | str:
    """A Program from an I->R record, or the snake_case reason it cannot be built."""
    response, tests = record.get("response"), record.get("tests")
    if not isinstance(response, str) or not response.strip():
        return "missing_response"
    if not isinstance(tests, str) or not tests.strip():
        return "missing_tests"
    kept = [b for b in (_implementation_block(b) for b in python_blocks(response)) if b]
    if not kept:
        return "no_code_in_response"
    test_blocks = python_blocks(tests)
    if not test_blocks:
        return "no_code_in_tests"
    return Program(code="\n\n".join(kept), tests="\n\n".join(test_blocks))
