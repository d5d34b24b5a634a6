"""What runs inside the sandboxed process: the implementation, then the tests, then a summary.

The harness does not decide the verdict; it produces evidence for the parent (the zygote, see
`verdict.py`):

- failing checks report themselves on the channel (fd 3) when they fail (`checks.py`);
- the implementation runs as module `solution` (its `__main__` guard does not fire), the tests
  as `__main__` in the same namespace, compiled with `optimize=0` and instrumented;
- tests run the way their framework runs them: pytest-style tests under real pytest
  (`pytest_plugin.py`); every TestCase test the program did not run to an outcome runs under
  the harness's own unittest runner, whatever suite the program built; top-level `test_*`
  functions the tests never called are called (coroutines with asyncio; generators are
  reported as not run); non-daemon threads are joined and atexit handlers run, as at
  interpreter exit;
- modules the tests import that do not exist but whose names the implementation defines (`from
  my_module import f`) are the implementation;
- at the end: the tamper check, then one summary line `D{...}` with the nonce, which the
  harness reads only now from a pipe the zygote filled (it is in no Python object while the
  program runs; the zygote kept only its hash), and `os._exit(0)` so nothing runs after it.
"""

from __future__ import annotations

import ast
import atexit
import builtins
import os
import resource
import select
import stat
import sys
import threading
import traceback
import unittest
from types import ModuleType
from typing import Any

import orjson

from selfcodealign.execution import oracle, pytest_plugin, tamper
from selfcodealign.execution.checks import install_hooks as _install_checks
from selfcodealign.execution.events import CHANNEL_FD, State, report
from selfcodealign.execution.instrument import (
    Tracked,
    namespace_hooks,
    run_yielded,
)
from selfcodealign.execution.prepare import (
    Prepared,
    aliases,
    compile_source,
    defined_names,
    exits_at_the_end,
    prepare,
)
from selfcodealign.execution.verdict import NONCE_BYTES

__all__ = ["install_hooks", "run", "run_and_report", "run_calls", "run_inputs"]
_SNAPSHOT: tamper.Snapshot | None = None
_HIDDEN = ("selfcodealign", "ctypes", "_ctypes")
_PACKAGE = os.path.dirname(__file__)  # frames of the harness's own modules are left out


def install_hooks() -> None:
    """In the zygote, before any fork: the reporting hooks, then the tamper snapshot."""
    global _SNAPSHOT
    _install_checks()
    _SNAPSHOT = tamper.Snapshot()


# -- helpers -------------------------------------------------------------------------------


def _tail(exc: BaseException) -> str:
    """The traceback without the harness's leading frames, last 1500 characters."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))[-1500:]


def _classify(exc: BaseException, where: str) -> tuple[str, str]:
    if isinstance(exc, MemoryError):
        return "memory", f"MemoryError in the {where}"
    if isinstance(exc, RecursionError):
        return "error", f"RecursionError in the {where}"
    if isinstance(exc, AssertionError):
        return "failed", _tail(exc)
    if isinstance(exc, SystemExit):
        return "error", f"the {where} exited early via sys.exit({exc.code!r})"
    return "error", _tail(exc)


def hide_modules() -> None:
    """In the zygote, once everything is imported: the harness's own modules and ctypes leave
    sys.modules (a program importing them gets fresh, unused copies; the harness holds its
    references directly), and no atexit handler of the zygote's is left for a program to run."""
    for name in [n for n in sys.modules if n.split(".")[0] in _HIDDEN]:
        del sys.modules[name]
    atexit._clear()


def _fresh_module() -> ModuleType:
    """A module that is both `solution` and `__main__`, so unittest.main(), doctest and `from
    solution import f` find what the implementation and tests define."""
    module = ModuleType("__main__")
    sys.modules["__main__"] = sys.modules["solution"] = module
    sys.argv = ["tests.py"]
    module.__dict__.update(__name__="solution", __builtins__=builtins)
    return module


# -- running the tests ---------------------------------------------------------------------


def _watch_mocks() -> None:
    """A mock standing in for one of the implementation's own functions, called straight from
    the tests, means the tests check the mock: a failure. (Called from the implementation, it
    is a dependency mocked out, which is fine.)"""
    from unittest import mock

    mixin: Any = mock.CallableMixin
    original = mixin._mock_call

    def mock_call(self: Any, *args: Any, **kwargs: Any) -> Any:
        names = [n for n, v in State.originals.items()
                 if State.namespace is not None and State.namespace.get(n) is self]
        if names and _called_from_tests():
            report("mock", f"the tests call a mock standing in for the implementation's "
                           f"{names[0]}: they test the mock, not the implementation")
        return original(self, *args, **kwargs)

    mixin._mock_call = mock_call


def _called_from_tests() -> bool:
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.endswith(("mock.py", __file__)):
        frame = frame.f_back  # type: ignore[assignment]
    return frame is not None and frame.f_code.co_filename == "tests.py"



def _uncalled_functions() -> None:
    import inspect

    for name, func in list(Tracked.registry.items()):
        if name in Tracked.called:
            continue
        code = func.__code__
        needs = code.co_argcount - len(func.__defaults__ or ())
        if needs > 0 or inspect.isasyncgenfunction(func):
            State.not_run.append(name)
            continue
        State.tests_run += 1
        try:
            if inspect.iscoroutinefunction(func):
                import asyncio

                asyncio.run(func())
            elif inspect.isgeneratorfunction(func):
                run_yielded(func(), name)
            else:
                func()
        except unittest.SkipTest:
            State.skipped += 1
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                report("test", f"test function {name} exited early")
            else:
                report("test", f"test function {name} raised {_tail(exc)[-500:]}")


def _pending_testcases(namespace: dict[str, Any]) -> None:
    """Every test of every TestCase the program defines that has no outcome yet."""
    loader = unittest.TestLoader()
    result = unittest.TestResult()
    for value in list(namespace.values()):
        if not (isinstance(value, type) and issubclass(value, unittest.TestCase)) or \
                value.__module__ not in ("__main__", "solution"):
            continue
        names = [n for n in loader.getTestCaseNames(value) if (value, n) not in State.completed]
        if names:
            unittest.TestSuite([value(n) for n in names]).run(result)


def _join_threads(known: set[int | None]) -> None:
    for thread in threading.enumerate():
        if thread.ident not in known and not thread.daemon and thread.is_alive():
            thread.join()


def _run_tests(module: ModuleType, program: Prepared) -> tuple[str, str]:
    """Execute the instrumented tests and whatever they left unrun. Returns the status the
    harness saw ("passed" when nothing escaped) and a detail."""
    ns = module.__dict__
    reporter = None
    if program.pytest:
        path = os.path.join(os.getcwd(), f"{pytest_plugin.MODULE}.py")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(program.tests_source)
        ns["__file__"] = path
        sys.modules[pytest_plugin.MODULE] = module
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # the host's plugins stay out
        reporter = pytest_plugin.Reporter()
        pytest_plugin.install(reporter)
    else:
        ns["__file__"] = os.path.join(os.getcwd(), "tests.py")
    status, detail = "passed", ""
    ns["__name__"] = "__main__"
    try:
        exec(program.tests, ns)
    except SystemExit as exc:
        ran = State.runner_done or (reporter is not None and reporter.sessions > 0)
        if exc.code not in (0, None, False) and not ran:
            status, detail = "failed", f"the tests exited with code {exc.code!r}"
            report("tests", detail)
        elif not ran and not exits_at_the_end(exc, program.last_lines):
            status, detail = _classify(exc, "tests")  # an early exit skips the rest
    except BaseException as exc:
        status, detail = _classify(exc, "tests")
        if status == "failed" and not getattr(exc, "sca_reported", False):
            report("tests", detail)
    if status in ("memory",):
        return status, detail
    if reporter is not None:
        pytest_plugin.run_session(ns["__file__"], reporter)
    else:
        _uncalled_functions()
        _pending_testcases(ns)
    return status, detail


def run(code: str, tests: str) -> dict[str, Any]:
    """Run implementation then tests in this process; returns the summary fields."""
    prepared = prepare(code, tests)
    return prepared if isinstance(prepared, dict) else run_prepared(prepared)


def run_prepared(program: Prepared) -> dict[str, Any]:
    threads = {t.ident for t in threading.enumerate()}
    module = _fresh_module()
    ns = module.__dict__
    hooks = namespace_hooks()
    try:
        exec(program.impl, ns)
    except BaseException as exc:
        status, detail = _classify(exc, "implementation")
        return _summary(status, detail, ns, hooks)
    for name in program.aliases:
        sys.modules[name] = module
    State.originals = {name: ns[name] for name in program.defined if name in ns}
    State.namespace = ns
    if program.mocks:
        _watch_mocks()
    ns.update(hooks)
    try:
        status, detail = _run_tests(module, program)
        _join_threads(threads)
        atexit._run_exitfuncs()
    except BaseException as exc:  # the machinery itself was broken by the program
        status, detail = _classify(exc, "tests")
    return _summary(status, detail, ns, hooks)


def _summary(status: str, detail: str, ns: dict[str, Any], hooks: dict[str, Any]
             ) -> dict[str, Any]:
    found = _SNAPSHOT.changes() if _SNAPSHOT is not None else []
    found += tamper.overridden_test_machinery(ns)
    found += tamper.namespace_changes(ns, hooks) if ns.get("__name__") == "__main__" else []
    summary: dict[str, Any] = {
        "status": status, "detail": detail, "checks": State.checks,
        "tests_run": State.tests_run, "skipped": State.skipped, "not_run": State.not_run[:20],
        "failures": State.failures,
    }
    if found:
        summary["tamper"] = found[:10]
    if "ctypes" in sys.modules:
        summary["findings"] = ["ctypes imported (raw memory access)"]
    return summary


def _start(code: str) -> tuple[Any, dict[str, Any]] | dict[str, Any]:
    """The compiled implementation and a fresh namespace, or the syntax_error summary."""
    try:
        impl = compile_source(code, "solution.py")
    except (SyntaxError, ValueError) as exc:
        return {"status": "syntax_error", "detail": f"{type(exc).__name__}: {exc}"}
    return impl, _fresh_module().__dict__


def run_calls(code: str, calls: list[str], imports: str = "") -> dict[str, Any]:
    """Oracle mode: run the implementation and the tests' imports, evaluate each call, return
    encoded results only."""
    started = _start(code)
    if isinstance(started, dict):
        return started
    impl, ns = started
    returns: list[Any] = []
    status, detail = "passed", ""
    try:
        exec(impl, ns)
        if imports:
            tree = ast.parse(imports)
            for name in aliases(tree, defined_names(ast.parse(code))):
                sys.modules[name] = sys.modules["solution"]
            exec(compile_source(imports, "tests.py", tree), ns)
        for call in calls:
            try:
                returns.append(oracle.encode(eval(compile(call, "<call>", "eval"), ns)))
            except Exception as exc:
                returns.append({"raised": f"{type(exc).__name__}: {exc}"[:300]})
                break
    except BaseException as exc:
        status, detail = _classify(exc, "implementation")
    return {**_summary(status, detail, ns, {}), "returns": returns}


class _InputTimeout(BaseException):
    """One input ran past its own time limit (raised by the interval timer)."""


def _alarm(signum: int, frame: Any) -> None:
    raise _InputTimeout


def _call_inputs(fn: Any, inputs: list[Any], time_limits: list[float], returns: list[Any],
                 times: list[float], budget: int, keep_floats: bool) -> None:
    import signal
    import time

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
            return
        except Exception as exc:
            returns.append({"raised": f"{type(exc).__name__}: {exc}"[:300]})
            return
        times.append(time.perf_counter() - start)
        try:
            returns.append(oracle.encode_output(out, budget, keep_floats=keep_floats))
        except (ValueError, RecursionError) as exc:
            returns.append({"raised": f"unencodable output: {exc}"[:300]})
            return


def run_inputs(code: str, entry_point: str, inputs: list[Any], time_limits: list[float],
               budget: int = oracle.OUTPUT_BUDGET, keep_floats: bool = True) -> dict[str, Any]:
    """Benchmark mode: call `entry_point` on each input (typed data, decoded here, a fresh copy
    per call), each under its own time limit; return the encoded outputs (a digest for one over
    `budget` parts, see `oracle.encode_output`) and the seconds each call took. The first
    exception or timeout ends the run (later inputs are not called)."""
    import signal

    started = _start(code)
    if isinstance(started, dict):
        return started
    impl, ns = started
    returns: list[Any] = []
    times: list[float] = []
    status, detail = "passed", ""
    signal.signal(signal.SIGALRM, _alarm)
    try:
        exec(impl, ns)
        fn = ns.get(entry_point)
        if not callable(fn):
            status, detail = "error", f"{entry_point} is not defined"
        else:
            _call_inputs(fn, inputs, time_limits, returns, times, budget, keep_floats)
    except _InputTimeout:
        status, detail = "timeout", "time limit while loading"
    except BaseException as exc:
        status, detail = _classify(exc, "implementation")
    return {**_summary(status, detail, ns, {}), "returns": returns, "times": times}


# -- the end -------------------------------------------------------------------------------


def _nonces() -> list[str]:
    """Read the nonce the zygote put in a pipe (only now: while the program ran, it was in no
    Python object of this process). The pipe's descriptor number is not stored anywhere: it
    is a FIFO above the standard descriptors holding data. A decoy pipe only adds a wrong
    candidate."""
    found = []
    for fd in _readable(range(4, 256)):
        try:
            if not stat.S_ISFIFO(os.fstat(fd).st_mode):
                continue
            os.set_blocking(fd, False)
            data = os.read(fd, 64)
        except OSError:
            continue
        if len(data) == NONCE_BYTES:
            found.append(data.hex())
        if len(found) >= 4:
            break
    return found


def _readable(fds: range) -> list[int]:
    """The descriptors among `fds` with data to read: one poll() per group of descriptors
    the open-files limit allows, rather than a failing fstat() per closed one."""
    try:
        group = max(1, min(len(fds), resource.getrlimit(resource.RLIMIT_NOFILE)[0]))
    except (OSError, ValueError):
        group = 1
    ready: list[int] = []
    for start in range(0, len(fds), group):
        chunk = fds[start:start + group]
        poller = select.poll()
        for fd in chunk:
            poller.register(fd, select.POLLIN)
        try:
            ready += [fd for fd, events in poller.poll(0) if events & select.POLLIN]
        except OSError:  # a limit the program lowered below one descriptor: look at each
            ready += list(chunk)
    return ready


def run_and_report(job: dict[str, Any], prepared: Prepared | None = None) -> None:
    """Entry point in the sandboxed process: run, write the summary, leave at once."""
    try:
        if prepared is not None:
            summary = run_prepared(prepared)
        elif job.get("inputs") is not None:
            summary = run_inputs(job["code"], job["entry_point"], job["inputs"],
                                 job["time_limits"],
                                 int(job.get("output_budget", oracle.OUTPUT_BUDGET)),
                                 job.get("keep_floats", True) is True)
        elif job.get("calls") is not None:
            summary = run_calls(job["code"], job["calls"], job.get("tests") or "")
        else:
            summary = run(job["code"], job["tests"])
    except BaseException as exc:  # the harness itself must always report
        summary = {"status": "error", "detail": f"harness: {type(exc).__name__}: {exc}"[:500]}
    State.closing = True
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    summary["nonce"] = _nonces()
    data = b"D" + orjson.dumps(summary, default=str) + b"\n"
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(CHANNEL_FD, view):]
    except OSError:
        pass
    os._exit(0)
