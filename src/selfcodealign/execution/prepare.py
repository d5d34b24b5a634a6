"""Everything about a program that needs no running, done in the zygote before the fork.

The implementation and the tests are parsed, the tests instrumented (instrument.py), both
compiled with `optimize=0` (asserts are kept whatever the interpreter flags). Also found here:
the names the implementation defines, the modules the tests import that do not exist but name
only what the implementation defines (`from calculator import add`: they become the
implementation), whether the tests need pytest, and where the tests end (an exit at the last
statement of the tests, or of a test function, skips nothing).
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from dataclasses import dataclass
from types import CodeType
from typing import Any

from selfcodealign.execution import pytest_plugin
from selfcodealign.execution.instrument import instrument_tests, nodes, statements


def compile_source(source: str, filename: str, tree: ast.Module | None = None) -> Any:
    return compile(tree if tree is not None else source, filename, "exec", optimize=0,
                   dont_inherit=True)


def defined_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def aliases(tests: ast.Module, defined: set[str]) -> set[str]:
    """Module names the tests import or patch that name only what the implementation
    defines: `from calculator import add`, `patch("app.fetch")`."""
    wanted: dict[str, set[str]] = {}
    imported: dict[str, set[str]] = {}
    plain: set[str] = set()
    for node in nodes(tests):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if "." not in node.module:
                wanted.setdefault(node.module, set()).update(a.name for a in node.names)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            imported.setdefault(node.value.id, set()).add(node.attr)  # `calculator.add(...)`
        elif isinstance(node, ast.Import):
            plain.update(a.name for a in node.names if "." not in a.name and not a.asname)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            head, _, attr = node.value.partition(".")
            if attr and head.isidentifier() and attr.split(".")[0] in defined:
                wanted.setdefault(head, set()).add(attr.split(".")[0])
    for name in plain:
        wanted.setdefault(name, set()).update(imported.get(name, ()))
    found = set()
    for name, names in wanted.items():
        if name in sys.modules or not names or not names - {"*"} <= defined:
            continue
        try:
            if importlib.util.find_spec(name) is None:
                found.add(name)
        except (ImportError, ValueError):
            continue
    return found


@dataclass
class Prepared:
    """Everything about a program that needs no running: parsed, instrumented, compiled. Made
    in the zygote before the fork, so the child does not pay for it in copied pages."""

    impl: CodeType
    tests: CodeType
    tests_source: str
    defined: set[str]
    aliases: set[str]
    pytest: bool
    mocks: bool
    # The lines of the last statement of the tests' module (key 0) and of each function they
    # define (key: the function's first line): an exit there skips nothing.
    last_lines: dict[int, tuple[int, int]]


def prepare(code: str, tests: str) -> Prepared | dict[str, Any]:
    """The prepared program, or the syntax_error summary."""
    try:
        impl_tree = ast.parse(code, "solution.py")
        impl = compile_source(code, "solution.py", impl_tree)
        tree = ast.parse(tests, "tests.py")
        pytest = pytest_plugin.uses_pytest(tree) and importlib.util.find_spec("pytest") is not None
        defined = defined_names(impl_tree)
        found = aliases(tree, defined)
        compiled = compile_source(tests, "tests.py", instrument_tests(tree))
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        return {"status": "syntax_error", "detail": f"{type(exc).__name__}: {exc}"[:1500]}
    return Prepared(impl, compiled, tests, defined, found, pytest, "mock" in tests,
                    _last_statements(tree))


def _last_lines(body: list[ast.stmt]) -> tuple[int, int]:
    """Lines of the statement that ends a body: its last statement, or the last one inside a
    final `if`/`with`/`try` block (`if __name__ == "__main__": ...; sys.exit(0)`)."""
    if not body:
        return (0, 0)
    stmt = body[-1]
    while isinstance(stmt, ast.If | ast.With | ast.Try) and stmt.body:
        stmt = stmt.body[-1]
    return (stmt.lineno, stmt.end_lineno or stmt.lineno)


def _last_statements(tree: ast.Module) -> dict[int, tuple[int, int]]:
    found = {0: _last_lines(tree.body)}
    for node in statements(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            found[first] = _last_lines(node.body)
    return found


def exits_at_the_end(exc: BaseException, last: dict[int, tuple[int, int]]) -> bool:
    """Whether every frame of the tests that the exit passed through was at its last
    statement (nothing of the tests was skipped by it)."""
    tb, seen = exc.__traceback__, False
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == "tests.py":
            key = 0 if code.co_name == "<module>" else code.co_firstlineno
            first, end = last.get(key, (0, 0))
            if not first <= tb.tb_lineno <= end:
                return False
            seen = True
        tb = tb.tb_next
    return seen
