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
from typing import Any, TypeVar

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


_LIVE = (ast.Name, ast.Call, ast.Attribute, ast.Subscript, ast.Await, ast.NamedExpr)


def nodes(root: ast.AST) -> list[ast.AST]:
    """`root` and everything below it (a faster `ast.walk`: assert conditions are walked for
    every program, in the zygote)."""
    found, stack = [], [root]
    while stack:
        node = stack.pop()
        found.append(node)
        for field in node._fields:
            value = getattr(node, field, None)
            if isinstance(value, ast.AST):
                stack.append(value)
            elif isinstance(value, list):
                stack += [item for item in value if isinstance(item, ast.AST)]
    return found


def _constant(node: ast.AST) -> bool:
    """An expression with no name, call, attribute or subscript: it cannot test the code."""
    return not any(isinstance(n, _LIVE) for n in nodes(node))


_Node = TypeVar("_Node", bound=ast.AST)


def _at(node: _Node, where: ast.AST) -> _Node:
    """`node` given the location of `where` (new nodes need one to compile)."""
    node.lineno, node.col_offset = where.lineno, where.col_offset  # type: ignore[attr-defined]
    node.end_lineno = where.end_lineno  # type: ignore[attr-defined]
    node.end_col_offset = where.end_col_offset  # type: ignore[attr-defined]
    return node


def _call(name: str, args: list[ast.expr], where: ast.AST) -> ast.Call:
    return _at(ast.Call(_at(ast.Name(name, ast.Load()), where), args, []), where)


def _route_equality(node: ast.AST) -> ast.AST:
    """Every `a == b` in an assert's condition becomes `equality.equal(a, b)`, inner ones
    first; a lambda's body is left alone (it runs elsewhere, maybe not as a check)."""
    if isinstance(node, ast.Lambda):
        return node
    for field in node._fields:
        value = getattr(node, field, None)
        if isinstance(value, ast.AST):
            setattr(node, field, _route_equality(value))
        elif isinstance(value, list):
            value[:] = [_route_equality(v) if isinstance(v, ast.AST) else v for v in value]
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq):
        return _call(EQUAL, [node.left, node.comparators[0]], node)
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
        test = kept[0] if len(kept) == 1 else _at(ast.BoolOp(ast.Or(), kept), test)
    if _constant(test):
        return None, msg
    return test, msg


def _instrument_assert(node: ast.Assert) -> ast.stmt:
    test, msg = _normalise(node.test, node.msg)
    line = _at(ast.Constant(node.lineno), node)
    failing = _at(ast.Expr(_call(FAIL, [line] + ([msg] if msg is not None else []), node)),
                  node)
    if test is None:  # a constant: true ones are not checks; false ones fail when reached
        try:
            truth = bool(ast.literal_eval(node.test))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            truth = True
        return failing if not truth else _at(ast.Pass(), node)
    names = sorted({n.id for n in nodes(test) if isinstance(n, ast.Name)})
    test = _route_equality(test)  # type: ignore[assignment]
    referenced = _at(ast.Tuple([_at(ast.Constant(n), node) for n in names], ast.Load()), node)
    passing = _at(ast.Expr(_call(OK, [referenced] if names else [], node)), node)
    return _at(ast.If(test, [passing], [failing]), node)


def _rewrite_asserts(node: ast.AST) -> None:
    """Replace every assert statement below `node`. Asserts are statements, so only statement
    bodies are visited, never expressions."""
    for field in ("body", "orelse", "finalbody"):
        body = getattr(node, field, None)
        if not isinstance(body, list):
            continue
        for index, stmt in enumerate(body):
            if isinstance(stmt, ast.Assert):
                body[index] = _instrument_assert(stmt)
            elif isinstance(stmt, ast.stmt):
                _rewrite_asserts(stmt)
    for part in (*getattr(node, "handlers", ()), *getattr(node, "cases", ())):
        _rewrite_asserts(part)  # except handlers, match cases


def instrument_tests(tree: ast.Module) -> ast.Module:
    """Rewrite the tests' asserts to report failures; track top-level test functions."""
    _rewrite_asserts(tree)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test"):
            track = ast.copy_location(ast.Name(TRACK, ast.Load()), node)
            node.decorator_list.append(track)  # innermost: the function itself
    return tree


def statements(tree: ast.AST) -> list[ast.stmt]:
    """Every statement of a module, nested ones included (no expression is visited)."""
    found: list[ast.stmt] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list):
                kept = [stmt for stmt in body if isinstance(stmt, ast.stmt)]
                found += kept
                stack += kept
        stack += [*getattr(node, "handlers", ()), *getattr(node, "cases", ())]
    return found


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
