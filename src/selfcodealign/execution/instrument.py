"""Instrumented tests: asserts that report their failure, and tracked test functions.

- a failing `assert` reports on the channel before raising; a constant assert (`assert True`)
  is not a check; `assert (cond, "msg")` means `assert cond, "msg"`; a truthy constant in an
  `or` does not make an assert pass; `==` inside an assert goes through `equality.equal`;
- an assert on a name of the implementation that the tests replaced with a mock or a
  differently named function checks the stand-in, not the code: a failure;
- top-level `test_*` functions are tracked, so the ones never called can be run afterwards;
  generator tests run to their end (nose style).
"""

from __future__ import annotations

import ast
from types import FunctionType
from typing import Any

from selfcodealign.execution.equality import equal
from selfcodealign.execution.events import State, report

OK = "__sca_ok__"
FAIL = "__sca_fail__"
EQUAL = "__sca_equal__"
TRACK = "__sca_track__"


def ok(names: tuple[str, ...] = ()) -> None:
    State.checks += 1
    for name in names:
        stand_in = _stand_in(name)
        if stand_in:
            report("mock", f"an assert checks {name}, which the tests replaced with "
                           f"{stand_in}: it tests the stand-in, not the implementation")
            raise AssertionError(f"{name} is a stand-in ({stand_in})")


def _is_mock(obj: Any) -> bool:
    return any(c.__module__ == "unittest.mock" and c.__name__ == "NonCallableMock"
               for c in type(obj).__mro__)


def _stand_in(name: str) -> str:
    """What replaced the implementation's `name` in the shared namespace, if the tests put a
    mock or a differently named function there ("" when it is the original, or a function of
    the same name: tests often repeat the implementation's definition)."""
    original = State.originals.get(name)
    if original is None or State.namespace is None:
        return ""
    current = State.namespace.get(name, original)
    if current is original:
        return ""
    if _is_mock(current):
        return "a mock"
    if isinstance(current, FunctionType) and current.__name__ != name:
        return f"function {current.__name__}"
    return ""


def fail(line: int, message: Any = None) -> None:
    State.checks += 1
    text = f"assert on line {line} failed" + (f": {message}" if message is not None else "")
    report("assert", text)
    exc = AssertionError(message) if message is not None else AssertionError()
    exc.sca_reported = True  # type: ignore[attr-defined]
    raise exc


def _constant(node: ast.AST) -> bool:
    """An expression with no name, call, attribute or subscript: it cannot test the code."""
    return not any(isinstance(n, ast.Name | ast.Call | ast.Attribute | ast.Subscript |
                              ast.Await | ast.NamedExpr) for n in ast.walk(node))


class _EqualityRewriter(ast.NodeTransformer):
    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        return node  # a lambda's body runs elsewhere, maybe not as a check

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
            call = ast.Call(ast.Name(EQUAL, ast.Load()), [node.left, node.comparators[0]], [])
            return ast.copy_location(call, node)
        return node


def _normalise(test: ast.expr, msg: ast.expr | None) -> tuple[ast.expr | None, ast.expr | None]:
    """The condition an assert really checks: `(cond, msg)` -> cond; truthy constants dropped
    from an `or`. None when nothing but constants is left."""
    if isinstance(test, ast.Tuple) and test.elts:
        if msg is None and len(test.elts) > 1:
            msg = test.elts[1]
        test = test.elts[0]
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
        kept = [v for v in test.values if not _constant(v)]
        if not kept:
            return None, msg
        test = kept[0] if len(kept) == 1 else ast.copy_location(ast.BoolOp(ast.Or(), kept), test)
    if _constant(test):
        return None, msg
    return test, msg


class _Instrument(ast.NodeTransformer):
    def visit_Assert(self, node: ast.Assert) -> ast.stmt:
        self.generic_visit(node)
        test, msg = _normalise(node.test, node.msg)
        line = ast.Constant(node.lineno)
        args: list[ast.expr] = [line] + ([msg] if msg is not None else [])
        failing = ast.Expr(ast.Call(ast.Name(FAIL, ast.Load()), args, []))
        if test is None:  # a constant: true ones are not checks; false ones fail when reached
            try:
                truth = bool(ast.literal_eval(node.test))
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                truth = True
            new: ast.stmt = ast.Pass() if truth else failing
            return ast.copy_location(new, node)
        names = sorted({n.id for n in ast.walk(test) if isinstance(n, ast.Name)})
        test = _EqualityRewriter().visit(test)
        referenced = ast.Tuple([ast.Constant(n) for n in names], ast.Load())
        passing = ast.Expr(ast.Call(ast.Name(OK, ast.Load()), [referenced] if names else [], []))
        return ast.copy_location(ast.If(test, [passing], [failing]), node)


def instrument_tests(tree: ast.Module) -> ast.Module:
    """Rewrite the tests' asserts to report failures; track top-level test functions."""
    tree = _Instrument().visit(tree)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test"):
            node.decorator_list.append(ast.Name(TRACK, ast.Load()))  # innermost: the function
    return ast.fix_missing_locations(tree)


_NOT_PLAIN = 0x20 | 0x80 | 0x100 | 0x200  # generator, coroutine, iterable coroutine, async gen


class Tracked:
    """Marks a top-level test function so the harness knows whether the tests called it."""

    registry: dict[str, Any] = {}  # noqa: RUF012 - name -> function, per process
    called: set[str] = set()  # noqa: RUF012

    def __new__(cls, func: Any) -> Any:
        name = getattr(func, "__name__", "")
        if not isinstance(func, FunctionType) or not name:
            return func
        cls.registry[name] = func
        if func.__code__.co_flags & _NOT_PLAIN:  # generators and coroutines keep their kind
            return func

        def tracked(*args: Any, **kwargs: Any) -> Any:
            cls.called.add(name)
            return func(*args, **kwargs)

        tracked.__wrapped__ = func  # type: ignore[attr-defined]
        for attr in ("__name__", "__qualname__", "__doc__", "__module__"):
            setattr(tracked, attr, getattr(func, attr))
        tracked.__dict__.update(func.__dict__)  # pytest marks live here
        return tracked


def run_yielded(generator: Any, name: str) -> None:
    """A generator test runs to its end: each `(function, *args)` it yields (nose style) is a
    test case, called as nose called it; other values are ignored, the checks between the
    yields run as the generator is iterated."""
    for item in generator:
        if isinstance(item, tuple) and item and callable(item[0]):
            item[0](*item[1:])
        elif callable(item):
            item()


def namespace_hooks() -> dict[str, Any]:
    """The names instrumented tests call."""
    return {OK: ok, FAIL: fail, EQUAL: equal, TRACK: Tracked}
