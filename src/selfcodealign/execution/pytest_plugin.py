"""Tests written for pytest run under real pytest inside the sandbox.

`uses_pytest(tree)` says whether the tests need pytest: they import it, define `Test*` classes
that are not unittest TestCases, or define test functions that take fixtures. For those, the
harness writes the tests to `test_program.py` in the program's temp dir, registers the module it
already executed under that name (so pytest collects the live, instrumented module instead of
importing the file again, and `pytest.main([__file__])` inside the tests does the same), and
runs one pytest session with `Reporter`. Every `pytest.main` call the tests make gets the same
plugin, so tests they already ran are not run twice.

`Reporter` sends a failure event for every failed phase (setup, call, teardown), collection
error and unexpected pass of an xfail test; counts passed and skipped tests; runs `async def`
tests with asyncio (pytest alone would skip them) and deselects tests already run.
"""

from __future__ import annotations

import ast
import inspect
import os
from typing import Any

from selfcodealign.execution.events import State, report
from selfcodealign.execution.instrument import Tracked, statements

MODULE = "test_program"
_ARGS = ["-q", "-p", "no:cacheprovider", "-p", "no:stepwise", "--assert=plain",
         "-W", "ignore", "--color=no", "-o", "python_files=*.py", "--no-header"]


def _is_testcase_base(node: ast.expr) -> bool:
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return "TestCase" in name


def uses_pytest(tree: ast.Module) -> bool:
    for node in statements(tree):
        if isinstance(node, ast.Import) and any(
                a.name.split(".")[0] in ("pytest", "_pytest") for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
                "pytest", "_pytest"):
            return True
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test") and not any(
                _is_testcase_base(b) for b in node.bases):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test") and len(node.args.args) - len(node.args.defaults) > 0:
            return True
    return False


class Reporter:
    """The pytest plugin: outcomes to events, tests already run deselected."""

    def __init__(self) -> None:
        self.ran: set[str] = set()
        self.sessions = 0
        self.main: Any = None  # pytest.main as pytest defines it

    def pytest_sessionstart(self, session: Any) -> None:
        self.sessions += 1

    def pytest_collection_modifyitems(self, session: Any, config: Any, items: list[Any]
                                      ) -> None:
        done = [item for item in items if item.nodeid in self.ran or self._called(item)]
        if done:
            items[:] = [item for item in items if item not in done]
            config.hook.pytest_deselected(items=done)

    @staticmethod
    def _called(item: Any) -> bool:
        """A plain test function the tests already called themselves."""
        return getattr(item, "originalname", None) in Tracked.called and not getattr(
            item, "callspec", None) and getattr(item, "cls", None) is None

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            _report_failure("collection", report)

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call":
            self.ran.add(report.nodeid)
        if report.failed:
            _report_failure(report.when, report)
        elif report.when == "call" and report.passed:
            if getattr(report, "wasxfail", None) is not None:
                report_text = f"{report.nodeid} is marked xfail but passed"
                _send(report_text)
            State.tests_run += 1
        elif report.skipped and report.when in ("setup", "call") and not getattr(
                report, "wasxfail", None):
            State.skipped += 1

    def pytest_pyfunc_call(self, pyfuncitem: Any) -> bool | None:
        func = inspect.unwrap(pyfuncitem.obj)
        if not inspect.iscoroutinefunction(func):
            return None
        import asyncio

        names = pyfuncitem._fixtureinfo.argnames
        asyncio.run(pyfuncitem.obj(**{n: pyfuncitem.funcargs[n] for n in names}))
        return True


def _send(text: str) -> None:
    report("pytest", text)


def _report_failure(when: str, rep: Any) -> None:
    text = getattr(rep, "longreprtext", "") or str(getattr(rep, "longrepr", ""))
    last = [line for line in text.strip().splitlines() if line.strip()][-1:] or [""]
    _send(f"{rep.nodeid or 'collection'} ({when}): {last[0][:300]}")


def session_args(path: str) -> list[str]:
    return [path, *_ARGS, "--rootdir", os.path.dirname(path)]


def install(reporter: Reporter) -> None:
    """Every pytest.main call in this process gets the reporter (installed in the child)."""
    import pytest

    original = reporter.main = pytest.main
    _count_raises(type(pytest.raises(Exception)))
    _count_raises(type(pytest.warns(Warning)))

    def main(args: Any = None, plugins: Any = None) -> Any:
        plugins = [*(plugins or []), reporter]
        if args is None:
            args = []
        args = [*list(args), "-p", "no:cacheprovider", "--assert=plain"]
        return original(args, plugins)

    pytest.main = main


def _count_raises(context: Any) -> None:
    """`with pytest.raises(E):` / `pytest.warns` that is satisfied is a check that ran."""
    exit_ = context.__exit__

    def counted(self: Any, *exc: Any) -> Any:
        result = exit_(self, *exc)
        State.checks += 1
        return result

    context.__exit__ = counted


def run_session(path: str, reporter: Reporter) -> None:
    reporter.main(session_args(path), [reporter])
