"""What the harness counts and checks while tests run, installed once in the zygote.

- unittest's assert methods are wrapped to count calls, and TestResult's hooks count tests run,
  failures and errors (every runner, unittest.main() included, reports to a TestResult);
- the tests' AST is instrumented: each `assert` counts itself, `assert a == b` also checks that
  neither side equals everything, and top-level `test_*` functions are tracked so that the ones
  never called can be run afterwards.
"""

from __future__ import annotations

import ast
import traceback
import unittest
from types import FunctionType
from typing import Any

COUNT = "__sca_assert__"
TRACK = "__sca_track__"
EQUAL = "__sca_equal__"


class State:
    asserts = 0
    tests_run = 0
    failures = 0
    errors = 0
    first_failure = ""
    unittest_classes: set[type] = set()  # noqa: RUF012 - process-wide by design
    watched: list[tuple[str, dict[str, Any], Any]] = []  # noqa: RUF012


# -- hooks installed once in the zygote, before any fork ------------------------------------


def _counting(method: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        State.asserts += 1
        return method(*args, **kwargs)

    wrapper.__wrapped__ = method  # type: ignore[attr-defined]
    return wrapper


def install_hooks() -> None:
    """Count unittest asserts and results (TestResult is what every runner reports to)."""
    case = unittest.TestCase
    for name, value in list(vars(case).items()):
        if name.startswith(("assert", "fail")) and isinstance(value, FunctionType):
            setattr(case, name, _counting(value))
    result = unittest.TestResult
    original = {n: getattr(result, n) for n in (
        "startTest", "addFailure", "addError", "addUnexpectedSuccess", "addSubTest")}

    def start(self: Any, test: Any) -> None:
        State.tests_run += 1
        State.unittest_classes.add(type(test))
        original["startTest"](self, test)

    def note(test: Any, err: Any) -> None:
        if not State.first_failure and isinstance(err, tuple) and len(err) == 3:
            last = traceback.format_exception_only(err[0], err[1])[-1].strip()
            State.first_failure = f"{test}: {last}"[:1000]

    def failure(self: Any, test: Any, err: Any) -> None:
        State.failures += 1
        note(test, err)
        original["addFailure"](self, test, err)

    def error(self: Any, test: Any, err: Any) -> None:
        State.errors += 1
        note(test, err)
        original["addError"](self, test, err)

    def unexpected(self: Any, test: Any) -> None:
        State.failures += 1
        original["addUnexpectedSuccess"](self, test)

    def subtest(self: Any, test: Any, subtest: Any, err: Any) -> None:
        if err is not None:
            State.failures += 1
        original["addSubTest"](self, test, subtest, err)

    hooks = {"startTest": start, "addFailure": failure, "addError": error,
             "addUnexpectedSuccess": unexpected, "addSubTest": subtest}
    for name, hook in hooks.items():
        setattr(result, name, hook)



# -- instrumentation -----------------------------------------------------------------------


class _Instrument(ast.NodeTransformer):
    def visit_Assert(self, node: ast.Assert) -> list[ast.stmt]:
        self.generic_visit(node)
        count = ast.Expr(ast.Call(ast.Name(COUNT, ast.Load()), [], []))
        test = node.test
        if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0],
                                                                               ast.Eq):
            # `assert a == b` -> `assert __sca_equal__(a, b)`: same truth, but an object that
            # equals everything is caught (see _equal).
            call = ast.Call(ast.Name(EQUAL, ast.Load()), [test.left, test.comparators[0]], [])
            node.test = ast.copy_location(call, test)
        return [ast.copy_location(count, node), node]


def instrument_tests(tree: ast.Module) -> ast.Module:
    """Count every assert; track top-level test_* functions so uncalled ones can be run."""
    tree = _Instrument().visit(tree)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test"):
            node.decorator_list.insert(0, ast.Name(TRACK, ast.Load()))
    return ast.fix_missing_locations(tree)


def count() -> None:
    State.asserts += 1


class AlwaysEqual(AssertionError):
    """An operand of `==` claims to equal an object it has never seen."""


class _Stranger:
    pass


def equal(left: Any, right: Any) -> bool:
    if not left == right:  # noqa: SIM201 - evaluate == exactly as the assert would
        return False
    stranger = _Stranger()
    for side in (left, right):
        try:
            claims = bool(side == stranger)
        except Exception:  # e.g. arrays compare elementwise; not an always-equal object
            claims = False
        if claims:  # no honest __eq__ says yes to a fresh, unrelated object
            raise AlwaysEqual(f"{type(side).__name__} object equals anything")
    return True


class Tracked:
    """A test function the harness can run later if the tests never called it."""

    def __init__(self, func: Any) -> None:
        self.func, self.called = func, False
        self.__name__ = getattr(func, "__name__", "test")
        self.__wrapped__ = func

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.called = True
        return self.func(*args, **kwargs)
