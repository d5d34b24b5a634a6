"""What runs inside the sandboxed process: the implementation, then the tests, then the verdict.

A pass must mean the tests really ran and succeeded, so the harness does not trust the exit code:

- the implementation and the tests are compiled separately with `optimize=0` (asserts are kept
  whatever the interpreter flags); the implementation runs as module `solution` (its `__main__`
  guard, usually an input() loop, is an entry point, not code under test), the tests as
  `__main__` in the same namespace;
- every `assert` statement in the tests is instrumented to count executions, and so are
  unittest's assert methods; zero executed asserts is `no_tests_ran`;
- pytest-style `test_*()` functions and `unittest.TestCase` classes that the tests define but
  never run are run afterwards, as a test runner would, and their results count;
- after the tests, a tamper check compares builtins, key functions, the harness's own hooks,
  trace/profile hooks and live threads with a snapshot taken before the implementation ran;
- the verdict is written, with the run's nonce, to fd 3 (never stdout), and the process leaves
  with `os._exit`, so atexit handlers, excepthooks and timer threads cannot change it afterwards.
"""

from __future__ import annotations

import ast
import builtins
import ctypes
import gc
import os
import sys
import threading
import traceback
import unittest
from types import FunctionType, ModuleType
from typing import Any

import orjson

from selfcodealign.execution import oracle
from selfcodealign.execution.counting import (
    COUNT,
    EQUAL,
    TRACK,
    AlwaysEqual,
    State,
    Tracked,
    count,
    equal,
    instrument_tests,
)
from selfcodealign.execution.counting import install_hooks as _install_counting

VERDICT_FD = 3
__all__ = ["install_hooks", "run", "run_and_report", "run_calls", "run_inputs"]


# -- running ---------------------------------------------------------------------------------


def _version_cell(d: dict[str, Any]) -> Any:
    """A ctypes view of CPython's per-dict version tag (PEP 509), bumped by every change to
    the dict; None where the layout is not known (then values are compared one by one).

    Made once in the zygote; reading it in a child touches no value of the dict. Comparing ~160
    builtins one by one would write to each object's refcount and copy its memory page in every
    forked child, which costs more than the rest of the check."""
    if sys.implementation.name != "cpython" or not (3, 10) <= sys.version_info[:2] <= (3, 13):
        return None
    return ctypes.c_uint64.from_address(id(d) + 3 * ctypes.sizeof(ctypes.c_ssize_t))


def _watched_dicts() -> list[tuple[str, dict[str, Any]]]:
    """Namespaces whose change means tampering: builtins and the unittest classes the verdict
    relies on (the harness's own hooks live there)."""
    found = [("builtins", vars(builtins))]
    for cls in (unittest.TestCase, unittest.TestResult, unittest.TextTestResult):
        found.append((f"unittest.{cls.__name__}", gc.get_referents(cls.__dict__)[0]))
    return found


def install_hooks() -> None:
    """In the zygote, before any fork: the counting hooks, then the tamper-check views."""
    _install_counting()
    _snapshot()


def _snapshot() -> dict[str, int]:
    """Identities of everything a program could patch to fake a pass."""
    snap: dict[str, int] = {}
    if not State.watched:
        State.watched = [(label, ns, _version_cell(ns)) for label, ns in _watched_dicts()]
    for label, namespace, cell in State.watched:
        if cell is not None:
            snap[f"{label} (any name)"] = cell.value
        else:
            snap.update({f"{label}.{k}": id(v) for k, v in namespace.items()})
    for name, obj in (("sys.exit", sys.exit), ("os._exit", os._exit),
                      ("sys.excepthook", sys.excepthook), ("sys.settrace", sys.settrace),
                      ("AssertionError", AssertionError), ("orjson.dumps", orjson.dumps),
                      ("os.write", os.write)):
        snap[name] = id(obj)
    return snap


def _tampering(before: dict[str, int], threads: set[int | None]) -> list[str]:
    now = _snapshot()
    found = [k for k in before if now.get(k) != before[k]]
    found += [f"{k} (added)" for k in now if k not in before]
    if sys.gettrace() is not None or sys.getprofile() is not None:
        found.append("trace or profile hook set")
    extra = [t.name for t in threading.enumerate() if t.ident not in threads and t.is_alive()]
    if extra:
        found.append(f"threads still running: {', '.join(extra[:3])}")
    if _leftover_children():
        found.append("child processes still running")
    return found


def _tail(exc: BaseException) -> str:
    """The traceback without the harness's own frames, last 1500 characters."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    lines = traceback.format_exception(type(exc), exc, tb)
    return "".join(lines)[-1500:]


def _classify(exc: BaseException, where: str) -> tuple[str, str]:
    if isinstance(exc, AlwaysEqual):
        return "tamper", str(exc)
    if isinstance(exc, MemoryError):
        return "memory", f"MemoryError in the {where}"
    if isinstance(exc, RecursionError):
        return "error", f"RecursionError in the {where}"
    if isinstance(exc, AssertionError):
        return "failed", _tail(exc)
    if isinstance(exc, SystemExit):
        return "error", f"the {where} exited early via sys.exit({exc.code!r})"
    return "error", _tail(exc)


def _run_uncalled(ns: dict[str, Any]) -> tuple[list[str], list[str], tuple[str, str] | None]:
    """Run tracked test functions never called, then TestCase classes never run."""
    ran, skipped = [], []
    for name, value in list(ns.items()):
        if not isinstance(value, Tracked) or value.called:
            continue
        func = value.func
        code = getattr(func, "__code__", None)
        defaults = len(getattr(func, "__defaults__", None) or ())
        if not isinstance(func, FunctionType) or code is None or \
                code.co_argcount - defaults > 0 or code.co_flags & 0x80:  # needs args / async
            skipped.append(name)
            continue
        ran.append(name)
        try:
            value()
        except BaseException as exc:
            return ran, skipped, _classify(exc, f"test function {name}")
    cases = [v for v in ns.values() if isinstance(v, type) and issubclass(v, unittest.TestCase)
             and v.__module__ == "__main__" and v not in State.unittest_classes]
    for case in cases:
        suite = unittest.defaultTestLoader.loadTestsFromTestCase(case)
        if suite.countTestCases():
            ran.append(case.__name__)
            suite.run(unittest.TestResult())
    return ran, skipped, None


def _leftover_children() -> bool:
    """Reap finished children; True if any child process is still running (fork profile)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return False
        if pid == 0:
            return True


def _main_module() -> dict[str, Any]:
    """A fresh module that is both `solution` and `__main__`, so unittest.main() and
    `from solution import f` find what the implementation and tests define."""
    module = ModuleType("__main__")
    sys.modules["__main__"] = sys.modules["solution"] = module
    sys.argv = ["tests.py"]
    return module.__dict__


def _compile(source: str, filename: str, tree: ast.Module | None = None) -> Any:
    return compile(tree if tree is not None else source, filename, "exec", optimize=0,
                   dont_inherit=True)


class _Watch:
    """Before the program: live threads, the snapshot, a fresh `solution`/`__main__` module.
    After it: the tamper check, which overrides any other status."""

    def __init__(self) -> None:
        self.threads = {t.ident for t in threading.enumerate()}
        self.before = _snapshot()
        self.ns = _main_module()
        self.ns.update(__name__="solution", __builtins__=builtins)

    def verdict(self, verdict: dict[str, Any]) -> dict[str, Any]:
        tampered = _tampering(self.before, self.threads)
        if tampered:
            verdict["status"], verdict["tamper"] = "tamper", tampered[:10]
        return verdict


def run(code: str, tests: str) -> dict[str, Any]:
    """Run implementation then tests in this process; returns the verdict fields."""
    verdict: dict[str, Any] = {"status": "passed", "detail": ""}
    try:
        impl = _compile(code, "solution.py")
        tree = instrument_tests(ast.parse(tests, "tests.py"))
        test_code = _compile(tests, "tests.py", tree)
    except (SyntaxError, ValueError) as exc:
        return {"status": "syntax_error", "detail": f"{type(exc).__name__}: {exc}"}
    watch = _Watch()
    ns = watch.ns
    step = "implementation"
    try:
        exec(impl, ns)
        ns.update({"__name__": "__main__", COUNT: count, TRACK: Tracked, EQUAL: equal})
        step = "tests"
        try:
            exec(test_code, ns)
        except SystemExit:
            if State.tests_run == 0:
                raise  # only unittest.main()'s own exit after its run is expected
        step = "uncalled tests"
        verdict["ran_uncalled"], verdict["skipped"], problem = _run_uncalled(ns)
        if problem:
            verdict["status"], verdict["detail"] = problem
    except BaseException as exc:
        if isinstance(exc, SystemExit) and exc.code not in (0, None) and step == "tests":
            verdict["status"], verdict["detail"] = "failed", f"tests exited with {exc.code!r}"
        else:
            verdict["status"], verdict["detail"] = _classify(exc, step)
    verdict.update(asserts=State.asserts, tests_run=State.tests_run,
                   test_failures=State.failures + State.errors)
    if verdict["status"] == "passed":
        if State.failures or State.errors:
            verdict["status"] = "failed"
            verdict["detail"] = (f"{State.failures} unittest failures, {State.errors} errors; "
                                 f"first: {State.first_failure}")
        elif State.asserts == 0:
            verdict["status"] = "no_tests_ran"
    return watch.verdict(verdict)


def _start(code: str) -> tuple[Any, _Watch] | dict[str, Any]:
    """The compiled implementation and a fresh watch, or the syntax_error verdict."""
    try:
        impl = _compile(code, "solution.py")
    except (SyntaxError, ValueError) as exc:
        return {"status": "syntax_error", "detail": f"{type(exc).__name__}: {exc}"}
    return impl, _Watch()


def run_calls(code: str, calls: list[str]) -> dict[str, Any]:
    """Oracle mode: run the implementation, evaluate each call, return encoded results only."""
    started = _start(code)
    if isinstance(started, dict):
        return started
    impl, watch = started
    ns = watch.ns
    returns: list[Any] = []
    verdict: dict[str, Any] = {"status": "passed", "detail": "", "returns": returns}
    try:
        exec(impl, ns)
        for call in calls:
            try:
                returns.append(oracle.encode(eval(compile(call, "<call>", "eval"), ns)))
            except Exception as exc:
                returns.append({"raised": f"{type(exc).__name__}: {exc}"[:300]})
                break
    except BaseException as exc:
        verdict["status"], verdict["detail"] = _classify(exc, "implementation")
    return watch.verdict(verdict)


class _InputTimeout(BaseException):
    """One input ran past its own time limit (raised by the interval timer)."""


def _alarm(signum: int, frame: Any) -> None:
    raise _InputTimeout


def run_inputs(code: str, entry_point: str, inputs: list[Any],
               time_limits: list[float]) -> dict[str, Any]:
    """Benchmark mode: call `entry_point` on each input (typed data, decoded here, a fresh copy
    per call), each under its own time limit; return the encoded outputs and the seconds each
    call took. The first exception or timeout ends the run (later inputs are not called)."""
    import signal
    import time

    started = _start(code)
    if isinstance(started, dict):
        return started
    impl, watch = started
    ns = watch.ns
    returns: list[Any] = []
    times: list[float] = []
    verdict: dict[str, Any] = {"status": "passed", "detail": "", "returns": returns,
                               "times": times}
    signal.signal(signal.SIGALRM, _alarm)
    try:
        exec(impl, ns)
        fn = ns.get(entry_point)
        if not callable(fn):
            return watch.verdict({"status": "error", "detail": f"{entry_point} is not defined"})
        for data, limit in zip(inputs, time_limits, strict=True):
            args = oracle.decode(data)
            start = time.perf_counter()
            try:
                signal.setitimer(signal.ITIMER_REAL, max(limit, 0.001))
                try:
                    out = fn(*args)
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
            except _InputTimeout:
                returns.append({"timeout": limit})
                break
            except Exception as exc:
                returns.append({"raised": f"{type(exc).__name__}: {exc}"[:300]})
                break
            times.append(time.perf_counter() - start)
            try:
                returns.append(oracle.encode_output(out))
            except (ValueError, RecursionError) as exc:
                returns.append({"raised": f"unencodable output: {exc}"[:300]})
                break
    except _InputTimeout:
        verdict["status"], verdict["detail"] = "timeout", "time limit while loading"
    except BaseException as exc:
        verdict["status"], verdict["detail"] = _classify(exc, "implementation")
    return watch.verdict(verdict)


def run_and_report(job: dict[str, Any], nonce: str) -> None:
    """Entry point in the sandboxed process: run, write the verdict to fd 3, leave at once."""
    try:
        if job.get("inputs") is not None:
            verdict = run_inputs(job["code"], job["entry_point"], job["inputs"],
                                 job["time_limits"])
        elif job.get("calls") is not None:
            verdict = run_calls(job["code"], job["calls"])
        else:
            verdict = run(job["code"], job["tests"])
    except BaseException as exc:  # the harness itself must always report
        verdict = {"status": "error", "detail": f"harness: {type(exc).__name__}"}
    verdict["nonce"] = nonce
    data = orjson.dumps(verdict, default=str)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    view = memoryview(data)
    while view:
        view = view[os.write(VERDICT_FD, view):]
    os._exit(0)
