"""Static checks of model-written tests that cannot fail as written (status `suspect`).

Parsing is safe (nothing runs). Flags: asserts on a tuple or a true constant, `or <true>` in an
assert, asserts inside a `try` whose handler swallows AssertionError (or Exception, or
everything), and calls that end or escape the process from the tests (`sys.exit`, `exit`,
`quit`, `os._exit`, `os.kill`, `os.abort`, `atexit.register`) or replace `sys.excepthook`.
`unittest.main()` is fine: it exits only after running the tests.
"""

from __future__ import annotations

import ast

_EXITS = {"sys.exit", "exit", "quit", "os._exit", "os.kill", "os.abort", "atexit.register",
          "os.killpg", "signal.alarm"}
_SWALLOWING = {"AssertionError", "Exception", "BaseException"}


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def _truthy_constant(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and bool(node.value)


def _assert_findings(node: ast.Assert) -> list[str]:
    test = node.test
    where = f"line {node.lineno}"
    if isinstance(test, ast.Tuple) and test.elts:
        return [f"{where}: assert on a tuple is always true"]
    if _truthy_constant(test):
        return [f"{where}: assert on a true constant"]
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or) and any(
            _truthy_constant(v) for v in test.values):
        return [f"{where}: 'or <true value>' makes the assert always true"]
    return []


def _swallows(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(_name(t).split(".")[-1] in _SWALLOWING for t in types)


def lint_tests(source: str | ast.Module) -> list[str]:
    """Findings that make the tests unable to fail; empty when none (or unparsable)."""
    try:
        tree = ast.parse(source) if isinstance(source, str) else source
    except (SyntaxError, ValueError):
        return []
    findings: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            findings += _assert_findings(node)
        elif isinstance(node, ast.Try) and any(_swallows(h) for h in node.handlers):
            if any(isinstance(n, ast.Assert) for s in node.body for n in ast.walk(s)):
                findings.append(f"line {node.lineno}: an assert inside try is swallowed by "
                                "its except handler")
        elif isinstance(node, ast.Call) and _name(node.func) in _EXITS:
            findings.append(f"line {node.lineno}: tests call {_name(node.func)}()")
        elif isinstance(node, ast.Assign) and any(
                _name(t) in ("sys.excepthook", "sys.exit") for t in node.targets):
            findings.append(f"line {node.lineno}: tests replace {_name(node.targets[0])}")
    return findings
