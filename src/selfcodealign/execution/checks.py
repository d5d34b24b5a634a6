"""Hooks that make every framework's failing check report itself, installed once in the zygote.

A test that catches its own failure (`try/except Exception`, `contextlib.suppress`, a thread, an
executor, `finally: return`, `SystemExit` swallowed after `unittest.main`) must still fail, so
the place where a check fails writes an `F` event on the channel (events.py) *before* the
exception propagates. The parent decides the verdict from those events. Here:

- unittest: every `assert*`/`fail*` method of TestCase reports a failure when it raises (and
  `assertRaises`/`Warns`/`Logs` used with `with`), and the equality family re-checks its
  operands with `equality.lies`; TestResult reports failures, errors, expected failures and
  unexpected successes (a test marked to fail verifies nothing); async and generator test
  methods are run; `unittest.main()`'s own exit is marked as the tests' normal end;
- doctest: failed examples and unexpected exceptions report, passed examples count as checks;
- pytest: `Failed` (pytest.fail, pytest.raises "DID NOT RAISE") reports when it is created; the
  plugin in `pytest_plugin.py` reports outcomes;
- an exception that escapes a thread reports; setting a trace or profile function is reported
  as tampering the moment it happens.

Asserts in the tests themselves are rewritten by `instrument.py`.
"""

from __future__ import annotations

import threading
import unittest
from types import FunctionType
from typing import Any

from selfcodealign.execution.equality import claims_equal, lies
from selfcodealign.execution.events import State, err_text, exception_text, report
from selfcodealign.execution.instrument import run_yielded

_EQUALITY = {"assertEqual", "assertEquals", "assertListEqual", "assertTupleEqual",
             "assertDictEqual", "assertSetEqual", "assertSequenceEqual",
             "assertMultiLineEqual", "assertAlmostEqual", "assertAlmostEquals"}


def _checked_method(name: str, method: Any) -> Any:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = method(self, *args, **kwargs)
        except unittest.SkipTest:
            raise
        except BaseException as exc:
            State.checks += 1
            report("unittest", f"{name}: {exception_text(exc)}")
            raise
        State.checks += 1
        if name in _EQUALITY and len(args) >= 2 and claims_equal(args[0], args[1]):
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
        report("unittest", f"{_test_name(test)}: {err_text(err)}")
        original["addFailure"](self, test, err)

    def error(self: Any, test: Any, err: Any) -> None:
        done(test)
        report("unittest", f"{_test_name(test)} raised {err_text(err)}")
        original["addError"](self, test, err)

    def skip(self: Any, test: Any, reason: str) -> None:
        done(test)
        State.skipped += 1
        original["addSkip"](self, test, reason)

    def expected(self: Any, test: Any, err: Any) -> None:
        done(test)
        report("unittest", f"{_test_name(test)} is marked expectedFailure and fails: "
                           f"{err_text(err)}")
        original["addExpectedFailure"](self, test, err)

    def unexpected(self: Any, test: Any) -> None:
        done(test)
        report("unittest", f"{_test_name(test)} is marked expectedFailure but passed")
        original["addUnexpectedSuccess"](self, test)

    def subtest(self: Any, test: Any, sub: Any, err: Any) -> None:
        if err is not None:
            report("unittest", f"{_test_name(sub)}: {err_text(err)}")
        original["addSubTest"](self, test, sub, err)

    return {"startTest": start, "addSuccess": success, "addFailure": failure,
            "addError": error, "addSkip": skip, "addExpectedFailure": expected,
            "addUnexpectedSuccess": unexpected, "addSubTest": subtest}


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
                          f"{err_text(exc_info)}")
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
            report("thread", f"{name}: {err_text((args.exc_type, args.exc_value, None))}")
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
