"""Checks that report themselves: every failing check sends an event at the moment it fails.

A test that catches its own failure (`try/except Exception`, `contextlib.suppress`, a thread, an
executor, `finally: return`, `SystemExit` swallowed after `unittest.main`) must still fail, so
the place where a check fails writes a `F` event on the verdict channel (fd 3) *before* the
exception propagates. The parent decides the verdict from those events; what the program does
with the exception afterwards changes nothing. Installed once in the zygote, before any fork:

- instrumented `assert` statements in the tests (see `instrument_tests`): a failing one reports;
  a constant assert (`assert True`) is not a check; `assert (cond, "msg")` means `assert cond,
  "msg"`; a truthy constant in an `or` does not make an assert pass; `==` inside an assert is
  checked for equality that lies (`lies`);
- unittest: every `assert*`/`fail*` method of TestCase reports a failure when it raises, and the
  equality family re-checks its operands with `lies`; TestResult reports failures, errors,
  expected failures and unexpected successes (a test marked to fail verifies nothing);
- doctest: failed examples and unexpected exceptions report, passed examples count as checks;
- pytest: `Failed` (pytest.fail, pytest.raises "DID NOT RAISE") reports when it is created; the
  plugin in `pytest_plugin.py` reports outcomes;
- an exception that escapes a thread reports.
"""

from __future__ import annotations

import ast
import contextlib
import os
import threading
import traceback
import unittest
from types import FunctionType
from typing import Any

import orjson

CHANNEL_FD = 3
OK = "__sca_ok__"
FAIL = "__sca_fail__"
EQUAL = "__sca_equal__"
TRACK = "__sca_track__"
MAX_EVENTS = 20  # failure events sent with details; one is enough to fail the sample


class State:
    """Per-process counters (the child starts from the zygote's zeros). They are advisory:
    the parent counts failures from the events it received, not from these."""

    checks = 0
    tests_run = 0
    skipped = 0
    failures = 0
    first_failure = ""
    runner_done = False  # unittest.main() or pytest.main() ran the tests
    closing = False  # set once the harness writes its summary: later events are moot
    completed: set[tuple[type, str]] = set()  # noqa: RUF012 - process-wide by design
    originals: dict[str, Any] = {}  # noqa: RUF012 - the implementation's own definitions
    namespace: dict[str, Any] | None = None
    not_run: list[str] = []  # noqa: RUF012


# -- events --------------------------------------------------------------------------------

_write = os.write


def report(where: str, detail: str) -> None:
    """A check failed: tell the parent now, before anything can catch the exception."""
    State.failures += 1
    if not State.first_failure:
        State.first_failure = f"{where}: {detail}"[:1500]
    if State.closing or State.failures > MAX_EVENTS:
        return
    data = b"F" + orjson.dumps({"where": where, "detail": detail[:1500]}) + b"\n"
    # A closed channel is found by the parent (no summary arrives).
    with contextlib.suppress(OSError):
        _write(CHANNEL_FD, data)


def _exception_text(exc: BaseException) -> str:
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


# -- equality that lies --------------------------------------------------------------------

_PLAIN = frozenset({int, float, complex, str, bytes, bool, type(None)})
_SEQUENCES = (list, tuple)
_BUDGET = 5000  # element pairs examined per comparison


class _Stranger:
    pass


def _is_any(obj: Any) -> bool:
    """unittest.mock's ANY and call objects: wildcards and call records by design."""
    return type(obj).__module__ == "unittest.mock" and type(obj).__name__ in ("_ANY", "_Call")


def _plain_base(kind: type) -> type | None:
    for base in kind.__mro__[1:]:
        if base in _PLAIN or base in (list, tuple, dict, set, frozenset):
            return base
    return None


def _claims_anything(obj: Any) -> bool:
    try:
        claim = obj == _Stranger()
        return not _rich(claim) and bool(claim)
    except Exception:  # arrays and the like compare elementwise; not a lie
        return False


def _one_way(left: Any, right: Any) -> bool:
    try:
        back = right == left
    except Exception:
        return False
    return type(back) is bool and not back


def _base_disagrees(obj: Any, other: Any) -> bool:
    """A subclass of a builtin type that overrides == : compare through the base type."""
    kind = type(obj)
    base = _plain_base(kind)
    if base is None or (kind.__eq__ is base.__eq__ and kind.__ne__ is base.__ne__):
        return False
    try:
        verdict = base.__eq__(obj, other)  # type: ignore[call-arg]
        if verdict is NotImplemented and type(other) in _PLAIN:
            verdict = type(other).__eq__(other, obj)  # type: ignore[call-arg]
    except Exception:
        return False
    return verdict is not NotImplemented and not verdict


def _only_plain(values: Any) -> bool:
    return set(map(type, values)) <= _PLAIN


def lies(left: Any, right: Any, budget: list[int] | None = None) -> str:
    """Why `left == right` (already true) is not to be believed; "" when it is."""
    budget = budget if budget is not None else [_BUDGET]
    budget[0] -= 1
    kinds = (type(left), type(right))
    if kinds[0] in _PLAIN and kinds[1] in _PLAIN:
        return ""
    for side in (left, right):
        if type(side) not in _PLAIN and not _is_any(side) and _claims_anything(side):
            return f"a {type(side).__name__} object says it equals anything"
    if _is_any(left) or _is_any(right):
        return ""
    if _one_way(left, right):
        return f"{kinds[0].__name__} == {kinds[1].__name__} holds one way only"
    for side, other in ((left, right), (right, left)):
        if not _is_any(side) and _base_disagrees(side, other):
            return f"{type(side).__name__} overrides == and disagrees with its base type"
    if budget[0] <= 0:
        return ""
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        if len(left) != len(right):
            return f"sequences of lengths {len(left)} and {len(right)} said to be equal"
        if _only_plain(left) and _only_plain(right):
            return ""
        return _pairs(zip(left, right, strict=False), budget)
    if isinstance(left, dict) and isinstance(right, dict):
        if len(left) != len(right) or set(map(type, left)) - _PLAIN:
            return "" if len(left) == len(right) else "dicts of different sizes said equal"
        if _only_plain(left.values()) and _only_plain(right.values()):
            return ""
        return _pairs(((v, right[k]) for k, v in left.items() if k in right), budget)
    if isinstance(left, set | frozenset) and isinstance(right, set | frozenset):
        for item in (*left, *right):
            if type(item) not in _PLAIN and _claims_anything(item):
                return f"a {type(item).__name__} object in a set says it equals anything"
    return ""


def _pairs(pairs: Any, budget: list[int]) -> str:
    for a, b in pairs:
        if budget[0] <= 0:
            return ""
        try:
            same = a == b
        except Exception:
            continue
        if type(same) is bool and not same:
            return f"{a!r:.60} and {b!r:.60} differ inside containers said to be equal"
        problem = lies(a, b, budget)
        if problem:
            return problem
    return ""


def _rich(result: Any) -> bool:
    """An elementwise comparison result (numpy, pandas, torch...): not judged here."""
    return hasattr(result, "__array__") or hasattr(result, "all")


def equal(left: Any, right: Any) -> Any:
    """`left == right` inside an instrumented assert: the same truth, but a lie is a failure."""
    result = left == right
    if type(result) is not bool:
        if _rich(result):
            return result
        result = bool(result)  # `__eq__` returned something truthy: judge it as a claim
    if result:
        problem = lies(left, right)
        if problem:
            report("equality", problem)
            raise AssertionError(f"equality that lies: {problem}")
    return result


# -- instrumented asserts ------------------------------------------------------------------


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


# -- hooks installed once in the zygote -----------------------------------------------------

_EQUALITY = {"assertEqual", "assertEquals", "assertListEqual", "assertTupleEqual",
             "assertDictEqual", "assertSetEqual", "assertSequenceEqual",
             "assertMultiLineEqual", "assertAlmostEqual", "assertAlmostEquals"}


def _claims_equal(left: Any, right: Any) -> bool:
    try:
        claim = left == right
        return not _rich(claim) and bool(claim)
    except Exception:
        return False


def _checked_method(name: str, method: Any) -> Any:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = method(self, *args, **kwargs)
        except unittest.SkipTest:
            raise
        except BaseException as exc:
            State.checks += 1
            report("unittest", f"{name}: {_exception_text(exc)}")
            raise
        State.checks += 1
        if name in _EQUALITY and len(args) >= 2 and _claims_equal(args[0], args[1]):
            problem = lies(args[0], args[1])
            if problem:
                report("equality", f"{name}: {problem}")
                raise self.failureException(f"equality that lies: {problem}")
        return result

    wrapper.__wrapped__ = method  # type: ignore[attr-defined]
    wrapper.__name__ = wrapper.__qualname__ = name
    return wrapper


def _test_name(test: Any) -> str:
    return str(getattr(test, "id", lambda: repr(test))())[:200]


def _result_hooks() -> dict[str, Any]:
    original = {n: getattr(unittest.TestResult, n) for n in (
        "startTest", "addSuccess", "addFailure", "addError", "addSkip", "addExpectedFailure",
        "addUnexpectedSuccess", "addSubTest")}

    def done(test: Any) -> None:
        name = getattr(test, "_testMethodName", None)
        if name is not None:
            State.completed.add((type(test), name))

    def start(self: Any, test: Any) -> None:
        State.tests_run += 1
        original["startTest"](self, test)

    def success(self: Any, test: Any) -> None:
        done(test)
        original["addSuccess"](self, test)

    def failure(self: Any, test: Any, err: Any) -> None:
        done(test)
        report("unittest", f"{_test_name(test)}: {_err_text(err)}")
        original["addFailure"](self, test, err)

    def error(self: Any, test: Any, err: Any) -> None:
        done(test)
        report("unittest", f"{_test_name(test)} raised {_err_text(err)}")
        original["addError"](self, test, err)

    def skip(self: Any, test: Any, reason: str) -> None:
        done(test)
        State.skipped += 1
        original["addSkip"](self, test, reason)

    def expected(self: Any, test: Any, err: Any) -> None:
        done(test)
        report("unittest", f"{_test_name(test)} is marked expectedFailure and fails: "
                           f"{_err_text(err)}")
        original["addExpectedFailure"](self, test, err)

    def unexpected(self: Any, test: Any) -> None:
        done(test)
        report("unittest", f"{_test_name(test)} is marked expectedFailure but passed")
        original["addUnexpectedSuccess"](self, test)

    def subtest(self: Any, test: Any, sub: Any, err: Any) -> None:
        if err is not None:
            report("unittest", f"{_test_name(sub)}: {_err_text(err)}")
        original["addSubTest"](self, test, sub, err)

    return {"startTest": start, "addSuccess": success, "addFailure": failure,
            "addError": error, "addSkip": skip, "addExpectedFailure": expected,
            "addUnexpectedSuccess": unexpected, "addSubTest": subtest}


def _err_text(err: Any) -> str:
    if isinstance(err, tuple) and len(err) == 3 and err[1] is not None:
        return _exception_text(err[1])
    return str(err)[:300]


def run_yielded(generator: Any, name: str) -> None:
    """A generator test runs to its end: each `(function, *args)` it yields (nose style) is a
    test case, called as nose called it; other values are ignored, the checks between the
    yields run as the generator is iterated."""
    for item in generator:
        if isinstance(item, tuple) and item and callable(item[0]):
            item[0](*item[1:])
        elif callable(item):
            item()


def _call_test_method(original: Any) -> Any:
    def call(self: Any, method: Any) -> None:
        import inspect

        if inspect.iscoroutinefunction(method):  # a plain TestCase with an async test
            import asyncio

            asyncio.run(method())
            return
        if inspect.isgeneratorfunction(method):
            run_yielded(method(), _test_name(self))
            return
        original(self, method)

    return call


def _doctest_hooks() -> None:
    import doctest

    runner = doctest.DocTestRunner
    success, failure, unexpected = (runner.report_success, runner.report_failure,
                                    runner.report_unexpected_exception)

    def on_success(self: Any, out: Any, test: Any, example: Any, got: str) -> None:
        State.checks += 1
        success(self, out, test, example, got)

    def on_failure(self: Any, out: Any, test: Any, example: Any, got: str) -> None:
        report("doctest", f"{test.name}: {example.source.strip()[:200]} gave {got[:200]!r}")
        failure(self, out, test, example, got)

    def on_unexpected(self: Any, out: Any, test: Any, example: Any, exc_info: Any) -> None:
        report("doctest", f"{test.name}: {example.source.strip()[:200]} raised "
                          f"{_err_text(exc_info)}")
        unexpected(self, out, test, example, exc_info)

    runner.report_success = on_success  # type: ignore[method-assign]
    runner.report_failure = on_failure  # type: ignore[method-assign]
    runner.report_unexpected_exception = on_unexpected  # type: ignore[method-assign]


def _trace_hooks() -> None:
    """A trace or profile function can move a frame past its asserts; tests have no business
    setting one. Reported as tampering the moment it is set (undoing it later changes nothing)."""
    import sys

    def watching(module: Any, name: str) -> None:
        original = getattr(module, name, None)
        if original is None:
            return

        def setter(func: Any, *args: Any) -> Any:
            if func is not None:
                report("tamper", f"the program called {module.__name__}.{name}()")
            return original(func, *args)

        setter.__name__ = name
        setattr(module, name, setter)

    for module in (sys, threading):
        for name in ("settrace", "setprofile", "settrace_all_threads",
                     "setprofile_all_threads"):
            watching(module, name)


def _thread_hook() -> None:
    original = threading.excepthook

    def hook(args: Any) -> None:
        if args.exc_type is not SystemExit:
            name = getattr(args.thread, "name", "a thread")
            report("thread", f"{name}: {_err_text((args.exc_type, args.exc_value, None))}")
        original(args)

    threading.excepthook = hook


def _pytest_hooks() -> None:
    try:
        from _pytest.outcomes import Failed
    except ImportError:  # pytest is not installed: pytest-style tests report no outcomes
        return
    init = Failed.__init__

    def created(self: Any, msg: str | None = None, pytrace: bool = True) -> None:
        report("pytest", f"pytest.fail: {msg}"[:1000])
        init(self, msg, pytrace)

    Failed.__init__ = created  # type: ignore[method-assign]


def install_hooks() -> None:
    """Patch unittest, doctest, threading and pytest once, in the zygote."""
    case = unittest.TestCase
    for name, value in list(vars(case).items()):
        if name.startswith(("assert", "fail")) and isinstance(value, FunctionType):
            setattr(case, name, _checked_method(name, value))
    case._callTestMethod = _call_test_method(case._callTestMethod)  # type: ignore[attr-defined]
    context: Any = unittest.case._BaseTestCaseContext
    raise_failure = context._raiseFailure

    def context_failure(self: Any, standard: str) -> None:  # assertRaises/Warns/Logs as `with`
        report("unittest", str(standard)[:500])
        raise_failure(self, standard)

    context._raiseFailure = context_failure
    _trace_hooks()
    for name, hook in _result_hooks().items():
        setattr(unittest.TestResult, name, hook)
    run_tests = unittest.TestProgram.runTests

    def run_tests_hook(self: Any) -> None:
        try:
            run_tests(self)
        finally:  # unittest.main() exits after this; that exit is the tests' normal end
            State.runner_done = True

    unittest.TestProgram.runTests = run_tests_hook  # type: ignore[method-assign]
    _doctest_hooks()
    _thread_hook()
    _pytest_hooks()


def namespace_hooks() -> dict[str, Any]:
    """The names instrumented tests call."""
    return {OK: ok, FAIL: fail, EQUAL: equal, TRACK: Tracked}
