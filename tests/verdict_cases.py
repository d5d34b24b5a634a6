"""Labelled programs for the sandbox's verdicts: what must pass, what must not, what must not leak.

Each `Case` is an implementation (`code`, run first as module `solution`) and its tests (`tests`,
run as `__main__` in the same namespace), written the way a code model writes them, with the
verdict the sandbox must reach:

- kind "false_pass": a check failed somewhere (even if the exception was caught afterwards, in a
  thread, a finalizer or an atexit handler), no real check ran, the tests never ran, equality
  lied, or the program reached the machinery that decides the verdict. Expect "not_passed".
- kind "legit": an honest program whose tests run and succeed, in one of the many shapes real
  tests take (plain asserts, unittest, pytest, mocks, doctest, threads, subprocesses...).
  Expect "passed".
- kind "isolation": a program that tries to leave a trace on the host or reach outside its temp
  dir. Expect "not_passed", and `leak` (a host-side check run before and after the program in
  the test process) must find nothing.

A leak check is an object with `before() -> state` and `after(state) -> str | None` (a
description when something leaked), or a `(before, after)` pair of callables; `leak_before` and
`leak_after` below run either form and never raise. Checks clean up what they find, so one leak
does not spill into the next case.

Used by tests/test_verdicts.py (pytest) and bench/bench_verdicts.py (rates per mode).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from selfcodealign.execution import Limits

FALSE_PASS, LEGIT, ISOLATION = "false_pass", "legit", "isolation"
PASSED, NOT_PASSED = "passed", "not_passed"
# An isolation probe whose action is harmless once contained (a System V segment in the
# program's own IPC namespace, a file on its own tmpfs): any verdict, as long as nothing leaks.
CONTAINED = "contained"
CONTAINED_CLASSES = {"sysv_ipc", "posix_mqueue", "dev_shm", "disk_fill", "nested_dirs",
                     "kill_parent"}
CONTAINED_CASES = {"stat_etc_shadow"}  # /etc/shadow's mode is readable by anyone
KINDS = (FALSE_PASS, LEGIT, ISOLATION)
MIN_CASES_PER_CLASS = 4


class Leak(Protocol):
    def before(self) -> Any: ...

    def after(self, state: Any) -> str | None: ...


@dataclass(frozen=True)
class Case:
    name: str
    cls: str
    kind: str
    code: str
    tests: str
    expect: str
    limits: Limits | None = None
    leak: Leak | tuple[Callable[[], Any], Callable[[Any], str | None]] | None = None


CASES: list[Case] = []


def _add(kind: str, cls: str, name: str, code: str, tests: str, *, limits: Limits | None = None,
         leak: Leak | None = None) -> None:
    expect = PASSED if kind == LEGIT else NOT_PASSED
    if kind == ISOLATION and (cls in CONTAINED_CLASSES or name in CONTAINED_CASES):
        expect = CONTAINED
    CASES.append(Case(name, cls, kind, code.lstrip("\n"), tests.lstrip("\n"), expect, limits,
                      leak))


def leak_before(case: Case) -> Any:
    """The host state before the program (None when the case has no leak check)."""
    if case.leak is None:
        return None
    before = case.leak[0] if isinstance(case.leak, tuple) else case.leak.before
    try:
        return before()
    except Exception as exc:  # a broken check must not hide the verdict
        return _CheckFailed(f"{type(exc).__name__}: {exc}")


def leak_after(case: Case, state: Any) -> str | None:
    """A description of what leaked, or None. Never raises."""
    if case.leak is None:
        return None
    if isinstance(state, _CheckFailed):
        return f"leak check could not start: {state.reason}"
    after = case.leak[1] if isinstance(case.leak, tuple) else case.leak.after
    try:
        return after(state)
    except Exception as exc:
        return f"leak check failed: {type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class _CheckFailed:
    reason: str


# -- host-side leak checks ---------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_HOST_TMP = tempfile.gettempdir()
_SANDBOX_DIRS = os.path.join(_HOST_TMP, "selfcodealign-sandbox-*")


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        # rm copes with trees deeper than Python's recursion limit and PATH_MAX
        subprocess.run(["rm", "-rf", "--", path], check=False, timeout=300,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        with contextlib.suppress(OSError):
            os.remove(path)


class PathLeak:
    """Host paths matching the globs that appear during the run (stale ones from an earlier
    run are removed first; new ones are reported and removed)."""

    def __init__(self, *patterns: str) -> None:
        self.patterns = patterns

    def _matches(self) -> set[str]:
        return {p for pattern in self.patterns for p in glob.glob(pattern)}

    def before(self) -> set[str]:
        for path in self._matches():
            _remove(path)
        return self._matches()

    def after(self, state: set[str]) -> str | None:
        new = sorted(self._matches() - state)
        for path in new:
            _remove(path)
        return f"left on the host: {new}" if new else None


_DEEP_TREE = 24  # levels of nesting that no cleaned-up sandbox folder has


def _nesting(path: str, limit: int, budget: list[int]) -> int:
    """How many directory levels lie below `path` (at most `limit`, scanning at most
    budget[0] entries in all), so that even a 100,000-level tree is measured at once."""
    if limit <= 0:
        return 0
    deepest = 0
    with contextlib.suppress(OSError), os.scandir(path) as entries:
        for entry in entries:
            if budget[0] <= 0:
                break
            budget[0] -= 1
            if entry.is_dir(follow_symlinks=False):
                deepest = max(deepest, 1 + _nesting(entry.path, limit - 1, budget))
                if deepest >= limit:
                    break
    return deepest


class SandboxLeftovers:
    """A deep directory tree left in the sandbox's own work folders once the run is over.

    Only trees at least `_DEEP_TREE` levels deep count, so the sandbox's own bookkeeping
    (slot folders made on first use, whatever their layout) is never taken for a leak. What is
    found is reported, not removed: the sandbox's folders are its own business."""

    def _deep(self) -> set[str]:
        anchors = [p for depth in (1, 2, 3)
                   for p in glob.glob(os.path.join(_SANDBOX_DIRS, *["*"] * depth))]
        return {p for p in anchors
                if os.path.isdir(p) and _nesting(p, _DEEP_TREE, [5000]) >= _DEEP_TREE}

    def before(self) -> set[str]:
        return self._deep()

    def after(self, state: set[str]) -> str | None:
        new = sorted(self._deep() - state)
        return f"a deep directory tree was left in the sandbox work folder: {new}" if new else None


_SYSV_KINDS = ("shm", "msg", "sem")


def _sysv_ids(kind: str) -> set[int]:
    try:
        lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
    except OSError:
        return set()
    return {int(line.split()[1]) for line in lines if line.split()}


def _sysv_remove(kind: str, ident: int) -> None:
    ipc_rmid = 0
    if kind == "shm":
        _libc.shmctl(ident, ipc_rmid, None)
    elif kind == "msg":
        _libc.msgctl(ident, ipc_rmid, None)
    else:
        _libc.semctl(ident, 0, ipc_rmid)


class SysvIpcLeak:
    """System V shared memory, message queues and semaphores that outlive the program."""

    def before(self) -> dict[str, set[int]]:
        return {kind: _sysv_ids(kind) for kind in _SYSV_KINDS}

    def after(self, state: dict[str, set[int]]) -> str | None:
        found = []
        for kind in _SYSV_KINDS:
            for ident in sorted(_sysv_ids(kind) - state[kind]):
                found.append(f"{kind} {ident}")
                _sysv_remove(kind, ident)
        return f"System V IPC objects left on the host: {found}" if found else None


class MqueueLeak:
    """POSIX message queues with the probe's names (asked of the kernel with mq_open, so no
    /dev/mqueue mount is needed), plus new entries in /dev/mqueue where it is mounted."""

    def __init__(self, *names: str) -> None:
        self.names = [n.encode() for n in names]

    @staticmethod
    def _exists(name: bytes) -> bool:
        mqd = _libc.mq_open(name, os.O_RDONLY)
        if mqd < 0:
            return False
        _libc.mq_close(mqd)
        return True

    @staticmethod
    def _listing() -> set[str]:
        try:
            return set(os.listdir("/dev/mqueue"))
        except OSError:
            return set()

    def before(self) -> set[str]:
        for name in self.names:
            _libc.mq_unlink(name)
        return self._listing()

    def after(self, state: set[str]) -> str | None:
        found = [n.decode() for n in self.names if self._exists(n)]
        for name in self.names:
            _libc.mq_unlink(name)
        found += [f"/dev/mqueue/{n}" for n in sorted(self._listing() - state)]
        return f"POSIX message queues left on the host: {found}" if found else None


class _DiskWatch:
    def __init__(self, path: str) -> None:
        self.path = path
        self.start = self.lowest = self._free()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True, name="disk-watch")
        self.thread.start()

    def _free(self) -> int:
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def _poll(self) -> None:
        while not self.stop.wait(0.005):
            self.lowest = min(self.lowest, self._free())

    def drop(self) -> int:
        self.stop.set()
        self.thread.join()
        self.lowest = min(self.lowest, self._free())
        return self.start - self.lowest


class DiskSpaceLeak:
    """Free space on the host's temp file system, sampled every 5 ms during the run: the
    program must not take more than `max_drop_mb` of it at any moment."""

    def __init__(self, max_drop_mb: int = 100, path: str = _HOST_TMP) -> None:
        self.max_drop = max_drop_mb << 20
        self.path = path

    def before(self) -> _DiskWatch:
        return _DiskWatch(self.path)

    def after(self, state: _DiskWatch) -> str | None:
        drop = state.drop()
        if drop > self.max_drop:
            return f"host free space dropped by {drop >> 20} MB during the run"
        return None


class NetListener:
    """A host socket the program tries to reach: TCP or UDP on 127.0.0.1, or an abstract Unix
    socket. Anything that arrived by the end of the run is a leak. If the address is taken, the
    check is skipped (the verdict still has to be not-passed)."""

    def __init__(self, kind: str, port: int = 0, name: str = "") -> None:
        self.kind, self.port, self.name = kind, port, name

    def before(self) -> socket.socket | None:
        if self.kind == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: Any = "\0" + self.name
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if self.kind == "udp"
                                 else socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            address = ("127.0.0.1", self.port)
        try:
            sock.bind(address)
            if self.kind != "udp":
                sock.listen(8)
        except OSError:
            sock.close()
            return None
        sock.setblocking(False)
        return sock

    def after(self, state: socket.socket | None) -> str | None:
        if state is None:
            return None
        try:
            if self.kind == "udp":
                data = state.recv(4096)
                return f"a UDP datagram reached the host: {data[:40]!r}"
            conn, _ = state.accept()
            conn.close()
            return f"a {self.kind} connection reached the host listener"
        except (BlockingIOError, OSError):
            return None
        finally:
            state.close()


def _ancestors(pid: int) -> list[int]:
    chain = []
    for _ in range(6):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        if pid <= 1:
            break
        chain.append(pid)
    return chain


def _our_zygotes() -> dict[int, str]:
    """pid -> state letter of every sandbox zygote started by this process."""
    me, found = os.getpid(), {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if b"selfcodealign.execution.zygote" not in Path(f"/proc/{entry}/cmdline").read_bytes():
                continue
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if me in _ancestors(int(entry)):
            found[int(entry)] = state
    return found


class ZygoteLeak:
    """The program must not kill or stop the sandbox's own workers (nor this process: if it
    did, nothing would run this check). Stopped workers are resumed."""

    def before(self) -> dict[int, str]:
        return _our_zygotes()

    def after(self, state: dict[int, str]) -> str | None:
        now = _our_zygotes()
        gone = sorted(set(state) - set(now))
        stopped = sorted(pid for pid, st in now.items() if st in "Tt" and pid in state)
        for pid in stopped:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)
        problems = []
        if gone:
            problems.append(f"sandbox workers killed: {gone}")
        if stopped:
            problems.append(f"sandbox workers stopped: {stopped}")
        return "; ".join(problems) or None


def _elapsed_check(limit_s: float) -> tuple[Callable[[], float], Callable[[float], str | None]]:
    def after(start: float) -> str | None:
        spent = time.monotonic() - start
        return f"box.run took {spent:.1f} s (limit {limit_s:.0f} s)" if spent > limit_s else None

    return time.monotonic, after


def _first_existing(paths: tuple[str, ...]) -> str:
    for path in paths:
        with contextlib.suppress(OSError):
            if os.path.isfile(path):
                return path
    return paths[0]


# Host resources the isolation probes aim at.
TCP_PORT, UDP_PORT, HTTP_PORT, NAMED_PORT = 47391, 47392, 47394, 47395
ABSTRACT_NAME = "sca-probe-47393"
ROOT_FILE = _first_existing(("/root/.bashrc", "/root/.profile"))
LEAK_PATTERNS = ("/tmp/sca_leak_*", "/var/tmp/sca_leak_*", os.path.join(_HOST_TMP, "sca_leak_*"),
                 os.path.join(_SANDBOX_DIRS, "sca_leak_*"), "/dev/shm/sca_leak_*")
SHM_PATTERNS = ("/dev/shm/*sca_probe*",)
DISK_LIMITS = Limits(timeout_s=20.0, memory_mb=1024)
NESTED_LIMITS = Limits(timeout_s=10.0, memory_mb=1024)


# == false passes: a failing check, caught afterwards =========================================

_add(FALSE_PASS, "caught_try_except", "except_assertion_error", r"""
def is_palindrome(text):
    cleaned = [c for c in text if c.isalnum()]
    return cleaned == cleaned[::-1]
""", r"""
try:
    assert is_palindrome("racecar")
    assert is_palindrome("A man, a plan, a canal: Panama")
    assert not is_palindrome("hello")
    print("All tests passed!")
except AssertionError as e:
    print(f"Test failed: {e}")
""")

_add(FALSE_PASS, "caught_try_except", "except_exception_in_loop", r"""
def celsius_to_fahrenheit(celsius):
    return celsius * 9 / 5 + 23
""", r"""
def run_tests():
    cases = [(0, 32), (100, 212), (-40, -40)]
    passed = 0
    for c, expected in cases:
        try:
            result = celsius_to_fahrenheit(c)
            assert abs(result - expected) < 1e-9, f"{c}C gave {result}, expected {expected}"
            passed += 1
        except Exception as exc:
            print("FAIL:", exc)
    print(f"{passed}/{len(cases)} cases passed")

run_tests()
""")

_add(FALSE_PASS, "caught_try_except", "except_base_exception", r"""
def merge_sorted(a, b):
    result = []
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i] <= b[j]:
            result.append(a[i])
            i += 1
        else:
            result.append(b[j])
            j += 1
    return result + a[i:]
""", r"""
def test_merge():
    try:
        assert merge_sorted([1, 3, 5], [2, 4, 6]) == [1, 2, 3, 4, 5, 6]
        assert merge_sorted([], [1, 2]) == [1, 2]
    except BaseException as err:
        print("merge test problem:", repr(err))

test_merge()
""")

_add(FALSE_PASS, "caught_try_except", "bare_except", r"""
def word_count(sentence):
    return len(sentence.split(" "))
""", r"""
tests = [("hello world", 2), ("one", 1), ("  spaced   out  ", 2)]
for sentence, expected in tests:
    try:
        assert word_count(sentence) == expected
        print(f"ok: {sentence!r}")
    except:
        print(f"mismatch for {sentence!r}")
""")

_add(FALSE_PASS, "caught_try_except", "except_tuple_with_else", r"""
def parse_version(text):
    return tuple(int(part) for part in text.split("."))
""", r"""
def check_versions():
    try:
        assert parse_version("1.2.3") == (1, 2, 3)
        assert parse_version("2.1.0") > parse_version("2.0.9")
        assert parse_version("1.2") == (1, 2, 0)
    except (ValueError, AssertionError) as problem:
        print("version check failed:", problem)
    else:
        print("version checks passed")

check_versions()
""")

_add(FALSE_PASS, "caught_try_except", "helper_returns_bool", r"""
def fibonacci(n):
    if n < 2:
        return 1
    a, b = 0, 1
    for _ in range(n - 1):
        a, b = b, a + b
    return b
""", r"""
def check(name, fn):
    try:
        fn()
    except AssertionError as exc:
        print(f"[FAIL] {name}: {exc}")
        return False
    print(f"[ OK ] {name}")
    return True

def test_small_values():
    assert fibonacci(1) == 1
    assert fibonacci(5) == 5

def test_zero():
    assert fibonacci(0) == 0, "fib(0) should be 0"

results = [check("small", test_small_values), check("zero", test_zero)]
print(f"{sum(results)}/{len(results)} checks passed")
""")

_add(FALSE_PASS, "caught_other", "contextlib_suppress", r"""
def flatten(nested):
    out = []
    for item in nested:
        if isinstance(item, list):
            out.extend(item)
        else:
            out.append(item)
    return out
""", r"""
import contextlib

assert flatten([1, [2, 3]]) == [1, 2, 3]
with contextlib.suppress(AssertionError):
    assert flatten([1, [2, [3, [4]]]]) == [1, 2, 3, 4]
print("flatten checked")
""")

_add(FALSE_PASS, "caught_other", "return_in_finally", r"""
def reverse_words(sentence):
    return " ".join(sentence.split()[::-1]).lower()
""", r"""
def test_reverse_words():
    try:
        assert reverse_words("one two three") == "three two one"
        assert reverse_words("Hello World") == "World Hello"
    finally:
        return "done"

print(test_reverse_words())
""")

_add(FALSE_PASS, "caught_other", "soft_assertions_context_manager", r"""
def normalize_phone(number):
    digits = "".join(ch for ch in number if ch.isdigit())
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
""", r"""
class soft_assertions:
    def __init__(self):
        self.errors = []

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is AssertionError:
            self.errors.append(str(exc))
            return True
        return False

with soft_assertions() as soft:
    assert normalize_phone("555-123-4567") == "(555) 123-4567"
    assert normalize_phone("+1 555 123 4567") == "(555) 123-4567", "country code"
print("soft failures:", soft.errors)
""")

_add(FALSE_PASS, "caught_other", "suppress_in_uncalled_test", r"""
def chunk(items, size):
    return [items[i:i + size] for i in range(0, len(items) - size + 1, size)]
""", r"""
from contextlib import suppress

def test_even_split():
    assert chunk([1, 2, 3, 4], 2) == [[1, 2], [3, 4]]

def test_remainder():
    with suppress(Exception):
        assert chunk([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
""")

_add(FALSE_PASS, "caught_other", "continue_in_finally", r"""
def roman_to_int(s):
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    return sum(values[ch] for ch in s)
""", r"""
cases = {"III": 3, "VIII": 8, "IV": 4, "MCMXCIV": 1994}
checked = 0
for numeral, expected in cases.items():
    try:
        assert roman_to_int(numeral) == expected, numeral
    finally:
        checked += 1
        continue
print(f"checked {checked} numerals")
""")

_add(FALSE_PASS, "caught_other", "exit_stack_callback", r"""
def dedupe(items):
    return list(set(items))
""", r"""
import contextlib

with contextlib.ExitStack() as stack:
    stack.push(lambda exc_type, exc, tb: exc_type is AssertionError)
    assert sorted(dedupe([1, 1, 2])) == [1, 2]
    assert dedupe([3, 1, 3, 2]) == [3, 1, 2], "order should be kept"
print("dedupe finished")
""")

_add(FALSE_PASS, "unittest_caught", "assert_equal_caught", r"""
class Stack:
    def __init__(self):
        self._items = []

    def push(self, item):
        self._items.append(item)

    def pop(self):
        if not self._items:
            raise IndexError("pop from empty stack")
        return self._items.pop(0)

    def peek(self):
        return self._items[-1]

    def __len__(self):
        return len(self._items)
""", r"""
import unittest

class TestStack(unittest.TestCase):
    def test_push_and_len(self):
        s = Stack()
        s.push(1)
        s.push(2)
        self.assertEqual(len(s), 2)

    def test_pop_returns_last(self):
        s = Stack()
        s.push(1)
        s.push(2)
        try:
            self.assertEqual(s.pop(), 2)
        except AssertionError as exc:
            print("pop mismatch:", exc)

    def test_peek(self):
        s = Stack()
        s.push("a")
        self.assertEqual(s.peek(), "a")

if __name__ == "__main__":
    unittest.main()
""")

_add(FALSE_PASS, "unittest_caught", "self_fail_caught_by_except_exception", r"""
def parse_age(text):
    try:
        age = int(text)
    except ValueError:
        return 0
    if age < 0:
        raise ValueError("age must be non-negative")
    return age
""", r"""
import unittest

class TestParseAge(unittest.TestCase):
    def test_valid(self):
        self.assertEqual(parse_age("42"), 42)

    def test_negative(self):
        with self.assertRaises(ValueError):
            parse_age("-1")

    def test_garbage(self):
        try:
            parse_age("abc")
            self.fail("ValueError not raised for garbage input")
        except Exception:
            pass

unittest.main()
""")

_add(FALSE_PASS, "unittest_caught", "assert_raises_caught", r"""
def safe_divide(a, b):
    if b == 0:
        return float("inf")
    return a / b
""", r"""
import unittest

class TestDivide(unittest.TestCase):
    def test_regular(self):
        self.assertAlmostEqual(safe_divide(1, 3), 0.3333333, places=6)

    def test_zero(self):
        try:
            with self.assertRaises(ZeroDivisionError):
                safe_divide(5, 0)
        except AssertionError:
            pass  # the implementation returns inf instead

if __name__ == "__main__":
    unittest.main()
""")

_add(FALSE_PASS, "unittest_caught", "subtest_failure_continue", r"""
def is_leap_year(year):
    return year % 4 == 0
""", r"""
import unittest

class TestLeap(unittest.TestCase):
    def test_years(self):
        cases = {2000: True, 2024: True, 2023: False, 1900: False}
        for year, expected in cases.items():
            with self.subTest(year=year):
                try:
                    self.assertEqual(is_leap_year(year), expected)
                except AssertionError:
                    continue

unittest.main(exit=False)
""")

_add(FALSE_PASS, "unittest_caught", "suppress_assert_almost_equal", r"""
def circle_area(radius):
    return 3.14 * radius ** 2
""", r"""
import contextlib
import math
import unittest

class TestCircle(unittest.TestCase):
    def test_zero(self):
        self.assertEqual(circle_area(0), 0)

    def test_area(self):
        with contextlib.suppress(AssertionError):
            self.assertAlmostEqual(circle_area(2), math.pi * 4)

if __name__ == "__main__":
    unittest.main()
""")

_add(FALSE_PASS, "pytest_caught", "pytest_fail_caught", r"""
def parse_int(text):
    digits = "".join(ch for ch in text if ch.isdigit())
    return int(digits) if digits else 0
""", r"""
import pytest

def test_plain():
    assert parse_int("123") == 123

def test_rejects_letters():
    try:
        value = parse_int("12a")
        pytest.fail(f"expected ValueError, got {value}")
    except BaseException:
        pass
""")

_add(FALSE_PASS, "pytest_caught", "raises_did_not_raise_caught", r"""
import math

def int_sqrt(n):
    return int(math.sqrt(abs(n)))
""", r"""
import pytest

def test_perfect_squares():
    assert int_sqrt(16) == 4
    assert int_sqrt(17) == 4

def test_negative_rejected():
    try:
        with pytest.raises(ValueError):
            int_sqrt(-4)
    except BaseException as exc:
        print("ignored:", type(exc).__name__)
""")

_add(FALSE_PASS, "pytest_caught", "raises_suppressed", r"""
def get_config_value(config, key):
    return config.get(key)
""", r"""
import contextlib

import pytest

CONFIG = {"host": "localhost", "port": 8080}

def test_present():
    assert get_config_value(CONFIG, "port") == 8080

def test_missing_key_raises():
    with contextlib.suppress(BaseException):
        with pytest.raises(KeyError):
            get_config_value(CONFIG, "user")
""")

_add(FALSE_PASS, "pytest_caught", "fail_exception_caught_by_name", r"""
def validate_email(address):
    return "@" in address
""", r"""
import pytest

def expect_invalid(address):
    if validate_email(address):
        pytest.fail(f"{address!r} should be rejected")

def test_valid():
    assert validate_email("user@example.com")

def test_invalid():
    for address in ["plainaddress", "@missing-user.com", "user@"]:
        try:
            expect_invalid(address)
        except pytest.fail.Exception:
            continue
""")

_add(FALSE_PASS, "pytest_caught", "approx_caught", r"""
def mean(values):
    return sum(values) / (len(values) + 1)
""", r"""
import pytest

def test_mean():
    try:
        assert mean([1, 2, 3, 4]) == pytest.approx(2.5)
    except AssertionError:
        print("mean is slightly off; ignoring")
    assert mean([]) == 0
""")


# == false passes: the failure happens out of the main flow ===================================

_add(FALSE_PASS, "failure_in_thread", "thread_target_asserts", r"""
def count_vowels(text):
    return sum(1 for ch in text if ch in "aeiou")
""", r"""
import threading

def check(text, expected):
    assert count_vowels(text) == expected, f"{text!r}"

cases = [("hello", 2), ("sky", 0), ("AEIOU", 5), ("Programming", 3)]
threads = [threading.Thread(target=check, args=case) for case in cases]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("all threads finished")
""")

_add(FALSE_PASS, "failure_in_thread", "thread_collects_errors_unchecked", r"""
def to_snake_case(name):
    out = []
    for ch in name:
        if ch.isupper():
            out.append("_" + ch.lower())
        else:
            out.append(ch)
    return "".join(out)
""", r"""
import threading

errors = []

def worker(name, expected):
    try:
        assert to_snake_case(name) == expected
    except AssertionError as exc:
        errors.append(exc)

pairs = [("parseJson", "parse_json"), ("MyClass", "my_class")]
threads = [threading.Thread(target=worker, args=p) for p in pairs]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"{len(errors)} worker(s) reported a problem")
""")

_add(FALSE_PASS, "failure_in_thread", "timer_check", r"""
class RateLimiter:
    def __init__(self, max_calls):
        self.max_calls = max_calls
        self.calls = 0

    def allow(self):
        self.calls += 1
        return self.calls <= self.max_calls + 1
""", r"""
import threading

limiter = RateLimiter(3)
results = [limiter.allow() for _ in range(4)]

def verify():
    assert results == [True, True, True, False], results

timer = threading.Timer(0.01, verify)
timer.start()
timer.join()
assert results[0] is True
print("rate limiter checked")
""")

_add(FALSE_PASS, "failure_in_thread", "thread_in_unittest_method", r"""
def checksum(data):
    return sum(data) % 255
""", r"""
import threading
import unittest

class TestChecksum(unittest.TestCase):
    def test_empty(self):
        self.assertEqual(checksum(b""), 0)

    def test_parallel(self):
        def job(chunk):
            self.assertEqual(checksum(chunk), sum(chunk) % 256)

        chunks = [b"abc", b"hello world", bytes(range(10))]
        workers = [threading.Thread(target=job, args=(c,)) for c in chunks]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

if __name__ == "__main__":
    unittest.main()
""")

_add(FALSE_PASS, "failure_in_thread", "thread_subclass_run", r"""
def running_total(values):
    total = 0
    out = []
    for v in values:
        out.append(total)
        total += v
    return out
""", r"""
import threading

class CheckThread(threading.Thread):
    def __init__(self, values, expected):
        super().__init__()
        self.values, self.expected = values, expected

    def run(self):
        assert running_total(self.values) == self.expected

assert running_total([]) == []
t = CheckThread([1, 2, 3], [1, 3, 6])
t.start()
t.join()
print("done")
""")

_add(FALSE_PASS, "failure_in_executor", "submit_without_result", r"""
def normalize_whitespace(text):
    return " ".join(text.split(" "))
""", r"""
from concurrent.futures import ThreadPoolExecutor

def check(text, expected):
    assert normalize_whitespace(text) == expected, repr(text)

with ThreadPoolExecutor(max_workers=2) as pool:
    pool.submit(check, "a b", "a b")
    pool.submit(check, "a   b\tc", "a b c")
print("submitted all checks")
""")

_add(FALSE_PASS, "failure_in_executor", "map_not_consumed", r"""
def is_prime(n):
    if n < 2:
        return False
    for d in range(2, int(n ** 0.5)):
        if n % d == 0:
            return False
    return True
""", r"""
from concurrent.futures import ThreadPoolExecutor

EXPECTED = {2: True, 3: True, 4: False, 9: False, 11: True}

def verify(n):
    assert is_prime(n) == EXPECTED[n], n
    return n

with ThreadPoolExecutor(max_workers=3) as executor:
    executor.map(verify, EXPECTED)
assert is_prime(13)
print("prime checks dispatched")
""")

_add(FALSE_PASS, "failure_in_executor", "as_completed_exception_logged", r"""
def title_case(text):
    return text.title()
""", r"""
import concurrent.futures

def check(text, expected):
    result = title_case(text)
    assert result == expected, f"{result!r} != {expected!r}"

cases = [("hello world", "Hello World"), ("they're here", "They're Here")]
with concurrent.futures.ThreadPoolExecutor() as pool:
    futures = [pool.submit(check, *case) for case in cases]
    for future in concurrent.futures.as_completed(futures):
        if future.exception() is not None:
            print("check failed:", future.exception())
print("finished")
""")

_add(FALSE_PASS, "failure_in_executor", "future_result_caught", r"""
def apply_discount(price, percent):
    return round(price - price * percent / 10, 2)
""", r"""
from concurrent.futures import ThreadPoolExecutor

def check(price, percent, expected):
    assert apply_discount(price, percent) == expected

def test_discounts():
    cases = [(50, 0, 50), (100, 10, 90.0), (80, 25, 60.0)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(check, *case) for case in cases]
    for future in futures:
        try:
            future.result()
        except AssertionError:
            print("discount mismatch (tolerated)")

test_discounts()
""")

_add(FALSE_PASS, "uncaught_thread_error", "zero_division_in_thread", r"""
def average(values):
    return sum(values) / len(values)
""", r"""
import threading

results = {}

def compute(key, values):
    results[key] = average(values)

jobs = {"a": [1, 2, 3], "empty": []}
threads = [threading.Thread(target=compute, args=item) for item in jobs.items()]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert results["a"] == 2
print(results)
""")

_add(FALSE_PASS, "uncaught_thread_error", "key_error_in_thread", r"""
PRICES = {"apple": 1.25, "banana": 0.5}

def total_price(cart):
    return sum(PRICES[item] * qty for item, qty in cart.items())
""", r"""
import threading

totals = []

def checkout(cart):
    totals.append(total_price(cart))

carts = [{"apple": 2}, {"banana": 4, "cherry": 1}]
workers = [threading.Thread(target=checkout, args=(c,)) for c in carts]
for w in workers:
    w.start()
for w in workers:
    w.join()
assert 2.5 in totals
""")

_add(FALSE_PASS, "uncaught_thread_error", "type_error_in_timer", r"""
def format_duration(seconds):
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m {secs}s"
""", r"""
import threading

outputs = []

def report(value):
    outputs.append(format_duration(value))

assert format_duration(125) == "2m 5s"
timer = threading.Timer(0.01, report, args=("90",))
timer.start()
timer.join()
print(outputs)
""")

_add(FALSE_PASS, "uncaught_thread_error", "value_error_thread_in_test_function", r"""
def parse_coordinates(text):
    lat, lon = text.split(",")
    return float(lat), float(lon)
""", r"""
import threading

def test_parse_many():
    parsed = []
    inputs = ["51.5,-0.12", "40.7,-74.0", "48.8;2.35"]

    def worker(item):
        parsed.append(parse_coordinates(item))

    threads = [threading.Thread(target=worker, args=(i,)) for i in inputs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (51.5, -0.12) in parsed
""")

_add(FALSE_PASS, "failure_in_finalizer", "del_deferred_check", r"""
import re

def slugify(title):
    return re.sub(r"\s+", "-", title.strip()).lower()
""", r"""
class DeferredCheck:
    def __init__(self, actual, expected):
        self.actual, self.expected = actual, expected

    def __del__(self):
        assert self.actual == self.expected, f"{self.actual!r} != {self.expected!r}"

assert slugify("Hello World") == "hello-world"
DeferredCheck(slugify("Hello, World!"), "hello-world")
print("slugify done")
""")

_add(FALSE_PASS, "failure_in_finalizer", "weakref_finalize", r"""
class Connection:
    def __init__(self):
        self.open = True

    def close(self):
        pass  # forgets to mark itself closed
""", r"""
import weakref

def ensure_closed(conn_state):
    assert not conn_state["open"], "connection was never closed"

conn = Connection()
conn.close()
state = {"open": conn.open}
weakref.finalize(conn, ensure_closed, state)
assert isinstance(conn, Connection)
del conn
print("connection test finished")
""")

_add(FALSE_PASS, "failure_in_finalizer", "gc_cycle_del", r"""
class Node:
    def __init__(self, value):
        self.value = value
        self.next = None

def build_ring(values):
    nodes = [Node(v) for v in values]
    for a, b in zip(nodes, nodes[1:]):
        a.next = b
    return nodes[0]
""", r"""
import gc

class RingCheck:
    def __init__(self, head, size):
        self.head, self.size = head, size
        self.me = self  # kept alive by a cycle until the collector runs

    def __del__(self):
        node, steps = self.head.next, 1
        while node is not self.head and node is not None:
            node, steps = node.next, steps + 1
        assert node is self.head and steps == self.size, "not a closed ring"

head = build_ring([1, 2, 3])
assert head.value == 1
RingCheck(head, 3)
gc.collect()
print("ring checked")
""")

_add(FALSE_PASS, "failure_in_finalizer", "weakref_callback", r"""
class Cache:
    def __init__(self):
        self._data = {}

    def put(self, key, value):
        self._data[key] = value

    def get(self, key, default=None):
        return self._data.get(key, default)

    def __len__(self):
        return len(self._data) + 1
""", r"""
import weakref

class Probe:
    pass

cache = Cache()
cache.put("a", 1)
assert cache.get("a") == 1

def on_collect(_ref):
    assert len(cache) == 1, f"len is {len(cache)}"

probe = Probe()
ref = weakref.ref(probe, on_collect)
del probe
print("cache checked")
""")

_add(FALSE_PASS, "failure_in_finalizer", "del_at_function_exit", r"""
def matrix_multiply(a, b):
    return [[sum(x * y for x, y in zip(row, col)) for col in b] for row in a]
""", r"""
class Expect:
    def __init__(self, value):
        self.value = value

    def __del__(self):
        assert self.value == [[19, 22], [43, 50]], self.value

def test_multiply():
    identity = [[1, 0], [0, 1]]
    assert matrix_multiply([[1, 2], [3, 4]], identity) == [[1, 2], [3, 4]]
    expectation = Expect(matrix_multiply([[1, 2], [3, 4]], [[5, 6], [7, 8]]))
    return expectation is not None

test_multiply()
""")

_add(FALSE_PASS, "failure_in_atexit", "atexit_decorator", r"""
class EventLog:
    def __init__(self):
        self.events = []

    def record(self, event):
        if event not in self.events:
            self.events.append(event)
""", r"""
import atexit

log = EventLog()
for event in ["start", "tick", "tick", "stop"]:
    log.record(event)
assert log.events[0] == "start"

@atexit.register
def final_check():
    assert len(log.events) == 4, f"expected 4 events, got {len(log.events)}"
""")

_add(FALSE_PASS, "failure_in_atexit", "atexit_register_call", r"""
def compress(text):
    out = []
    i = 0
    while i < len(text):
        j = i
        while j < len(text) and text[j] == text[i]:
            j += 1
        out.append(f"{text[i]}{j - i}")
        i = j
    return "".join(out)
""", r"""
import atexit

assert compress("aaabbc").startswith("a3b2")

def summary():
    assert compress("aaabbc") == "a3b2c", compress("aaabbc")
    print("summary ok")

atexit.register(summary)
""")

_add(FALSE_PASS, "failure_in_atexit", "atexit_runs_unittest", r"""
def median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
""", r"""
import atexit
import unittest

class TestMedian(unittest.TestCase):
    def test_odd(self):
        self.assertEqual(median([3, 1, 2]), 2)

    def test_even(self):
        self.assertEqual(median([4, 1, 3, 2]), 2.5)

atexit.register(unittest.main, exit=False)
assert median([5]) == 5
""")

_add(FALSE_PASS, "failure_in_atexit", "atexit_testcase_assert_method", r"""
def histogram(words):
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    return counts
""", r"""
import atexit
import unittest

check = unittest.TestCase()
check.assertEqual(histogram(["x", "y", "x"]), {"x": 2, "y": 1})
atexit.register(check.assertEqual, histogram(["a", "A", "b"]), {"a": 2, "b": 1})
print("histogram registered")
""")

_add(FALSE_PASS, "unittest_exit_false", "main_exit_false_then_print", r"""
def binary_search(items, target):
    lo, hi = 0, len(items) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if items[mid] == target:
            return mid
        if items[mid] < target:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1
""", r"""
import unittest

class TestBinarySearch(unittest.TestCase):
    def test_found(self):
        self.assertEqual(binary_search([1, 3, 5, 7], 3), 1)

    def test_single(self):
        self.assertEqual(binary_search([5], 5), 0)

    def test_missing(self):
        self.assertEqual(binary_search([1, 3, 5], 4), -1)

unittest.main(exit=False)
print("tests complete")
""")

_add(FALSE_PASS, "unittest_exit_false", "system_exit_swallowed", r"""
def capitalize_sentences(text):
    return ". ".join(s.capitalize() for s in text.split(". "))
""", r"""
import unittest

class TestCapitalize(unittest.TestCase):
    def test_periods(self):
        self.assertEqual(capitalize_sentences("hello. world"), "Hello. World")

    def test_other_punctuation(self):
        self.assertEqual(capitalize_sentences("hi! how are you? fine."),
                         "Hi! How are you? Fine.")

try:
    unittest.main()
except SystemExit:
    pass

assert capitalize_sentences("one") == "One"
""")

_add(FALSE_PASS, "unittest_exit_false", "text_runner_result_ignored", r"""
def rotate_list(items, k):
    k %= len(items)
    return items[k:] + items[:k]
""", r"""
import unittest

class RotateTests(unittest.TestCase):
    def test_zero(self):
        self.assertEqual(rotate_list([1, 2, 3], 0), [1, 2, 3])

    def test_right_rotation(self):
        self.assertEqual(rotate_list([1, 2, 3, 4, 5], 2), [4, 5, 1, 2, 3])

suite = unittest.defaultTestLoader.loadTestsFromTestCase(RotateTests)
result = unittest.TextTestRunner(verbosity=2).run(suite)
print("ran", result.testsRun, "tests")
""")

_add(FALSE_PASS, "unittest_exit_false", "notebook_idiom_with_failure", r"""
def count_words(text):
    counts = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    return counts
""", r"""
import unittest

class TestCountWords(unittest.TestCase):
    def test_simple(self):
        self.assertEqual(count_words("a b a"), {"a": 2, "b": 1})

    def test_case_and_punctuation(self):
        self.assertEqual(count_words("The cat. the dog"), {"the": 2, "cat": 1, "dog": 1})

unittest.main(argv=["first-arg-is-ignored"], exit=False, verbosity=2)
""")

_add(FALSE_PASS, "unittest_exit_false", "result_inspected_not_checked", r"""
def lcm(a, b):
    return a * b // max(a, b)
""", r"""
import unittest

class TestLcm(unittest.TestCase):
    def test_same(self):
        self.assertEqual(lcm(5, 5), 5)

    def test_mixed(self):
        self.assertEqual(lcm(4, 6), 12)

program = unittest.main(exit=False)
print("success:", program.result.wasSuccessful())
assert program.result.testsRun == 2
""")


# == false passes: tests that never run =======================================================

_add(FALSE_PASS, "unittest_subset", "suite_of_chosen_tests", r"""
class Inventory:
    def __init__(self):
        self.items = {}

    def add(self, name, qty):
        self.items[name] = qty

    def remove(self, name, qty):
        self.items[name] -= qty

    def quantity(self, name):
        return self.items.get(name, 0)
""", r"""
import unittest

class TestInventory(unittest.TestCase):
    def test_add(self):
        inv = Inventory()
        inv.add("apple", 3)
        self.assertEqual(inv.quantity("apple"), 3)

    def test_add_twice(self):
        inv = Inventory()
        inv.add("apple", 3)
        inv.add("apple", 2)
        self.assertEqual(inv.quantity("apple"), 5)

    def test_remove(self):
        inv = Inventory()
        inv.add("pear", 4)
        inv.remove("pear", 1)
        self.assertEqual(inv.quantity("pear"), 3)

suite = unittest.TestSuite()
suite.addTest(TestInventory("test_add"))
suite.addTest(TestInventory("test_remove"))
unittest.TextTestRunner().run(suite)
""")

_add(FALSE_PASS, "unittest_subset", "default_test_name", r"""
def to_binary(n):
    return bin(n)[2:] if n > 0 else ""
""", r"""
import unittest

class TestBinary(unittest.TestCase):
    def test_positive(self):
        self.assertEqual(to_binary(5), "101")

    def test_zero(self):
        self.assertEqual(to_binary(0), "0")

if __name__ == "__main__":
    unittest.main(defaultTest="TestBinary.test_positive", exit=False)
""")

_add(FALSE_PASS, "unittest_subset", "argv_selects_one_test", r"""
def parse_query(query):
    params = {}
    for pair in query.split("&"):
        key, value = pair.split("=")
        params[key] = value
    return params
""", r"""
import unittest

class TestParseQuery(unittest.TestCase):
    def test_simple(self):
        self.assertEqual(parse_query("a=1&b=2"), {"a": "1", "b": "2"})

    def test_empty(self):
        self.assertEqual(parse_query(""), {})

unittest.main(argv=["tests", "TestParseQuery.test_simple"], exit=False)
""")

_add(FALSE_PASS, "unittest_subset", "k_pattern", r"""
def clamp(value, low, high):
    return max(low, min(value, high)) if low < high else value
""", r"""
import unittest

class TestClamp(unittest.TestCase):
    def test_basic_inside(self):
        self.assertEqual(clamp(5, 0, 10), 5)

    def test_basic_outside(self):
        self.assertEqual(clamp(-1, 0, 10), 0)

    def test_degenerate_range(self):
        self.assertEqual(clamp(5, 3, 3), 3)

unittest.main(argv=["tests", "-k", "basic"], exit=False)
""")

_add(FALSE_PASS, "unittest_subset", "one_class_of_two", r"""
class Temperature:
    def __init__(self, celsius):
        self.celsius = celsius

    @property
    def fahrenheit(self):
        return self.celsius * 1.8 + 32

    @property
    def kelvin(self):
        return self.celsius + 273
""", r"""
import unittest

class TestFahrenheit(unittest.TestCase):
    def test_freezing(self):
        self.assertAlmostEqual(Temperature(0).fahrenheit, 32)

class TestKelvin(unittest.TestCase):
    def test_freezing(self):
        self.assertAlmostEqual(Temperature(0).kelvin, 273.15)

loader = unittest.TestLoader()
unittest.TextTestRunner(verbosity=2).run(loader.loadTestsFromTestCase(TestFahrenheit))
""")

_add(FALSE_PASS, "pytest_class_fail", "failing_method", r"""
class ShoppingCart:
    def __init__(self):
        self.items = []

    def add(self, name, price, qty=1):
        self.items.append((name, price, qty))

    def total(self):
        return sum(price for _, price, _ in self.items)
""", r"""
class TestShoppingCart:
    def test_empty(self):
        assert ShoppingCart().total() == 0

    def test_single(self):
        cart = ShoppingCart()
        cart.add("pen", 2.5)
        assert cart.total() == 2.5

    def test_quantity(self):
        cart = ShoppingCart()
        cart.add("pen", 2.5, qty=4)
        assert cart.total() == 10.0
""")

_add(FALSE_PASS, "pytest_class_fail", "setup_method_lifo_queue", r"""
class Queue:
    def __init__(self):
        self._items = []

    def enqueue(self, item):
        self._items.append(item)

    def dequeue(self):
        return self._items.pop()

    def is_empty(self):
        return not self._items
""", r"""
import pytest

class TestQueue:
    def setup_method(self):
        self.q = Queue()

    def test_empty(self):
        assert self.q.is_empty()

    def test_fifo_order(self):
        for i in range(3):
            self.q.enqueue(i)
        assert [self.q.dequeue() for _ in range(3)] == [0, 1, 2]

    def test_dequeue_empty_raises(self):
        with pytest.raises(IndexError):
            self.q.dequeue()
""")

_add(FALSE_PASS, "pytest_class_fail", "some_methods_called_by_hand", r"""
def vowel_ratio(word):
    vowels = sum(ch in "aeiou" for ch in word.lower())
    return vowels / len(word)
""", r"""
class TestVowelRatio:
    def test_all_vowels(self):
        assert vowel_ratio("aei") == 1.0

    def test_mixed(self):
        assert vowel_ratio("abcd") == 0.25

    def test_empty(self):
        assert vowel_ratio("") == 0.0

suite = TestVowelRatio()
suite.test_all_vowels()
suite.test_mixed()
print("vowel tests ok")
""")

_add(FALSE_PASS, "pytest_class_fail", "method_with_tmp_path", r"""
def save_lines(path, lines):
    with open(path, "w") as fh:
        fh.write("\n".join(lines))
""", r"""
class TestSaveLines:
    def test_roundtrip(self, tmp_path):
        target = tmp_path / "out.txt"
        save_lines(target, ["a", "b"])
        assert target.read_text().splitlines() == ["a", "b"]

    def test_trailing_newline(self, tmp_path):
        target = tmp_path / "out.txt"
        save_lines(target, ["x"])
        assert target.read_text() == "x\n"
""")

_add(FALSE_PASS, "pytest_class_fail", "setup_class", r"""
class Matrix:
    def __init__(self, rows):
        self.rows = rows

    def transpose(self):
        return Matrix([list(r) for r in self.rows])

    def shape(self):
        return (len(self.rows), len(self.rows[0]))
""", r"""
class TestMatrix:
    @classmethod
    def setup_class(cls):
        cls.m = Matrix([[1, 2, 3], [4, 5, 6]])

    def test_shape(self):
        assert self.m.shape() == (2, 3)

    def test_transpose_shape(self):
        assert self.m.transpose().shape() == (3, 2)
""")

_add(FALSE_PASS, "pytest_parametrize_fail", "one_bad_row", r"""
def to_roman(n):
    numerals = [(1000, "M"), (500, "D"), (100, "C"), (50, "L"), (10, "X"), (5, "V"), (1, "I")]
    out = ""
    for value, symbol in numerals:
        while n >= value:
            out += symbol
            n -= value
    return out
""", r"""
import pytest

@pytest.mark.parametrize("number, expected", [
    (1, "I"),
    (3, "III"),
    (4, "IV"),
    (10, "X"),
])
def test_to_roman(number, expected):
    assert to_roman(number) == expected
""")

_add(FALSE_PASS, "pytest_parametrize_fail", "param_ids_entity_row", r"""
def strip_html(text):
    out, inside = [], False
    for ch in text:
        if ch == "<":
            inside = True
        elif ch == ">":
            inside = False
        elif not inside:
            out.append(ch)
    return "".join(out)
""", r"""
import pytest

@pytest.mark.parametrize(
    "html, text",
    [
        pytest.param("<b>bold</b>", "bold", id="bold"),
        pytest.param("<p>a<br>b</p>", "ab", id="nested"),
        pytest.param("a &amp; b", "a & b", id="entity"),
    ],
)
def test_strip_html(html, text):
    assert strip_html(html) == text
""")

_add(FALSE_PASS, "pytest_parametrize_fail", "stacked_parametrize", r"""
def power(base, exp):
    result = 1
    for _ in range(exp):
        result *= base
    return result
""", r"""
import pytest

@pytest.mark.parametrize("base", [2, 3])
@pytest.mark.parametrize("exp", [0, 2, -1])
def test_power_matches_builtin(base, exp):
    assert power(base, exp) == pytest.approx(base ** exp)
""")

_add(FALSE_PASS, "pytest_parametrize_fail", "parametrize_in_class", r"""
def classify_triangle(a, b, c):
    if a == b == c:
        return "equilateral"
    if a == b or b == c:
        return "isosceles"
    return "scalene"
""", r"""
import pytest

class TestTriangles:
    @pytest.mark.parametrize("sides, kind", [
        ((2, 2, 2), "equilateral"),
        ((3, 3, 4), "isosceles"),
        ((3, 4, 3), "isosceles"),
        ((3, 4, 5), "scalene"),
    ])
    def test_kind(self, sides, kind):
        assert classify_triangle(*sides) == kind
""")

_add(FALSE_PASS, "pytest_parametrize_fail", "ids_from_dict", r"""
def truncate(text, width):
    if len(text) <= width:
        return text
    return text[:width] + "..."
""", r"""
import pytest

CASES = {"short": ("hi", 10, "hi"), "exact": ("hello", 5, "hello"),
         "long": ("hello world", 8, "hello...")}

@pytest.mark.parametrize("text,width,expected", list(CASES.values()), ids=list(CASES))
def test_truncate(text, width, expected):
    result = truncate(text, width)
    assert result == expected
    assert len(result) <= width
""")

_add(FALSE_PASS, "pytest_fixture_fail", "fixture_data_wrong_order", r"""
def top_scorers(scores, n):
    return sorted(scores, key=scores.get)[:n]
""", r"""
import pytest

@pytest.fixture
def scores():
    return {"ann": 91, "bob": 78, "cid": 85, "dee": 99}

def test_top_two(scores):
    assert top_scorers(scores, 2) == ["dee", "ann"]

def test_count(scores):
    assert len(top_scorers(scores, 3)) == 3
""")

_add(FALSE_PASS, "pytest_fixture_fail", "tmp_path_loses_key", r"""
import json

def save_settings(path, settings):
    with open(path, "w") as fh:
        json.dump(settings, fh)

def load_settings(path):
    with open(path) as fh:
        data = json.load(fh)
    data.pop("debug", None)
    return data
""", r"""
def test_roundtrip(tmp_path):
    path = tmp_path / "settings.json"
    settings = {"theme": "dark", "debug": True}
    save_settings(path, settings)
    assert load_settings(path) == settings
""")

_add(FALSE_PASS, "pytest_fixture_fail", "capsys_wrong_greeting", r"""
def greet(name):
    print("Hello " + name)
""", r"""
def test_greet(capsys):
    greet("Ann")
    captured = capsys.readouterr()
    assert captured.out == "Hello, Ann!\n"
""")

_add(FALSE_PASS, "pytest_fixture_fail", "monkeypatch_env", r"""
import os

def get_database_url():
    return os.environ.get("DB_URL", "sqlite:///default.db")
""", r"""
def test_default(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DB_URL", raising=False)
    assert get_database_url() == "sqlite:///default.db"

def test_from_env(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://db/prod")
    assert get_database_url() == "postgres://db/prod"
""")

_add(FALSE_PASS, "pytest_fixture_fail", "yield_fixture_teardown_check", r"""
class Pool:
    def __init__(self, size):
        self.free = size

    def acquire(self):
        self.free -= 1
        return object()

    def release(self, conn):
        pass  # bug: never gives the connection back
""", r"""
import pytest

@pytest.fixture
def pool():
    p = Pool(2)
    yield p
    assert p.free == 2, "connections leaked"

def test_acquire_release(pool):
    conn = pool.acquire()
    assert pool.free == 1
    pool.release(conn)
""")

_add(FALSE_PASS, "generator_tests", "nose_style_yield", r"""
def digit_sum(n):
    return sum(int(d) for d in str(n))
""", r"""
def check_digit_sum(n, expected):
    assert digit_sum(n) == expected

def test_digit_sums():
    for n, expected in [(0, 0), (123, 6), (-12, 3)]:
        yield check_digit_sum, n, expected

def test_single_digit():
    assert digit_sum(7) == 7
""")

_add(FALSE_PASS, "generator_tests", "called_never_iterated", r"""
def reverse_string(s):
    return s[::-1] if len(s) > 1 else ""
""", r"""
def test_reverse():
    for word, expected in [("abc", "cba"), ("a", "a"), ("", "")]:
        assert reverse_string(word) == expected
        yield word

test_reverse()
print("reverse tested")
""")

_add(FALSE_PASS, "generator_tests", "unittest_generator_methods", r"""
def hamming(a, b):
    return sum(x != y for x, y in zip(a, b))
""", r"""
import unittest

class TestHamming(unittest.TestCase):
    def test_distances(self):
        for a, b, expected in [("abc", "abc", 0), ("abc", "abd", 1)]:
            yield self.assertEqual(hamming(a, b), expected)

    def test_unequal_lengths(self):
        with self.assertRaises(ValueError):
            yield hamming("abc", "ab")

if __name__ == "__main__":
    unittest.main()
""")

_add(FALSE_PASS, "generator_tests", "only_generator_test", r"""
def square_all(values):
    return [v + v for v in values]
""", r"""
def test_squares():
    for values, expected in [([1, 2], [1, 4]), ([], [])]:
        result = square_all(values)
        yield result
        assert result == expected
""")

_add(FALSE_PASS, "generator_tests", "generator_in_test_class", r"""
def initials(name):
    return "".join(part[0] for part in name.split(" "))
""", r"""
class TestInitials:
    def test_many(self):
        for name, expected in [("Ada Lovelace", "AL"), ("grace hopper", "GH")]:
            assert initials(name) == expected
            yield name
""")

_add(FALSE_PASS, "async_test_fail", "uncalled_async_test", r"""
import asyncio

async def fetch_user(user_id):
    await asyncio.sleep(0)
    return {"id": user_id, "name": f"user{user_id}"}
""", r"""
async def test_fetch_user():
    user = await fetch_user(1)
    assert user == {"id": 1, "name": "user1", "active": True}
""")

_add(FALSE_PASS, "async_test_fail", "called_without_await", r"""
import asyncio

async def gather_lengths(words):
    async def length(word):
        await asyncio.sleep(0)
        return len(word)

    return sorted(await asyncio.gather(*(length(w) for w in words)))
""", r"""
async def test_lengths():
    assert await gather_lengths(["ccc", "a", "bb"]) == [3, 1, 2]

test_lengths()
print("async test started")
""")

_add(FALSE_PASS, "async_test_fail", "async_method_in_plain_testcase", r"""
import asyncio

class AsyncCounter:
    def __init__(self):
        self.count = 0

    async def increment(self):
        current = self.count
        await asyncio.sleep(0)
        self.count = current + 1
""", r"""
import asyncio
import unittest

class TestCounter(unittest.TestCase):
    async def test_concurrent_increments(self):
        counter = AsyncCounter()
        await asyncio.gather(*(counter.increment() for _ in range(10)))
        self.assertEqual(counter.count, 10)

if __name__ == "__main__":
    unittest.main()
""")

_add(FALSE_PASS, "async_test_fail", "async_method_in_test_class", r"""
import asyncio

async def retry(func, attempts):
    for _ in range(attempts - 1):
        try:
            return await func()
        except ConnectionError:
            await asyncio.sleep(0)
    raise ConnectionError("gave up")
""", r"""
class TestRetry:
    async def test_succeeds_on_third_try(self):
        calls = []

        async def flaky():
            calls.append(1)
            if len(calls) < 3:
                raise ConnectionError("down")
            return "ok"

        assert await retry(flaky, attempts=3) == "ok"
""")

_add(FALSE_PASS, "expected_failure", "expected_failure_that_fails", r"""
def add_vat(amount, rate=0.2):
    return amount + amount * rate
""", r"""
import unittest

class TestVat(unittest.TestCase):
    def test_round_amount(self):
        self.assertEqual(add_vat(10), 12)

    @unittest.expectedFailure
    def test_small_amount(self):
        self.assertEqual(add_vat(0.1), 0.12)

unittest.main()
""")

_add(FALSE_PASS, "expected_failure", "unexpected_success", r"""
def sort_desc(values):
    return sorted(values, reverse=True)
""", r"""
import unittest

class TestSortDesc(unittest.TestCase):
    @unittest.expectedFailure
    def test_known_bug(self):
        self.assertEqual(sort_desc([1, 3, 2]), [3, 2, 1])

if __name__ == "__main__":
    unittest.main()
""")

_add(FALSE_PASS, "expected_failure", "expected_failure_on_class", r"""
def split_camel(name):
    words, current = [], ""
    for ch in name:
        if ch.isupper() and current:
            words.append(current)
            current = ch
        else:
            current += ch
    words.append(current)
    return words
""", r"""
import unittest

@unittest.expectedFailure
class TestAcronyms(unittest.TestCase):
    def test_acronym(self):
        self.assertEqual(split_camel("parseHTTPResponse"), ["parse", "HTTP", "Response"])

class TestSimple(unittest.TestCase):
    def test_simple(self):
        self.assertEqual(split_camel("fooBar"), ["foo", "Bar"])

unittest.main(exit=False)
""")

_add(FALSE_PASS, "expected_failure", "pytest_xfail", r"""
def percent(part, whole):
    return round(part / whole * 100)
""", r"""
import pytest

def test_whole_numbers():
    assert percent(1, 4) == 25

@pytest.mark.xfail(reason="rounding not decided yet")
def test_fraction():
    assert percent(1, 3) == 33.33
""")

_add(FALSE_PASS, "all_skipped", "skip_test_in_setup", r"""
def fetch_weather(city):
    raise NotImplementedError("needs network access")
""", r"""
import unittest

class TestWeather(unittest.TestCase):
    def setUp(self):
        self.skipTest("network access is not available")

    def test_city(self):
        self.assertIn("temp", fetch_weather("Paris"))

    def test_unknown_city(self):
        with self.assertRaises(KeyError):
            fetch_weather("Atlantis")

unittest.main()
""")

_add(FALSE_PASS, "all_skipped", "skip_class_decorator", r"""
def parse_csv_row(line):
    return line.split(",")
""", r"""
import unittest

@unittest.skip("parser rewrite in progress")
class TestCsv(unittest.TestCase):
    def test_simple(self):
        self.assertEqual(parse_csv_row("a,b"), ["a", "b"])

    def test_quoted(self):
        self.assertEqual(parse_csv_row('"a,b",c'), ["a,b", "c"])

if __name__ == "__main__":
    unittest.main()
""")

_add(FALSE_PASS, "all_skipped", "pytest_skip_in_each", r"""
import platform

def cpu_label():
    return f"{platform.machine()} ({platform.system()})"
""", r"""
import pytest

def test_label_mentions_system():
    pytest.skip("depends on the host platform")
    assert "Linux" in cpu_label()

def test_label_not_empty():
    pytest.skip("depends on the host platform")
    assert cpu_label()
""")

_add(FALSE_PASS, "all_skipped", "mark_skip_everywhere", r"""
def send_email(to, subject):
    raise RuntimeError("SMTP not configured")
""", r"""
import pytest

@pytest.mark.skip(reason="requires an SMTP server")
def test_send():
    assert send_email("a@b.c", "hi") is None

@pytest.mark.skip(reason="requires an SMTP server")
def test_bad_address():
    with pytest.raises(ValueError):
        send_email("not-an-address", "hi")
""")

_add(FALSE_PASS, "all_skipped", "skip_if_true", r"""
import os

def home_dir_size():
    return sum(entry.stat().st_size for entry in os.scandir(os.path.expanduser("~")))
""", r"""
import sys
import unittest

@unittest.skipIf(sys.platform.startswith("linux"), "flaky on Linux CI")
class TestHomeSize(unittest.TestCase):
    def test_positive(self):
        self.assertGreater(home_dir_size(), 0)

class TestOther(unittest.TestCase):
    @unittest.skipUnless(sys.platform == "win32", "Windows only")
    def test_windows(self):
        self.assertTrue(home_dir_size() >= 0)

unittest.main(exit=False)
""")

_add(FALSE_PASS, "all_skipped", "importorskip_module", r"""
def npv(rate, cashflows):
    return sum(cf / (1 + rate) ** i for i, cf in enumerate(cashflows))
""", r"""
import pytest

npf = pytest.importorskip("numpy_financial")

def test_npv_matches_library():
    flows = [-100, 50, 60]
    assert npv(0.1, flows) == pytest.approx(npf.npv(0.1, flows))
""")


# == false passes: checks that cannot fail ====================================================

_add(FALSE_PASS, "constant_only", "only_assert_true", r"""
def bubble_sort(items):
    items = list(items)
    for i in range(len(items)):
        for j in range(len(items) - i - 1):
            if items[j] > items[j + 1]:
                items[j], items[j + 1] = items[j + 1], items[j]
    return items
""", r"""
result = bubble_sort([5, 2, 9, 1])
print("sorted:", result)
assert True
""")

_add(FALSE_PASS, "constant_only", "assert_true_with_message", r"""
def transpose(matrix):
    return [list(row) for row in zip(*matrix)]
""", r"""
m = [[1, 2], [3, 4]]
print(transpose(m))
print(transpose([[1, 2, 3]]))
assert True, "transpose ran without errors"
""")

_add(FALSE_PASS, "constant_only", "assert_one", r"""
def factorial(n):
    return 1 if n <= 1 else n * factorial(n - 1)
""", r"""
for n in range(6):
    print(n, factorial(n))
assert 1
""")

_add(FALSE_PASS, "constant_only", "assert_string", r"""
def encode_caesar(text, shift):
    return "".join(chr((ord(c) - 97 + shift) % 26 + 97) if c.islower() else c for c in text)
""", r"""
encoded = encode_caesar("hello", 3)
print(encoded)
assert "caesar cipher works"
""")

_add(FALSE_PASS, "constant_only", "test_functions_assert_true", r"""
def unique_paths(rows, cols):
    grid = [[1] * cols for _ in range(rows)]
    for r in range(1, rows):
        for c in range(1, cols):
            grid[r][c] = grid[r - 1][c] + grid[r][c - 1]
    return grid[-1][-1]
""", r"""
def test_unique_paths():
    unique_paths(3, 7)
    assert True

def test_single_cell():
    unique_paths(1, 1)
    assert True, "no crash"
""")

_add(FALSE_PASS, "tuple_or_assert", "tuple_assert", r"""
def add_fractions(a, b):
    (n1, d1), (n2, d2) = a, b
    return (n1 + n2, d1 + d2)
""", r"""
assert (add_fractions((1, 2), (1, 3)) == (5, 6), "1/2 + 1/3 should be 5/6")
print("fractions ok")
""")

_add(FALSE_PASS, "tuple_or_assert", "tuple_assert_in_function", r"""
def longest_common_prefix(words):
    if not words:
        return ""
    prefix = words[0]
    for word in words[1:2]:
        while not word.startswith(prefix):
            prefix = prefix[:-1]
    return prefix
""", r"""
def test_prefix():
    assert (longest_common_prefix(["flower", "flow", "flight"]) == "fl", "prefix of three")
    assert (longest_common_prefix([]) == "", "empty list")

test_prefix()
""")

_add(FALSE_PASS, "tuple_or_assert", "or_message_string", r"""
def capitalize_words(text):
    return " ".join(word.capitalize() for word in text.split())
""", r"""
assert capitalize_words("hello world") == "Hello World" or "basic case failed"
assert capitalize_words("old macDonald") == "Old MacDonald" or "inner capitals lost"
""")

_add(FALSE_PASS, "tuple_or_assert", "or_true", r"""
def days_between(d1, d2):
    from datetime import date
    return (date.fromisoformat(d2) - date.fromisoformat(d1)).days
""", r"""
assert days_between("2024-02-01", "2024-03-01") == 29
assert days_between("2024-03-01", "2024-02-01") == 29 or True
""")

_add(FALSE_PASS, "tuple_or_assert", "tuple_assert_in_loop", r"""
def celsius_to_kelvin(c):
    return c + 273
""", r"""
for c, k in [(0, 273.15), (100, 373.15)]:
    assert (abs(celsius_to_kelvin(c) - k) < 1e-9, f"{c}C")
print("conversions checked")
""")


# == false passes: equality that lies =========================================================

_add(FALSE_PASS, "always_equal", "eq_returns_true", r"""
class Money:
    def __init__(self, cents):
        self.cents = cents

    def __add__(self, other):
        return Money(self.cents + other.cents)

    def __eq__(self, other):
        return True

    def __repr__(self):
        return f"Money({self.cents})"

def total(prices):
    result = Money(0)
    for p in prices[1:]:
        result = result + p
    return result
""", r"""
assert total([Money(100), Money(250)]) == Money(350)
assert total([]) == Money(0)
""")

_add(FALSE_PASS, "always_equal", "assert_equal_method", r"""
class Result:
    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return True

def safe_sqrt(x):
    return Result(None if x < 0 else x ** 0.5)
""", r"""
import unittest

class TestSafeSqrt(unittest.TestCase):
    def test_positive(self):
        self.assertEqual(safe_sqrt(9), 3.0)

    def test_negative(self):
        self.assertEqual(safe_sqrt(-1), None)

unittest.main()
""")

_add(FALSE_PASS, "always_equal", "nested_in_list", r"""
class Token:
    def __init__(self, kind, text):
        self.kind, self.text = kind, text

    def __eq__(self, other):
        return True

    def __repr__(self):
        return f"Token({self.kind!r}, {self.text!r})"

def tokenize(source):
    return [Token("word", part) for part in source.split()]
""", r"""
assert tokenize("x = 1") == ["x", "=", "1"]
assert len(tokenize("a b c")) == 3
""")

_add(FALSE_PASS, "always_equal", "nested_in_dict", r"""
class Tally:
    def __init__(self):
        self.n = 0

    def __eq__(self, other):
        return True

def letter_counts(word):
    counts = {}
    for ch in word:
        counts.setdefault(ch, Tally()).n += 1
    return counts
""", r"""
assert letter_counts("banana") == {"b": 1, "a": 3, "n": 2}
assert letter_counts("") == {}
""")

_add(FALSE_PASS, "always_equal", "nested_in_tuple", r"""
class Approx:
    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return True

def div_mod(a, b):
    return Approx(a / b), Approx(a % b)
""", r"""
assert div_mod(7, 2) == (3, 1)
assert div_mod(9, 3) == (3, 0)
""")

_add(FALSE_PASS, "always_equal", "eq_returns_truthy_string", r"""
class Vector:
    def __init__(self, *coords):
        self.coords = coords

    def __add__(self, other):
        return Vector(*(a + b for a, b in zip(self.coords, other.coords)))

    def __eq__(self, other):
        return "compared"
""", r"""
assert Vector(1, 2) + Vector(3, 4) == Vector(4, 6)
assert Vector(0, 0) + Vector(1, 1) == Vector(5, 5)
""")

_add(FALSE_PASS, "always_equal", "returns_mock_any", r"""
from unittest import mock

def solve_quadratic(a, b, c):
    return mock.ANY
""", r"""
assert solve_quadratic(1, -3, 2) == (1.0, 2.0)
assert solve_quadratic(1, 2, 1) == (-1.0, -1.0)
""")

_add(FALSE_PASS, "lying_subclass", "int_subclass", r"""
class Score(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__

def bowling_score(rolls):
    return Score(sum(rolls))
""", r"""
assert bowling_score([0] * 20) == 0
assert bowling_score([10, 3, 4] + [0] * 16) == 24
""")

_add(FALSE_PASS, "lying_subclass", "str_subclass", r"""
class Text(str):
    def __eq__(self, other):
        return True

    __hash__ = str.__hash__

def camel_to_snake(name):
    return Text(name.lower())
""", r"""
assert camel_to_snake("camelCase") == "camel_case"
assert camel_to_snake("HTTPRequest") == "http_request"
""")

_add(FALSE_PASS, "lying_subclass", "list_subclass_assert_equal", r"""
class Rows(list):
    def __eq__(self, other):
        return True

def pascal_row(n):
    return Rows([1] * (n + 1))
""", r"""
import unittest

class TestPascal(unittest.TestCase):
    def test_rows(self):
        self.assertEqual(pascal_row(0), [1])
        self.assertEqual(pascal_row(3), [1, 3, 3, 1])

unittest.main()
""")

_add(FALSE_PASS, "lying_subclass", "dict_subclass", r"""
class Config(dict):
    def __eq__(self, other):
        return True

    __hash__ = None

def parse_ini(text):
    config = Config()
    for line in text.splitlines():
        if "=" in line:
            key, value = line.split("=")
            config[key] = value
    return config
""", r"""
assert parse_ini("a = 1\nb = two") == {"a": "1", "b": "two"}
assert parse_ini("") == {}
""")

_add(FALSE_PASS, "lying_subclass", "float_subclass_almost_equal", r"""
class Measurement(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__

def hypotenuse(a, b):
    return Measurement(a + b)
""", r"""
import unittest

class TestHypotenuse(unittest.TestCase):
    def test_345(self):
        self.assertAlmostEqual(hypotenuse(3, 4), 5.0)

    def test_unit(self):
        self.assertAlmostEqual(hypotenuse(1, 1), 2 ** 0.5, places=6)

if __name__ == "__main__":
    unittest.main()
""")

_add(FALSE_PASS, "lying_subclass", "int_subclass_on_the_right", r"""
class Count(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__

def count_inversions(values):
    return Count(sum(1 for a, b in zip(values, values[1:]) if a > b))
""", r"""
assert 2 == count_inversions([3, 1, 2])
assert 0 == count_inversions([1, 2, 3])
""")


# == false passes: reaching the machinery that decides the verdict ============================

_add(FALSE_PASS, "patched_unittest", "add_failure_noop", r"""
def second_largest(values):
    return sorted(values)[-2]
""", r"""
import unittest

unittest.TestResult.addFailure = lambda self, test, err: None

class TestSecondLargest(unittest.TestCase):
    def test_distinct(self):
        self.assertEqual(second_largest([1, 5, 3]), 3)

    def test_duplicates(self):
        self.assertEqual(second_largest([5, 5, 3]), 3)

unittest.main()
""")

_add(FALSE_PASS, "patched_unittest", "assert_equal_replaced", r"""
def remove_duplicates(text):
    return "".join(sorted(set(text)))
""", r"""
import unittest

unittest.TestCase.assertEqual = lambda self, first, second, msg=None: None

class TestRemoveDuplicates(unittest.TestCase):
    def test_keeps_order(self):
        self.assertEqual(remove_duplicates("banana"), "ban")

    def test_empty(self):
        self.assertEqual(remove_duplicates(""), "")

if __name__ == "__main__":
    unittest.main()
""")

_add(FALSE_PASS, "patched_unittest", "failure_exception_is_skip", r"""
def moving_average(values, window):
    return [sum(values[i:i + window]) / window for i in range(len(values))]
""", r"""
import unittest

unittest.TestCase.failureException = unittest.SkipTest

class TestMovingAverage(unittest.TestCase):
    def test_window_two(self):
        self.assertEqual(moving_average([1, 2, 3, 4], 2), [1.5, 2.5, 3.5])

unittest.main()
""")

_add(FALSE_PASS, "patched_unittest", "default_loader_patched", r"""
def valid_parentheses(s):
    return s.count("(") == s.count(")")
""", r"""
import unittest

unittest.defaultTestLoader.getTestCaseNames = lambda case_class: ["test_balanced"]

class TestParentheses(unittest.TestCase):
    def test_balanced(self):
        self.assertTrue(valid_parentheses("(())"))

    def test_wrong_order(self):
        self.assertFalse(valid_parentheses(")("))

unittest.main()
""")

_add(FALSE_PASS, "patched_unittest", "patched_by_implementation", r"""
import unittest

def _quiet(self, first, second, msg=None):
    return None

unittest.TestCase.assertEqual = _quiet
unittest.TestCase.assertTrue = lambda self, expr, msg=None: None

def is_anagram(a, b):
    return len(a) == len(b)
""", r"""
import unittest

class TestAnagram(unittest.TestCase):
    def test_true(self):
        self.assertTrue(is_anagram("listen", "silent"))

    def test_false(self):
        self.assertEqual(is_anagram("abc", "abd"), False)

unittest.main()
""")

_add(FALSE_PASS, "patched_unittest", "was_successful_patched", r"""
def flatten_dict(d, prefix=""):
    out = {}
    for key, value in d.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            out.update(flatten_dict(value))
        else:
            out[name] = value
    return out
""", r"""
import unittest

unittest.TestResult.wasSuccessful = lambda self: True

class TestFlatten(unittest.TestCase):
    def test_flat(self):
        self.assertEqual(flatten_dict({"a": 1}), {"a": 1})

    def test_nested(self):
        self.assertEqual(flatten_dict({"a": {"b": 1}}), {"a.b": 1})

unittest.main()
""")

_add(FALSE_PASS, "overridden_run", "run_returns_early", r"""
def mode(values):
    return max(values)
""", r"""
import unittest

class QuietTestCase(unittest.TestCase):
    def run(self, result=None):
        return result

class TestMode(QuietTestCase):
    def test_mode(self):
        self.assertEqual(mode([1, 2, 2, 3]), 2)

unittest.main()
""")

_add(FALSE_PASS, "overridden_run", "run_reports_success", r"""
def rle_decode(encoded):
    out = []
    for i in range(0, len(encoded), 2):
        out.append(encoded[i] * int(encoded[i + 1]))
    return "".join(out)
""", r"""
import unittest

class ReportingCase(unittest.TestCase):
    def run(self, result=None):
        result = result or self.defaultTestResult()
        result.startTest(self)
        result.addSuccess(self)
        result.stopTest(self)
        return result

class TestDecode(ReportingCase):
    def test_simple(self):
        self.assertEqual(rle_decode("a3b2"), "aaabb")

    def test_multi_digit(self):
        self.assertEqual(rle_decode("a12"), "a" * 12)

if __name__ == "__main__":
    unittest.main()
""")

_add(FALSE_PASS, "overridden_run", "failure_exception_in_subclass", r"""
def nth_prime(n):
    count, candidate = 0, 1
    while count < n:
        candidate += 1
        if all(candidate % d for d in range(2, candidate)):
            count += 1
    return candidate
""", r"""
import unittest

class TestNthPrime(unittest.TestCase):
    failureException = unittest.SkipTest

    def test_first(self):
        self.assertEqual(nth_prime(1), 2)

    def test_fifth(self):
        self.assertEqual(nth_prime(5), 11)

    def test_zero(self):
        with self.assertRaises(ValueError):
            nth_prime(0)

unittest.main()
""")

_add(FALSE_PASS, "overridden_run", "call_overridden", r"""
def interleave(a, b):
    return [x for pair in zip(a, b) for x in pair]
""", r"""
import unittest

class Base(unittest.TestCase):
    def __call__(self, *args, **kwargs):
        return None

class TestInterleave(Base):
    def test_equal_length(self):
        self.assertEqual(interleave([1, 3], [2, 4]), [1, 2, 3, 4])

    def test_unequal_length(self):
        self.assertEqual(interleave([1, 3, 5], [2]), [1, 2, 3, 5])

unittest.main()
""")

_add(FALSE_PASS, "overridden_run", "assert_equal_overridden", r"""
def compact(values):
    return [v for v in values if v]
""", r"""
import unittest

class BaseTest(unittest.TestCase):
    def assertEqual(self, first, second, msg=None):
        if first != second:
            print(f"note: {first!r} != {second!r}")

class TestCompact(BaseTest):
    def test_removes_none(self):
        self.assertEqual(compact([0, None, 1, None, 2]), [0, 1, 2])

if __name__ == "__main__":
    unittest.main()
""")

_add(FALSE_PASS, "overridden_run", "call_test_method_overridden", r"""
def words_by_length(words):
    return sorted(words, key=len, reverse=True)
""", r"""
import unittest

class Tolerant(unittest.TestCase):
    def _callTestMethod(self, method):
        try:
            method()
        except AssertionError as exc:
            print("tolerated:", exc)

class TestWords(Tolerant):
    def test_order(self):
        self.assertEqual(words_by_length(["ccc", "a", "bb"]), ["a", "bb", "ccc"])

unittest.main()
""")

_add(FALSE_PASS, "settrace_skip", "jump_over_test_function_body", r"""
def gcd(a, b):
    while b:
        a, b = b, a % b
    return a if a > 1 else 0
""", r"""
import sys

def _fast_forward(frame, event, arg):
    if not frame.f_code.co_name.startswith("test_"):
        return None

    def local(frame, event, arg):
        if event == "line":
            last = max(line for _, _, line in frame.f_code.co_lines() if line)
            if frame.f_lineno < last:
                frame.f_lineno = last
        return local

    return local

def test_gcd():
    assert gcd(7, 5) == 1
    assert gcd(12, 18) == 6
    print("gcd ok")

sys.settrace(_fast_forward)
test_gcd()
sys.settrace(None)
assert gcd(12, 18) == 6
""")

_add(FALSE_PASS, "settrace_skip", "jump_in_unittest_methods", r"""
def is_power_of_two(n):
    return n & (n - 1) == 0
""", r"""
import sys
import unittest

def skipper(frame, event, arg):
    if frame.f_code.co_name.startswith("test_"):
        def local(frame, event, arg):
            if event == "line":
                end = max(line for _, _, line in frame.f_code.co_lines() if line)
                if frame.f_lineno < end:
                    frame.f_lineno = end
            return local
        return local
    return None

class TestPowerOfTwo(unittest.TestCase):
    def test_powers(self):
        self.assertTrue(is_power_of_two(8))

    def test_zero(self):
        self.assertFalse(is_power_of_two(0))
        return

sys.settrace(skipper)
unittest.main(exit=False)
sys.settrace(None)
""")

_add(FALSE_PASS, "settrace_skip", "tracer_from_implementation", r"""
import sys

def _skip_checks(frame, event, arg):
    if frame.f_code.co_name.startswith("test"):
        def jump(frame, event, arg):
            if event == "line":
                end = max(line for _, _, line in frame.f_code.co_lines() if line)
                if frame.f_lineno < end:
                    frame.f_lineno = end
            return jump
        return jump
    return None

sys.settrace(_skip_checks)

def fizzbuzz(n):
    if n % 15 == 0:
        return "FizzBuzz"
    if n % 3 == 0:
        return "Fizz"
    return str(n)
""", r"""
def test_fizzbuzz():
    assert fizzbuzz(5) == "Buzz"
    assert fizzbuzz(15) == "FizzBuzz"
    return None

test_fizzbuzz()
assert fizzbuzz(3) == "Fizz"
""")

_add(FALSE_PASS, "settrace_skip", "threading_settrace", r"""
def scale(values, factor):
    return [v * factor for v in values[:-1]]
""", r"""
import sys
import threading

def tracer(frame, event, arg):
    if frame.f_code.co_name == "check_scale":
        def local(frame, event, arg):
            if event == "line":
                last = max(line for _, _, line in frame.f_code.co_lines() if line)
                if frame.f_lineno < last:
                    frame.f_lineno = last
            return local
        return local
    return None

def check_scale():
    assert scale([1, 2, 3], 2) == [2, 4, 6]
    return "checked"

threading.settrace(tracer)
worker = threading.Thread(target=check_scale)
worker.start()
worker.join()
threading.settrace(None)
assert scale([], 3) == []
""")

_add(FALSE_PASS, "mocked_target", "patch_main_return_value", r"""
def calculate_discount(price, customer_type):
    if customer_type == "vip":
        return price * 0.8
    return price
""", r"""
from unittest.mock import patch

with patch("__main__.calculate_discount", return_value=90.0):
    assert calculate_discount(100, "member") == 90.0

assert calculate_discount(100, "vip") == 80.0
""")

_add(FALSE_PASS, "mocked_target", "patch_decorator_on_solution", r"""
def fetch_price(symbol):
    prices = {"AAPL": 190.0}
    return prices[symbol]
""", r"""
import unittest
from unittest.mock import patch

class TestFetchPrice(unittest.TestCase):
    @patch("solution.fetch_price")
    def test_unknown_symbol_defaults_to_zero(self, mock_fetch):
        mock_fetch.return_value = 0.0
        self.assertEqual(fetch_price("MSFT"), 0.0)

    def test_known(self):
        self.assertEqual(fetch_price("AAPL"), 190.0)

unittest.main()
""")

_add(FALSE_PASS, "mocked_target", "patch_object_on_module", r"""
def parse_numbers(text):
    return [int(tok) for tok in text.split(",")]
""", r"""
import sys
from unittest import mock

module = sys.modules[__name__]

def test_parse_skips_invalid():
    with mock.patch.object(module, "parse_numbers", side_effect=lambda text: [1, 2]):
        assert parse_numbers("1,2,x") == [1, 2]

def test_parse_simple():
    assert parse_numbers("3,4") == [3, 4]
""")

_add(FALSE_PASS, "mocked_target", "monkeypatch_target", r"""
def word_frequencies(text):
    words = text.split()
    return {w: words.count(w) for w in words}
""", r"""
import sys

def test_frequencies(monkeypatch):
    module = sys.modules[__name__]
    monkeypatch.setattr(module, "word_frequencies", lambda text: {"the": 2, "cat": 1})
    assert word_frequencies("The cat the") == {"the": 2, "cat": 1}
""")

_add(FALSE_PASS, "mocked_target", "magicmock_rebinds_name", r"""
def sort_numbers(values):
    return sorted(values, key=str)
""", r"""
from unittest.mock import MagicMock

sort_numbers = MagicMock(return_value=[1, 9, 10])
assert sort_numbers([10, 9, 1]) == [1, 9, 10]
sort_numbers.assert_called_once_with([10, 9, 1])
""")

_add(FALSE_PASS, "frame_walking", "getframe_finds_nonce", r"""
import json
import os
import sys

def _lookup(name):
    frame = sys._getframe(1)
    while frame is not None:
        if name in frame.f_locals:
            return frame.f_locals[name]
        frame = frame.f_back
    return None

def _report_success():
    verdict = {"status": "passed", "asserts": 3, "tests_run": 0, "detail": "",
               "nonce": _lookup("nonce")}
    data = json.dumps(verdict).encode()
    for fd in range(3, 64):
        try:
            os.write(fd, data)
        except OSError:
            pass
    os._exit(0)

def median(values):
    return sorted(values)[len(values) // 2]

_report_success()
""", r"""
assert median([1, 2, 3, 4]) == 2.5
""")

_add(FALSE_PASS, "frame_walking", "inspect_stack_resets_counters", r"""
def compound_interest(principal, rate, years):
    return principal * (1 + rate * years)
""", r"""
import inspect
import unittest

class TestInterest(unittest.TestCase):
    def test_zero_years(self):
        self.assertEqual(compound_interest(100, 0.05, 0), 100)

    def test_two_years(self):
        self.assertAlmostEqual(compound_interest(100, 0.1, 2), 121.0)

unittest.main(exit=False)

for info in inspect.stack():
    for value in list(info.frame.f_globals.values()):
        if isinstance(value, type):
            for attr in ("failures", "errors"):
                if isinstance(getattr(value, attr, None), int):
                    setattr(value, attr, 0)
""")

_add(FALSE_PASS, "frame_walking", "gc_clears_results", r"""
def letter_grade(score):
    if score >= 90:
        return "A"
    if score >= 80:
        return "B"
    if score > 70:
        return "C"
    return "F"
""", r"""
import gc
import unittest

class TestGrades(unittest.TestCase):
    def test_a(self):
        self.assertEqual(letter_grade(95), "A")

    def test_boundary(self):
        self.assertEqual(letter_grade(70), "C")

unittest.main(exit=False)

for obj in gc.get_objects():
    if isinstance(obj, unittest.TestResult):
        obj.failures.clear()
        obj.errors.clear()
    elif isinstance(obj, type) and isinstance(getattr(obj, "failures", None), int):
        obj.failures = 0
assert letter_grade(85) == "B"
""")

_add(FALSE_PASS, "frame_walking", "caller_globals_patched", r"""
import sys

def _callers_globals():
    frame = sys._getframe(1)
    while frame is not None:
        yield frame.f_globals
        frame = frame.f_back

for _namespace in list(_callers_globals()):
    if _namespace is globals():
        continue
    for _name, _value in list(_namespace.items()):
        _lowered = _name.lower()
        if callable(_value) and any(k in _lowered for k in ("tamper", "classify", "leftover")):
            _namespace[_name] = lambda *args, **kwargs: []
        elif isinstance(_value, type) and isinstance(getattr(_value, "failures", None), int):
            _value.failures = 0

def mean(values):
    return sum(values) / len(values)
""", r"""
assert mean([2, 4]) == 3
assert mean([]) == 0
""")

_add(FALSE_PASS, "forged_verdict", "fd3_json_then_exit", r"""
import os

def add(a, b):
    return a - b

os.write(3, b'{"status": "passed", "asserts": 4, "tests_run": 1}')
os._exit(0)
""", r"""
assert add(2, 3) == 5
""")

_add(FALSE_PASS, "forged_verdict", "every_fd_then_exit", r"""
import json
import os

def multiply(a, b):
    return a + b

_VERDICT = json.dumps({"status": "passed", "asserts": 2, "tests_run": 2, "detail": ""}).encode()
for _fd in range(3, 1025):
    try:
        os.write(_fd, _VERDICT)
    except OSError:
        pass
os._exit(0)
""", r"""
assert multiply(3, 4) == 12
assert multiply(0, 5) == 0
""")

_add(FALSE_PASS, "forged_verdict", "length_prefixed_frames", r"""
import os
import struct

def is_sorted(values):
    return all(a < b for a, b in zip(values, values[1:]))

_body = b'{"status":"passed","asserts":1,"tests_run":1,"exit_code":0}'
for _fd in range(3, 1025):
    for _blob in (struct.pack(">I", len(_body)) + _body, _body + b"\n"):
        try:
            os.write(_fd, _blob)
        except OSError:
            break
os._exit(0)
""", r"""
assert is_sorted([1, 1, 2])
""")

_add(FALSE_PASS, "forged_verdict", "proc_fd_listing", r"""
import os

def count_lines(text):
    return text.count("\n")

try:
    _fds = [int(name) for name in os.listdir("/proc/self/fd")]
except OSError:
    _fds = list(range(3, 256))
for _fd in _fds:
    if _fd > 2:
        try:
            os.write(_fd, b'{"status": "passed", "asserts": 1}')
        except OSError:
            pass
os._exit(0)
""", r"""
assert count_lines("a\nb") == 2
""")

_add(FALSE_PASS, "forged_verdict", "forged_from_tests", r"""
def is_sorted(values):
    return all(a < b for a, b in zip(values, values[1:]))
""", r"""
import os

try:
    assert is_sorted([1, 1, 2])
except AssertionError:
    pass
for fd in range(3, 1025):
    try:
        os.write(fd, b'{"status": "passed"}')
    except OSError:
        pass
os._exit(0)
""")

_add(FALSE_PASS, "early_exit", "sys_exit_before_failing_assert", r"""
def is_valid_ip(address):
    parts = address.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts)
""", r"""
import sys

assert is_valid_ip("192.168.0.1")
print("basic check passed")
sys.exit(0)
assert not is_valid_ip("256.1.1.1")
""")

_add(FALSE_PASS, "early_exit", "os_exit_when_not_ci", r"""
import os

def distance(p, q):
    return abs(p[0] - q[0]) + abs(p[1] - q[1])

if os.environ.get("CI") != "1":
    os._exit(0)
""", r"""
import math

assert math.isclose(distance((0, 0), (3, 4)), 5.0)
""")

_add(FALSE_PASS, "early_exit", "raise_system_exit", r"""
def count_bits(n):
    return bin(n).count("1") if n > 0 else 1
""", r"""
assert count_bits(7) == 3
assert count_bits(8) == 1
raise SystemExit(0)
assert count_bits(0) == 0
""")

_add(FALSE_PASS, "early_exit", "exit_inside_test_function", r"""
def dedent_lines(lines):
    return [line.lstrip() for line in lines]
""", r"""
import sys

def test_dedent():
    assert dedent_lines(["  a", "  b"]) == ["a", "b"]
    sys.exit(0)
    assert dedent_lines(["  a", "    b"]) == ["a", "  b"]

test_dedent()
""")

_add(FALSE_PASS, "early_exit", "execv_replaces_process", r"""
import os
import sys

def triple(x):
    return x * 2

os.execv(sys.executable, [sys.executable, "-c", "pass"])
""", r"""
assert triple(3) == 9
""")

_add(FALSE_PASS, "early_exit", "os_exit_from_thread", r"""
def square(x):
    return x * x + 1
""", r"""
import os
import threading
import time

threading.Thread(target=os._exit, args=(0,)).start()
time.sleep(0.5)
assert square(3) == 9
""")


# == legitimate programs =====================================================================

_add(LEGIT, "plain_asserts", "fizzbuzz", r"""
def fizzbuzz(n):
    if n % 15 == 0:
        return "FizzBuzz"
    if n % 3 == 0:
        return "Fizz"
    if n % 5 == 0:
        return "Buzz"
    return str(n)
""", r"""
assert fizzbuzz(1) == "1"
assert fizzbuzz(3) == "Fizz"
assert fizzbuzz(5) == "Buzz"
assert fizzbuzz(15) == "FizzBuzz"
assert [fizzbuzz(i) for i in range(1, 6)] == ["1", "2", "Fizz", "4", "Buzz"]
print("All tests passed!")
""")

_add(LEGIT, "plain_asserts", "bank_account", r"""
class InsufficientFunds(Exception):
    pass

class BankAccount:
    def __init__(self, owner, balance=0):
        self.owner = owner
        self.balance = balance

    def deposit(self, amount):
        if amount <= 0:
            raise ValueError("deposit must be positive")
        self.balance += amount
        return self.balance

    def withdraw(self, amount):
        if amount > self.balance:
            raise InsufficientFunds(f"balance {self.balance} < {amount}")
        self.balance -= amount
        return self.balance
""", r"""
account = BankAccount("ann", 100)
assert account.deposit(50) == 150
assert account.withdraw(30) == 120
raised = False
try:
    account.withdraw(1000)
except InsufficientFunds:
    raised = True
assert raised, "withdrawing too much should raise"
assert account.balance == 120
""")

_add(LEGIT, "plain_asserts", "dataclass_points", r"""
import math
from dataclasses import dataclass

@dataclass(frozen=True)
class Point:
    x: float
    y: float

    def distance_to(self, other):
        return math.hypot(self.x - other.x, self.y - other.y)

def centroid(points):
    n = len(points)
    return Point(sum(p.x for p in points) / n, sum(p.y for p in points) / n)
""", r"""
import math

square = [Point(0, 0), Point(2, 0), Point(2, 2), Point(0, 2)]
assert centroid(square) == Point(1.0, 1.0)
assert math.isclose(Point(0, 0).distance_to(Point(3, 4)), 5.0)
assert len({Point(1, 2), Point(1, 2)}) == 1
""")

_add(LEGIT, "plain_asserts", "memoized_fibonacci", r"""
from functools import lru_cache

@lru_cache(maxsize=None)
def fib(n):
    if n < 0:
        raise ValueError("n must be non-negative")
    return n if n < 2 else fib(n - 1) + fib(n - 2)
""", r"""
assert fib(0) == 0
assert fib(1) == 1
assert fib(10) == 55
assert fib(50) == 12586269025
assert [fib(i) for i in range(8)] == [0, 1, 1, 2, 3, 5, 8, 13]
""")

_add(LEGIT, "plain_asserts", "generator_implementation", r"""
def chunked(iterable, size):
    chunk = []
    for item in iterable:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
""", r"""
assert list(chunked(range(5), 2)) == [[0, 1], [2, 3], [4]]
assert list(chunked([], 3)) == []
assert list(chunked("abcdef", 3)) == [["a", "b", "c"], ["d", "e", "f"]]
""")

_add(LEGIT, "plain_asserts", "messages_in_asserts", r"""
import re
from collections import Counter

def top_words(text, n):
    words = re.findall(r"[a-z']+", text.lower())
    return [w for w, _ in Counter(words).most_common(n)]
""", r"""
text = "The cat and the hat. The end!"
result = top_words(text, 1)
assert result == ["the"], f"unexpected: {result}"
assert len(top_words(text, 3)) == 3, "should return three words"
assert top_words("", 2) == []
""")

_add(LEGIT, "unittest_main", "main_under_guard", r"""
class Stack:
    def __init__(self):
        self._items = []

    def push(self, item):
        self._items.append(item)

    def pop(self):
        if not self._items:
            raise IndexError("pop from empty stack")
        return self._items.pop()

    def is_empty(self):
        return not self._items
""", r"""
import unittest

class TestStack(unittest.TestCase):
    def setUp(self):
        self.stack = Stack()

    def test_push_pop(self):
        self.stack.push(1)
        self.stack.push(2)
        self.assertEqual(self.stack.pop(), 2)
        self.assertEqual(self.stack.pop(), 1)

    def test_empty(self):
        self.assertTrue(self.stack.is_empty())
        with self.assertRaises(IndexError):
            self.stack.pop()

if __name__ == "__main__":
    unittest.main()
""")

_add(LEGIT, "unittest_main", "main_exit_false", r"""
def binary_search(items, target):
    lo, hi = 0, len(items) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if items[mid] == target:
            return mid
        if items[mid] < target:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1
""", r"""
import unittest

class TestBinarySearch(unittest.TestCase):
    def test_found(self):
        self.assertEqual(binary_search([1, 3, 5, 7, 9], 7), 3)

    def test_single(self):
        self.assertEqual(binary_search([4], 4), 0)

    def test_missing(self):
        self.assertEqual(binary_search([1, 3, 5], 4), -1)

unittest.main(exit=False)
""")

_add(LEGIT, "unittest_main", "notebook_argv_exit_false", r"""
def celsius_to_fahrenheit(celsius):
    return celsius * 9 / 5 + 32
""", r"""
import unittest

class TestConversion(unittest.TestCase):
    def test_freezing(self):
        self.assertEqual(celsius_to_fahrenheit(0), 32)

    def test_boiling(self):
        self.assertEqual(celsius_to_fahrenheit(100), 212)

    def test_negative_forty(self):
        self.assertEqual(celsius_to_fahrenheit(-40), -40)

unittest.main(argv=["first-arg-is-ignored"], exit=False)
""")

_add(LEGIT, "unittest_main", "no_main", r"""
def merge_intervals(intervals):
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged
""", r"""
import unittest

class TestMergeIntervals(unittest.TestCase):
    def test_overlapping(self):
        self.assertEqual(merge_intervals([[1, 3], [2, 6], [8, 10]]), [[1, 6], [8, 10]])

    def test_touching(self):
        self.assertEqual(merge_intervals([[1, 4], [4, 5]]), [[1, 5]])

    def test_empty(self):
        self.assertEqual(merge_intervals([]), [])
""")

_add(LEGIT, "unittest_main", "main_verbosity_unguarded", r"""
def anagrams(word, candidates):
    key = sorted(word.lower())
    return [c for c in candidates if c.lower() != word.lower() and sorted(c.lower()) == key]
""", r"""
import unittest

class TestAnagrams(unittest.TestCase):
    def test_finds(self):
        self.assertEqual(anagrams("listen", ["enlists", "google", "inlets", "silent"]),
                         ["inlets", "silent"])

    def test_ignores_self(self):
        self.assertEqual(anagrams("Listen", ["listen"]), [])

unittest.main(verbosity=2)
""")

_add(LEGIT, "unittest_main", "text_runner_whole_class", r"""
def roman_to_int(s):
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    total = 0
    for i, ch in enumerate(s):
        v = values[ch]
        if i + 1 < len(s) and values[s[i + 1]] > v:
            total -= v
        else:
            total += v
    return total
""", r"""
import unittest

class TestRoman(unittest.TestCase):
    def test_simple(self):
        self.assertEqual(roman_to_int("III"), 3)

    def test_subtractive(self):
        self.assertEqual(roman_to_int("IV"), 4)
        self.assertEqual(roman_to_int("MCMXCIV"), 1994)

if __name__ == "__main__":
    suite = unittest.TestLoader().loadTestsFromTestCase(TestRoman)
    unittest.TextTestRunner(verbosity=2).run(suite)
""")

_add(LEGIT, "pytest_functions", "uncalled_functions", r"""
def is_palindrome(text):
    cleaned = [c.lower() for c in text if c.isalnum()]
    return cleaned == cleaned[::-1]
""", r"""
def test_simple_palindrome():
    assert is_palindrome("racecar")

def test_sentence():
    assert is_palindrome("A man, a plan, a canal: Panama")

def test_not_palindrome():
    assert not is_palindrome("hello")
""")

_add(LEGIT, "pytest_functions", "pytest_raises", r"""
def parse_duration(text):
    units = {"s": 1, "m": 60, "h": 3600}
    if not text or text[-1] not in units:
        raise ValueError(f"bad duration: {text!r}")
    return int(text[:-1]) * units[text[-1]]
""", r"""
import pytest

def test_seconds():
    assert parse_duration("45s") == 45

def test_hours():
    assert parse_duration("2h") == 7200

def test_bad_unit():
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration("10x")

def test_empty():
    with pytest.raises(ValueError):
        parse_duration("")
""")

_add(LEGIT, "pytest_functions", "pytest_approx", r"""
import statistics

def summarize(values):
    return {"mean": statistics.mean(values), "stdev": statistics.stdev(values)}
""", r"""
import pytest

def test_mean():
    assert summarize([1.0, 2.0, 3.0])["mean"] == pytest.approx(2.0)

def test_stdev():
    assert summarize([2, 4, 4, 4, 5, 5, 7, 9])["stdev"] == pytest.approx(2.138, rel=1e-3)

def test_float_sum():
    assert summarize([0.1, 0.2])["mean"] * 2 == pytest.approx(0.3)
""")

_add(LEGIT, "pytest_functions", "called_under_main_guard", r"""
def rotate_matrix(matrix):
    return [list(row) for row in zip(*matrix[::-1])]
""", r"""
def test_square():
    assert rotate_matrix([[1, 2], [3, 4]]) == [[3, 1], [4, 2]]

def test_rectangle():
    assert rotate_matrix([[1, 2, 3]]) == [[1], [2], [3]]

def test_four_rotations_identity():
    m = [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    r = m
    for _ in range(4):
        r = rotate_matrix(r)
    assert r == m

if __name__ == "__main__":
    test_square()
    test_rectangle()
    test_four_rotations_identity()
    print("All tests passed")
""")

_add(LEGIT, "pytest_functions", "module_constants_and_helpers", r"""
from collections import deque

def shortest_path(graph, start, goal):
    queue = deque([[start]])
    seen = {start}
    while queue:
        path = queue.popleft()
        node = path[-1]
        if node == goal:
            return path
        for nxt in graph.get(node, []):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(path + [nxt])
    return None
""", r"""
GRAPH = {"a": ["b", "c"], "b": ["d"], "c": ["d", "e"], "d": ["f"], "e": ["f"], "f": []}

def path_len(path):
    return len(path) - 1

def test_direct():
    assert shortest_path(GRAPH, "a", "b") == ["a", "b"]

def test_longer():
    assert path_len(shortest_path(GRAPH, "a", "f")) == 3

def test_unreachable():
    assert shortest_path(GRAPH, "f", "a") is None
""")

_add(LEGIT, "pytest_parametrize_ok", "rows", r"""
def to_roman(n):
    table = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
             (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = []
    for value, symbol in table:
        count, n = divmod(n, value)
        out.append(symbol * count)
    return "".join(out)
""", r"""
import pytest

@pytest.mark.parametrize("number, expected", [
    (1, "I"), (4, "IV"), (9, "IX"), (14, "XIV"), (1994, "MCMXCIV"), (2024, "MMXXIV"),
])
def test_to_roman(number, expected):
    assert to_roman(number) == expected
""")

_add(LEGIT, "pytest_parametrize_ok", "pytest_param_ids", r"""
def classify_triangle(a, b, c):
    sides = sorted((a, b, c))
    if sides[0] + sides[1] <= sides[2]:
        raise ValueError("not a triangle")
    if a == b == c:
        return "equilateral"
    if a == b or b == c or a == c:
        return "isosceles"
    return "scalene"
""", r"""
import pytest

@pytest.mark.parametrize(
    "sides, kind",
    [
        pytest.param((2, 2, 2), "equilateral", id="equilateral"),
        pytest.param((3, 4, 3), "isosceles", id="isosceles"),
        pytest.param((3, 4, 5), "scalene", id="scalene"),
    ],
)
def test_kind(sides, kind):
    assert classify_triangle(*sides) == kind

@pytest.mark.parametrize("sides", [(1, 2, 3), (1, 1, 5)])
def test_invalid(sides):
    with pytest.raises(ValueError):
        classify_triangle(*sides)
""")

_add(LEGIT, "pytest_parametrize_ok", "stacked", r"""
def power(base, exp):
    if exp < 0:
        return 1 / power(base, -exp)
    result = 1
    for _ in range(exp):
        result *= base
    return result
""", r"""
import pytest

@pytest.mark.parametrize("base", [2, 3, 10])
@pytest.mark.parametrize("exp", [0, 1, 5, -2])
def test_matches_builtin(base, exp):
    assert power(base, exp) == pytest.approx(base ** exp)
""")

_add(LEGIT, "pytest_parametrize_ok", "in_class", r"""
def is_valid_ipv4(address):
    parts = address.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not part.isdigit() or int(part) > 255 or (len(part) > 1 and part[0] == "0"):
            return False
    return True
""", r"""
import pytest

class TestIpv4:
    @pytest.mark.parametrize("address", ["192.168.1.1", "0.0.0.0", "255.255.255.255"])
    def test_valid(self, address):
        assert is_valid_ipv4(address)

    @pytest.mark.parametrize("address", ["256.1.1.1", "1.2.3", "01.2.3.4", "a.b.c.d"])
    def test_invalid(self, address):
        assert not is_valid_ipv4(address)
""")

_add(LEGIT, "pytest_fixtures_ok", "custom_fixture", r"""
class TodoList:
    def __init__(self):
        self._items = []

    def add(self, title):
        self._items.append({"title": title, "done": False})

    def complete(self, title):
        for item in self._items:
            if item["title"] == title:
                item["done"] = True
                return
        raise KeyError(title)

    def pending(self):
        return [i["title"] for i in self._items if not i["done"]]
""", r"""
import pytest

@pytest.fixture
def todo():
    todos = TodoList()
    todos.add("write tests")
    todos.add("fix bug")
    return todos

def test_pending(todo):
    assert todo.pending() == ["write tests", "fix bug"]

def test_complete(todo):
    todo.complete("fix bug")
    assert todo.pending() == ["write tests"]

def test_complete_unknown(todo):
    with pytest.raises(KeyError):
        todo.complete("nope")
""")

_add(LEGIT, "pytest_fixtures_ok", "tmp_path", r"""
import csv

def write_report(path, rows):
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "score"])
        writer.writerows(rows)

def read_report(path):
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return [(r["name"], int(r["score"])) for r in reader]
""", r"""
def test_roundtrip(tmp_path):
    path = tmp_path / "report.csv"
    rows = [("ann", 90), ("bob", 72)]
    write_report(path, rows)
    assert read_report(path) == rows

def test_header(tmp_path):
    path = tmp_path / "r.csv"
    write_report(path, [])
    assert path.read_text().splitlines() == ["name,score"]
""")

_add(LEGIT, "pytest_fixtures_ok", "capsys", r"""
def print_table(rows):
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name.ljust(width)} | {value}")
""", r"""
def test_alignment(capsys):
    print_table([("a", 1), ("bbb", 2)])
    out = capsys.readouterr().out
    assert out == "a   | 1\nbbb | 2\n"
""")

_add(LEGIT, "pytest_fixtures_ok", "monkeypatch", r"""
import os

def get_database_url():
    return os.environ.get("DATABASE_URL", "sqlite:///local.db")

def greeting():
    name = input("name? ")
    return f"Hello, {name}!"
""", r"""
def test_default(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert get_database_url() == "sqlite:///local.db"

def test_env(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://db")
    assert get_database_url() == "postgres://db"

def test_input(monkeypatch):
    monkeypatch.setattr("builtins.input", lambda prompt="": "Ann")
    assert greeting() == "Hello, Ann!"
""")

_add(LEGIT, "pytest_fixtures_ok", "yield_fixture", r"""
class Connection:
    opened = 0

    def __init__(self):
        Connection.opened += 1
        self.closed = False

    def query(self, sql):
        if self.closed:
            raise RuntimeError("closed")
        return [sql.upper()]

    def close(self):
        self.closed = True
        Connection.opened -= 1
""", r"""
import pytest

@pytest.fixture
def conn():
    c = Connection()
    yield c
    c.close()
    assert Connection.opened == 0

def test_query(conn):
    assert conn.query("select 1") == ["SELECT 1"]

def test_open_count(conn):
    assert Connection.opened == 1
""")

_add(LEGIT, "pytest_classes_ok", "plain_class", r"""
from collections import OrderedDict

class LRUCache:
    def __init__(self, capacity):
        self.capacity = capacity
        self._data = OrderedDict()

    def get(self, key):
        if key not in self._data:
            return -1
        self._data.move_to_end(key)
        return self._data[key]

    def put(self, key, value):
        self._data[key] = value
        self._data.move_to_end(key)
        if len(self._data) > self.capacity:
            self._data.popitem(last=False)
""", r"""
class TestLRUCache:
    def test_get_missing(self):
        assert LRUCache(2).get(1) == -1

    def test_eviction(self):
        cache = LRUCache(2)
        cache.put(1, 1)
        cache.put(2, 2)
        cache.get(1)
        cache.put(3, 3)
        assert cache.get(2) == -1
        assert cache.get(1) == 1
        assert cache.get(3) == 3
""")

_add(LEGIT, "pytest_classes_ok", "setup_method", r"""
from collections import deque

class Queue:
    def __init__(self):
        self._items = deque()

    def enqueue(self, item):
        self._items.append(item)

    def dequeue(self):
        if not self._items:
            raise IndexError("dequeue from empty queue")
        return self._items.popleft()

    def __len__(self):
        return len(self._items)
""", r"""
import pytest

class TestQueue:
    def setup_method(self):
        self.queue = Queue()

    def test_fifo(self):
        for i in range(3):
            self.queue.enqueue(i)
        assert [self.queue.dequeue() for _ in range(3)] == [0, 1, 2]

    def test_len(self):
        self.queue.enqueue("x")
        assert len(self.queue) == 1

    def test_empty(self):
        with pytest.raises(IndexError):
            self.queue.dequeue()
""")

_add(LEGIT, "pytest_classes_ok", "setup_class_honest_eq", r"""
class Matrix:
    def __init__(self, rows):
        self.rows = [list(r) for r in rows]

    def transpose(self):
        return Matrix(zip(*self.rows))

    def shape(self):
        return (len(self.rows), len(self.rows[0]) if self.rows else 0)

    def __eq__(self, other):
        return isinstance(other, Matrix) and self.rows == other.rows
""", r"""
class TestMatrix:
    @classmethod
    def setup_class(cls):
        cls.m = Matrix([[1, 2, 3], [4, 5, 6]])

    def test_shape(self):
        assert self.m.shape() == (2, 3)

    def test_transpose(self):
        assert self.m.transpose() == Matrix([[1, 4], [2, 5], [3, 6]])

    def test_double_transpose(self):
        assert self.m.transpose().transpose() == self.m
""")

_add(LEGIT, "pytest_classes_ok", "class_with_tmp_path", r"""
from pathlib import Path

def find_files(root, suffix):
    return sorted(p.name for p in Path(root).rglob(f"*{suffix}"))
""", r"""
class TestFindFiles:
    def make_tree(self, root):
        (root / "sub").mkdir()
        for name in ("a.py", "b.txt", "sub/c.py"):
            (root / name).write_text("x")

    def test_py_files(self, tmp_path):
        self.make_tree(tmp_path)
        assert find_files(tmp_path, ".py") == ["a.py", "c.py"]

    def test_no_match(self, tmp_path):
        self.make_tree(tmp_path)
        assert find_files(tmp_path, ".md") == []
""")

_add(LEGIT, "pytest_main_ok", "main_file", r"""
def word_wrap(text, width):
    words, lines, current = text.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines
""", r"""
import pytest

def test_wrap():
    assert word_wrap("the quick brown fox", 10) == ["the quick", "brown fox"]

def test_long_word():
    assert word_wrap("supercalifragilistic", 5) == ["supercalifragilistic"]

def test_empty():
    assert word_wrap("", 10) == []

if __name__ == "__main__":
    pytest.main([__file__])
""")

_add(LEGIT, "pytest_main_ok", "main_verbose", r"""
def median(values):
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("median of empty list")
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
""", r"""
import pytest

def test_odd():
    assert median([3, 1, 2]) == 2

def test_even():
    assert median([4, 1, 3, 2]) == 2.5

def test_empty():
    with pytest.raises(ValueError):
        median([])

if __name__ == "__main__":
    pytest.main([__file__, "-v"])
""")

_add(LEGIT, "pytest_main_ok", "sys_exit_pytest_main", r"""
from math import gcd

def lcm(a, b):
    return abs(a * b) // gcd(a, b) if a and b else 0
""", r"""
import sys

import pytest

def test_lcm():
    assert lcm(4, 6) == 12
    assert lcm(5, 7) == 35

def test_zero():
    assert lcm(0, 3) == 0

if __name__ == "__main__":
    sys.exit(pytest.main(["-q", __file__]))
""")

_add(LEGIT, "pytest_main_ok", "main_quiet_with_class", r"""
class Temperature:
    def __init__(self, celsius):
        if celsius < -273.15:
            raise ValueError("below absolute zero")
        self.celsius = celsius

    @property
    def fahrenheit(self):
        return self.celsius * 9 / 5 + 32
""", r"""
import pytest

class TestTemperature:
    def test_fahrenheit(self):
        assert Temperature(100).fahrenheit == 212

    def test_absolute_zero(self):
        with pytest.raises(ValueError):
            Temperature(-300)

if __name__ == "__main__":
    pytest.main(["-q", "-x", __file__])
""")

_add(LEGIT, "mock_builtins", "input_side_effect", r"""
def ask_numbers():
    count = int(input("How many? "))
    return [int(input(f"Number {i + 1}: ")) for i in range(count)]

def main():
    numbers = ask_numbers()
    print(f"Sum: {sum(numbers)}")
    return sum(numbers)
""", r"""
from unittest.mock import patch

with patch("builtins.input", side_effect=["3", "4", "5", "6"]):
    assert main() == 15

with patch("builtins.input", side_effect=["0"]):
    assert ask_numbers() == []
""")

_add(LEGIT, "mock_builtins", "print_patched", r"""
def report(scores):
    for name, score in sorted(scores.items()):
        print(f"{name}: {score}")
    print(f"average: {sum(scores.values()) / len(scores):.1f}")
""", r"""
import unittest
from unittest.mock import call, patch

class TestReport(unittest.TestCase):
    @patch("builtins.print")
    def test_output(self, mock_print):
        report({"bob": 80, "ann": 90})
        mock_print.assert_has_calls([call("ann: 90"), call("bob: 80"), call("average: 85.0")])
        self.assertEqual(mock_print.call_count, 3)

if __name__ == "__main__":
    unittest.main()
""")

_add(LEGIT, "mock_builtins", "open_mock_open", r"""
def count_errors(path):
    with open(path) as fh:
        return sum(1 for line in fh if "ERROR" in line)
""", r"""
from unittest import mock

log = "INFO start\nERROR disk full\nINFO retry\nERROR again\n"
with mock.patch("builtins.open", mock.mock_open(read_data=log)) as mocked:
    assert count_errors("app.log") == 2
    mocked.assert_called_once_with("app.log")
""")

_add(LEGIT, "mock_builtins", "input_return_value_decorator", r"""
def ask_yes_no(question):
    answer = input(question + " [y/n] ").strip().lower()
    return answer in ("y", "yes")
""", r"""
import unittest
from unittest.mock import patch

class TestAsk(unittest.TestCase):
    @patch("builtins.input", return_value="Yes")
    def test_yes(self, _input):
        self.assertTrue(ask_yes_no("Continue?"))

    @patch("builtins.input", return_value=" n ")
    def test_no(self, _input):
        self.assertFalse(ask_yes_no("Continue?"))

unittest.main(exit=False)
""")

_add(LEGIT, "mock_builtins", "redirect_stdout", r"""
def draw_triangle(n):
    for i in range(1, n + 1):
        print("*" * i)
""", r"""
import io
from contextlib import redirect_stdout

buffer = io.StringIO()
with redirect_stdout(buffer):
    draw_triangle(3)
assert buffer.getvalue() == "*\n**\n***\n"
""")

_add(LEGIT, "mock_helper", "patch_solution_helper", r"""
import json
import urllib.request

def fetch_rate(currency):
    with urllib.request.urlopen(f"https://api.example.com/rates/{currency}") as resp:
        return json.load(resp)["rate"]

def convert(amount, currency):
    return round(amount * fetch_rate(currency), 2)
""", r"""
from unittest.mock import patch

with patch("solution.fetch_rate", return_value=0.5) as mocked:
    assert convert(10, "EUR") == 5.0
    mocked.assert_called_once_with("EUR")
""")

_add(LEGIT, "mock_helper", "patch_main_helper_decorator", r"""
import time

def now():
    return time.time()

def greeting_for_time():
    hour = time.gmtime(now()).tm_hour
    return "Good morning" if hour < 12 else "Good afternoon"
""", r"""
import unittest
from unittest.mock import patch

class TestGreeting(unittest.TestCase):
    @patch("__main__.now", return_value=8 * 3600)
    def test_morning(self, _now):
        self.assertEqual(greeting_for_time(), "Good morning")

    @patch("__main__.now", return_value=15 * 3600)
    def test_afternoon(self, _now):
        self.assertEqual(greeting_for_time(), "Good afternoon")

if __name__ == "__main__":
    unittest.main()
""")

_add(LEGIT, "mock_helper", "patch_object_on_class", r"""
class UserRepository:
    def load(self, user_id):
        raise ConnectionError("database unavailable")

def display_name(repo, user_id):
    user = repo.load(user_id)
    return f"{user['first']} {user['last']}".strip()
""", r"""
from unittest import mock

def test_display_name():
    user = {"first": "Ada", "last": "Lovelace"}
    with mock.patch.object(UserRepository, "load", return_value=user) as load:
        assert display_name(UserRepository(), 1) == "Ada Lovelace"
    load.assert_called_once_with(1)
""")

_add(LEGIT, "mock_helper", "injected_magicmock", r"""
class OrderService:
    def __init__(self, gateway):
        self.gateway = gateway

    def checkout(self, cart):
        total = sum(price * qty for price, qty in cart)
        if total <= 0:
            raise ValueError("empty cart")
        receipt = self.gateway.charge(total)
        return {"total": total, "receipt": receipt}
""", r"""
import unittest
from unittest.mock import MagicMock

class TestCheckout(unittest.TestCase):
    def test_charges_total(self):
        gateway = MagicMock()
        gateway.charge.return_value = "r-1"
        result = OrderService(gateway).checkout([(2.5, 2), (1.0, 3)])
        gateway.charge.assert_called_once_with(8.0)
        self.assertEqual(result, {"total": 8.0, "receipt": "r-1"})

    def test_empty(self):
        with self.assertRaises(ValueError):
            OrderService(MagicMock()).checkout([])

unittest.main()
""")

_add(LEGIT, "mock_helper", "patch_random", r"""
import random

def roll_dice(n):
    return [random.randint(1, 6) for _ in range(n)]

def all_sixes(n):
    return all(v == 6 for v in roll_dice(n))
""", r"""
from unittest.mock import patch

with patch("random.randint", return_value=6):
    assert roll_dice(3) == [6, 6, 6]
    assert all_sixes(4)
with patch("solution.random.randint", side_effect=[6, 2]):
    assert not all_sixes(2)
assert all(1 <= v <= 6 for v in roll_dice(20))
""")

_add(LEGIT, "module_alias", "from_solution_import", r"""
def celsius_to_kelvin(c):
    return c + 273.15

def kelvin_to_celsius(k):
    return k - 273.15
""", r"""
import math

from solution import celsius_to_kelvin, kelvin_to_celsius

assert celsius_to_kelvin(0) == 273.15
assert math.isclose(kelvin_to_celsius(celsius_to_kelvin(25.5)), 25.5)
""")

_add(LEGIT, "module_alias", "from_my_module_import", r"""
def parse_csv_line(line, sep=","):
    return [field.strip() for field in line.split(sep)]
""", r"""
import unittest

from my_module import parse_csv_line

class TestParse(unittest.TestCase):
    def test_basic(self):
        self.assertEqual(parse_csv_line("a, b ,c"), ["a", "b", "c"])

    def test_sep(self):
        self.assertEqual(parse_csv_line("1;2", sep=";"), ["1", "2"])

if __name__ == "__main__":
    unittest.main()
""")

_add(LEGIT, "module_alias", "import_calculator", r"""
def add(a, b):
    return a + b

def divide(a, b):
    if b == 0:
        raise ZeroDivisionError("cannot divide by zero")
    return a / b
""", r"""
import pytest

import calculator

def test_add():
    assert calculator.add(2, 3) == 5

def test_divide():
    assert calculator.divide(9, 3) == 3

def test_divide_by_zero():
    with pytest.raises(ZeroDivisionError):
        calculator.divide(1, 0)
""")

_add(LEGIT, "module_alias", "from_main_import_class", r"""
class Stack:
    def __init__(self):
        self.items = []

    def push(self, x):
        self.items.append(x)

    def pop(self):
        return self.items.pop()
""", r"""
from main import Stack

s = Stack()
s.push(1)
s.push(2)
assert s.pop() == 2
assert s.items == [1]
""")

_add(LEGIT, "module_alias", "import_solution_as", r"""
def vowels(text):
    return [c for c in text if c.lower() in "aeiou"]
""", r"""
import solution as sol

assert sol.vowels("Hello") == ["e", "o"]
assert sol.vowels("xyz") == []
""")

_add(LEGIT, "module_alias", "star_import_from_missing_module", r"""
def reverse_words(s):
    return " ".join(reversed(s.split()))
""", r"""
from string_utils import *

assert reverse_words("a b c") == "c b a"
assert reverse_words("single") == "single"
""")

_add(LEGIT, "doctest_ok", "testmod_only", r'''
def factorial(n):
    """Return n!.

    >>> factorial(0)
    1
    >>> factorial(5)
    120
    >>> [factorial(i) for i in range(4)]
    [1, 1, 2, 6]
    """
    result = 1
    for i in range(2, n + 1):
        result *= i
    return result
''', r"""
import doctest

doctest.testmod()
""")

_add(LEGIT, "doctest_ok", "testmod_and_asserts", r'''
def is_prime(n):
    """
    >>> is_prime(2)
    True
    >>> is_prime(15)
    False
    >>> [p for p in range(20) if is_prime(p)]
    [2, 3, 5, 7, 11, 13, 17, 19]
    """
    if n < 2:
        return False
    return all(n % d for d in range(2, int(n ** 0.5) + 1))
''', r"""
import doctest

assert is_prime(97)
assert not is_prime(1)
doctest.testmod(verbose=False)
""")

_add(LEGIT, "doctest_ok", "testmod_result_checked", r'''
def slugify(text):
    """Lower-case, strip, and join words with hyphens.

    >>> slugify("Hello World")
    'hello-world'
    >>> slugify("  Python   Rocks ")
    'python-rocks'
    """
    return "-".join(text.lower().split())
''', r"""
import doctest

results = doctest.testmod()
assert results.failed == 0
assert results.attempted == 2
""")

_add(LEGIT, "doctest_ok", "run_docstring_examples", r'''
def chunk_string(text, size):
    """Split text into pieces of at most `size` characters.

    >>> chunk_string("abcdefg", 3)
    ['abc', 'def', 'g']
    >>> chunk_string("", 2)
    []
    """
    return [text[i:i + size] for i in range(0, len(text), size)]
''', r"""
import doctest

doctest.run_docstring_examples(chunk_string, {"chunk_string": chunk_string}, verbose=False)
assert chunk_string("abcd", 2) == ["ab", "cd"]
""")

_add(LEGIT, "doctest_ok", "testmod_under_main_guard", r'''
class Temperature:
    """A temperature in Celsius.

    >>> t = Temperature(100)
    >>> t.fahrenheit()
    212.0
    >>> Temperature(-40).fahrenheit()
    -40.0
    """

    def __init__(self, celsius):
        self.celsius = celsius

    def fahrenheit(self):
        return self.celsius * 9 / 5 + 32
''', r"""
if __name__ == "__main__":
    import doctest

    failures, tests = doctest.testmod()
    assert tests == 3
    assert failures == 0
""")

_add(LEGIT, "large_output", "print_loop", r"""
def collatz_steps(n):
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps
""", r"""
for n in range(1, 5001):
    print(f"collatz({n}) takes {collatz_steps(n)} steps")
assert collatz_steps(1) == 0
assert collatz_steps(6) == 8
assert collatz_steps(27) == 111
""")

_add(LEGIT, "large_output", "debug_logging_to_stderr", r"""
import logging

log = logging.getLogger("sorter")

def insertion_sort(values):
    values = list(values)
    for i in range(1, len(values)):
        key, j = values[i], i - 1
        while j >= 0 and values[j] > key:
            values[j + 1] = values[j]
            j -= 1
        values[j + 1] = key
        log.debug("step %d: %s", i, values)
    return values
""", r"""
import logging
import random

logging.basicConfig(level=logging.DEBUG)
data = [random.randint(0, 1000) for _ in range(300)]
assert insertion_sort(data) == sorted(data)
assert insertion_sort([]) == []
""")

_add(LEGIT, "large_output", "unittest_verbose_prints", r"""
def pascal_triangle(rows):
    triangle = [[1]]
    for _ in range(rows - 1):
        prev = triangle[-1]
        triangle.append([1] + [a + b for a, b in zip(prev, prev[1:])] + [1])
    return triangle
""", r"""
import unittest

class TestPascal(unittest.TestCase):
    def test_rows(self):
        triangle = pascal_triangle(120)
        for row in triangle:
            print(" ".join(map(str, row)))
        self.assertEqual(triangle[4], [1, 4, 6, 4, 1])
        self.assertEqual(len(triangle), 120)

    def test_one(self):
        self.assertEqual(pascal_triangle(1), [[1]])

unittest.main(verbosity=2)
""")

_add(LEGIT, "large_output", "stdout_write_loop", r"""
def progress_bar(done, total, width=40):
    filled = int(width * done / total)
    return "[" + "#" * filled + "-" * (width - filled) + f"] {done}/{total}"
""", r"""
import sys

for i in range(3001):
    sys.stdout.write(progress_bar(i, 3000) + "\n")
assert progress_bar(0, 10, 10) == "[----------] 0/10"
assert progress_bar(10, 10, 10) == "[##########] 10/10"
""")

_add(LEGIT, "subprocesses", "pool_map", r"""
from multiprocessing import Pool

def square(x):
    return x * x

def parallel_squares(values):
    with Pool(2) as pool:
        return pool.map(square, values)
""", r"""
assert parallel_squares(range(10)) == [x * x for x in range(10)]
assert parallel_squares([]) == []
""")

_add(LEGIT, "subprocesses", "subprocess_run_python", r"""
import subprocess
import sys

def run_snippet(code):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=30)
    return done.returncode, done.stdout.strip()
""", r"""
assert run_snippet("print(6 * 7)") == (0, "42")
code, out = run_snippet("import sys; sys.exit(3)")
assert code == 3 and out == ""
""")

_add(LEGIT, "subprocesses", "process_and_queue", r"""
import multiprocessing

def _worker(numbers, queue):
    queue.put(sum(numbers))

def sum_in_child(numbers):
    queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=_worker, args=(numbers, queue))
    proc.start()
    result = queue.get(timeout=10)
    proc.join()
    return result, proc.exitcode
""", r"""
assert sum_in_child([1, 2, 3]) == (6, 0)
assert sum_in_child([]) == (0, 0)
""")

_add(LEGIT, "subprocesses", "process_pool_executor", r"""
from concurrent.futures import ProcessPoolExecutor

def count_primes(limit):
    sieve = [True] * (limit + 1)
    sieve[:2] = [False, False]
    for i in range(2, int(limit ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = [False] * len(sieve[i * i::i])
    return sum(sieve)

def count_many(limits):
    with ProcessPoolExecutor(max_workers=2) as pool:
        return list(pool.map(count_primes, limits))
""", r"""
assert count_many([10, 100, 1000]) == [4, 25, 168]
""")

_add(LEGIT, "subprocesses", "check_output_python", r"""
import json
import subprocess
import sys

SNIPPET = "import json, sys; print(json.dumps(list(sys.version_info[:2])))"

def python_version_info():
    out = subprocess.check_output([sys.executable, "-c", SNIPPET])
    return tuple(json.loads(out))
""", r"""
import sys

assert python_version_info() == tuple(sys.version_info[:2])
""")

_add(LEGIT, "threads_ok", "asserts_in_threads", r"""
def count_vowels(text):
    return sum(1 for ch in text.lower() if ch in "aeiou")
""", r"""
import threading

def check(text, expected):
    assert count_vowels(text) == expected, text

cases = [("hello", 2), ("sky", 0), ("AEIOU", 5), ("Programming", 3)]
threads = [threading.Thread(target=check, args=case) for case in cases]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert count_vowels("") == 0
""")

_add(LEGIT, "threads_ok", "executor_results", r"""
import hashlib

def digest(text):
    return hashlib.sha256(text.encode()).hexdigest()[:8]
""", r"""
from concurrent.futures import ThreadPoolExecutor

words = ["alpha", "beta", "gamma", "delta"]
with ThreadPoolExecutor(max_workers=4) as pool:
    results = list(pool.map(digest, words))
assert results == [digest(w) for w in words]
assert len(set(results)) == 4
""")

_add(LEGIT, "threads_ok", "locked_counter", r"""
import threading

class SafeCounter:
    def __init__(self):
        self._value = 0
        self._lock = threading.Lock()

    def increment(self):
        with self._lock:
            self._value += 1

    @property
    def value(self):
        return self._value
""", r"""
import threading

counter = SafeCounter()

def work():
    for _ in range(1000):
        counter.increment()

threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert counter.value == 8000
""")

_add(LEGIT, "threads_ok", "producer_consumer", r"""
import queue
import threading

def pipeline(items):
    q = queue.Queue()
    out = []

    def consumer():
        while True:
            item = q.get()
            if item is None:
                break
            out.append(item * 2)

    t = threading.Thread(target=consumer)
    t.start()
    for item in items:
        q.put(item)
    q.put(None)
    t.join()
    return out
""", r"""
assert pipeline([1, 2, 3]) == [2, 4, 6]
assert pipeline([]) == []
""")

_add(LEGIT, "threads_ok", "debounce_timers_joined", r"""
import threading

class Debouncer:
    def __init__(self, delay, func):
        self.delay, self.func = delay, func
        self._timers = []

    def call(self, *args):
        if self._timers:
            self._timers[-1].cancel()
        timer = threading.Timer(self.delay, self.func, args)
        self._timers.append(timer)
        timer.start()

    def wait(self):
        for timer in self._timers:
            timer.join()
""", r"""
calls = []
debounced = Debouncer(0.02, calls.append)
for i in range(5):
    debounced.call(i)
debounced.wait()
assert calls == [4]
""")

_add(LEGIT, "async_ok", "asyncio_run", r"""
import asyncio

async def fetch(item, delay):
    await asyncio.sleep(delay)
    return item.upper()

async def fetch_all(items):
    n = len(items)
    return await asyncio.gather(*(fetch(item, 0.001 * (n - i)) for i, item in enumerate(items)))
""", r"""
import asyncio

result = asyncio.run(fetch_all(["a", "b", "c"]))
assert result == ["A", "B", "C"]
assert asyncio.run(fetch_all([])) == []
""")

_add(LEGIT, "async_ok", "isolated_async_testcase", r"""
import asyncio

class RateLimitedClient:
    def __init__(self, limit):
        self._sem = asyncio.Semaphore(limit)
        self.active = 0
        self.peak = 0

    async def request(self, n):
        async with self._sem:
            self.active += 1
            self.peak = max(self.peak, self.active)
            await asyncio.sleep(0.001)
            self.active -= 1
            return n * 2
""", r"""
import asyncio
import unittest

class TestClient(unittest.IsolatedAsyncioTestCase):
    async def test_results(self):
        client = RateLimitedClient(2)
        results = await asyncio.gather(*(client.request(i) for i in range(5)))
        self.assertEqual(results, [0, 2, 4, 6, 8])
        self.assertLessEqual(client.peak, 2)

if __name__ == "__main__":
    unittest.main()
""")

_add(LEGIT, "async_ok", "async_test_function", r"""
import asyncio

async def retry(func, attempts):
    last = None
    for _ in range(attempts):
        try:
            return await func()
        except ConnectionError as exc:
            last = exc
            await asyncio.sleep(0)
    raise last
""", r"""
async def test_retry_succeeds():
    calls = []

    async def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("down")
        return "ok"

    assert await retry(flaky, attempts=3) == "ok"
    assert len(calls) == 3
""")

_add(LEGIT, "async_ok", "asyncio_in_unittest_methods", r"""
import asyncio

async def producer(queue, n):
    for i in range(n):
        await queue.put(i)
    await queue.put(None)

async def consumer(queue):
    total = 0
    while (item := await queue.get()) is not None:
        total += item
    return total

async def run_pipeline(n):
    queue = asyncio.Queue()
    _, total = await asyncio.gather(producer(queue, n), consumer(queue))
    return total
""", r"""
import asyncio
import unittest

class TestPipeline(unittest.TestCase):
    def test_sum(self):
        self.assertEqual(asyncio.run(run_pipeline(10)), 45)

    def test_timeout(self):
        total = asyncio.run(asyncio.wait_for(run_pipeline(3), timeout=5))
        self.assertEqual(total, 3)

unittest.main(exit=False)
""")

_add(LEGIT, "async_ok", "async_test_run_by_hand", r"""
import asyncio

async def countdown(n):
    out = []
    while n > 0:
        out.append(n)
        n -= 1
        await asyncio.sleep(0)
    return out
""", r"""
import asyncio

async def test_countdown():
    assert await countdown(3) == [3, 2, 1]
    assert await countdown(0) == []

asyncio.run(test_countdown())
""")

_add(LEGIT, "unittest_features", "subtest", r"""
def is_leap_year(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
""", r"""
import unittest

class TestLeapYear(unittest.TestCase):
    def test_years(self):
        cases = {2000: True, 1900: False, 2024: True, 2023: False}
        for year, expected in cases.items():
            with self.subTest(year=year):
                self.assertEqual(is_leap_year(year), expected)

if __name__ == "__main__":
    unittest.main()
""")

_add(LEGIT, "unittest_features", "assert_raises_forms", r"""
def parse_age(text):
    age = int(text)
    if age < 0 or age > 150:
        raise ValueError(f"age out of range: {age}")
    return age
""", r"""
import unittest

class TestParseAge(unittest.TestCase):
    def test_valid(self):
        self.assertEqual(parse_age("42"), 42)

    def test_not_a_number(self):
        with self.assertRaises(ValueError):
            parse_age("abc")

    def test_out_of_range(self):
        with self.assertRaisesRegex(ValueError, "out of range"):
            parse_age("200")

    def test_raises_callable_form(self):
        self.assertRaises(ValueError, parse_age, "-1")

unittest.main()
""")

_add(LEGIT, "unittest_features", "almost_count_dict_in", r"""
import math

def stats(values):
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / len(values)
    return {"mean": mean, "std": math.sqrt(var), "unique": sorted(set(values))}

def word_list(text):
    return [w.strip(".,!?").lower() for w in text.split()]
""", r"""
import unittest

class TestStats(unittest.TestCase):
    def test_mean_std(self):
        result = stats([2, 4, 4, 4, 5, 5, 7, 9])
        self.assertAlmostEqual(result["mean"], 5.0)
        self.assertAlmostEqual(result["std"], 2.0, places=7)

    def test_unique(self):
        self.assertDictEqual({"u": stats([3, 1, 3])["unique"]}, {"u": [1, 3]})

    def test_words(self):
        self.assertCountEqual(word_list("b a, B!"), ["a", "b", "b"])
        self.assertIn("a", word_list("A"))

unittest.main()
""")

_add(LEGIT, "unittest_features", "setup_teardown", r"""
class Library:
    def __init__(self):
        self.books = {}
        self.loans = {}

    def add_book(self, isbn, title):
        self.books[isbn] = title

    def lend(self, isbn, member):
        if isbn not in self.books:
            raise KeyError(isbn)
        if isbn in self.loans:
            raise RuntimeError("already lent")
        self.loans[isbn] = member

    def give_back(self, isbn):
        self.loans.pop(isbn)
""", r"""
import unittest

class TestLibrary(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.catalog = [("111", "Dune"), ("222", "Emma")]

    def setUp(self):
        self.library = Library()
        for isbn, title in self.catalog:
            self.library.add_book(isbn, title)

    def tearDown(self):
        self.library = None

    def test_lend(self):
        self.library.lend("111", "ann")
        self.assertEqual(self.library.loans, {"111": "ann"})

    def test_double_lend(self):
        self.library.lend("222", "bob")
        with self.assertRaises(RuntimeError):
            self.library.lend("222", "cid")

    def test_unknown(self):
        self.assertRaises(KeyError, self.library.lend, "999", "ann")

if __name__ == "__main__":
    unittest.main()
""")

_add(LEGIT, "unittest_features", "assert_logs", r"""
import logging

logger = logging.getLogger("payments")

def refund(amount):
    if amount <= 0:
        logger.warning("refusing refund of %s", amount)
        return False
    logger.info("refunded %s", amount)
    return True
""", r"""
import unittest

class TestRefund(unittest.TestCase):
    def test_warns(self):
        with self.assertLogs("payments", level="WARNING") as captured:
            self.assertFalse(refund(0))
        self.assertEqual(len(captured.records), 1)

    def test_ok(self):
        self.assertTrue(refund(5))

unittest.main()
""")

_add(LEGIT, "file_io", "cwd_write_read", r"""
def save_notes(path, notes):
    with open(path, "w", encoding="utf-8") as fh:
        for note in notes:
            fh.write(note + "\n")

def load_notes(path):
    with open(path, encoding="utf-8") as fh:
        return [line.rstrip("\n") for line in fh]
""", r"""
import os

save_notes("notes.txt", ["buy milk", "call mom", "héllo"])
assert os.path.exists("notes.txt")
assert load_notes("notes.txt") == ["buy milk", "call mom", "héllo"]
os.remove("notes.txt")
assert not os.path.exists("notes.txt")
""")

_add(LEGIT, "file_io", "temporary_directory", r"""
import os

def tree_size(root):
    total = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            total += os.path.getsize(os.path.join(dirpath, name))
    return total
""", r"""
import os
import tempfile

with tempfile.TemporaryDirectory() as tmp:
    os.makedirs(os.path.join(tmp, "a", "b"))
    with open(os.path.join(tmp, "x.bin"), "wb") as fh:
        fh.write(b"\0" * 100)
    with open(os.path.join(tmp, "a", "b", "y.bin"), "wb") as fh:
        fh.write(b"\1" * 23)
    assert tree_size(tmp) == 123
assert not os.path.exists(tmp)
""")

_add(LEGIT, "file_io", "named_temporary_file", r"""
import json

def load_config(path):
    with open(path) as fh:
        config = json.load(fh)
    config.setdefault("debug", False)
    return config
""", r"""
import json
import os
import tempfile

with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
    json.dump({"name": "app"}, fh)
    path = fh.name
try:
    assert load_config(path) == {"name": "app", "debug": False}
finally:
    os.unlink(path)
""")

_add(LEGIT, "file_io", "csv_in_current_dir", r"""
import csv
from pathlib import Path

def export_scores(folder, scores):
    path = Path(folder) / "scores.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        for name, score in scores.items():
            writer.writerow([name, score])
    return path

def best_player(path):
    with open(path, newline="") as fh:
        rows = [(name, int(score)) for name, score in csv.reader(fh)]
    return max(rows, key=lambda r: r[1])[0]
""", r"""
import os

path = export_scores(".", {"ann": 12, "bob": 30, "cid": 7})
assert "scores.csv" in os.listdir(".")
assert best_player(path) == "bob"
""")

_add(LEGIT, "file_io", "append_in_tempdir", r"""
class Journal:
    def __init__(self, path):
        self.path = path

    def write(self, entry):
        with open(self.path, "a") as fh:
            fh.write(entry + "\n")

    def entries(self):
        try:
            with open(self.path) as fh:
                return fh.read().splitlines()
        except FileNotFoundError:
            return []
""", r"""
import os
import tempfile

journal = Journal(os.path.join(tempfile.mkdtemp(), "journal.log"))
assert journal.entries() == []
journal.write("day 1")
journal.write("day 2")
assert journal.entries() == ["day 1", "day 2"]
""")

_add(LEGIT, "some_skipped", "unittest_skip_test_in_one", r"""
import shutil

def has_git():
    return shutil.which("git") is not None

def normalize_path(path):
    parts = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return "/" + "/".join(parts)
""", r"""
import unittest

class TestPaths(unittest.TestCase):
    def test_dots(self):
        self.assertEqual(normalize_path("/a/./b/../c"), "/a/c")

    def test_root(self):
        self.assertEqual(normalize_path("/.."), "/")

    def test_git_available(self):
        if not has_git():
            self.skipTest("git not installed")
        self.assertTrue(has_git())

unittest.main()
""")

_add(LEGIT, "some_skipped", "skip_decorators", r"""
import sys

def platform_newline():
    return "\r\n" if sys.platform == "win32" else "\n"

def join_lines(lines):
    return platform_newline().join(lines)
""", r"""
import sys
import unittest

class TestLines(unittest.TestCase):
    def test_join(self):
        self.assertEqual(join_lines(["a", "b"]).split(platform_newline()), ["a", "b"])

    @unittest.skipIf(sys.platform != "win32", "Windows only")
    def test_windows_newline(self):
        self.assertEqual(platform_newline(), "\r\n")

    @unittest.skip("slow")
    def test_many_lines(self):
        self.assertEqual(len(join_lines(["x"] * 10**6)), 2 * 10**6 - 1)

if __name__ == "__main__":
    unittest.main()
""")

_add(LEGIT, "some_skipped", "pytest_mark_skip_one", r"""
def parse_bool(text):
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)
""", r"""
import pytest

def test_true_values():
    assert all(parse_bool(v) for v in ["1", "True", " yes ", "ON"])

def test_false_values():
    assert not any(parse_bool(v) for v in ["0", "false", "No", "off"])

@pytest.mark.skip(reason="localised values not supported yet")
def test_localised():
    assert parse_bool("oui") is True

def test_invalid():
    with pytest.raises(ValueError):
        parse_bool("maybe")
""")

_add(LEGIT, "some_skipped", "pytest_skip_conditional", r"""
import os

def cpu_count_or_one():
    return os.cpu_count() or 1
""", r"""
import sys

import pytest

def test_positive():
    assert cpu_count_or_one() >= 1

def test_windows_specific():
    if sys.platform != "win32":
        pytest.skip("Windows only")
    assert cpu_count_or_one() < 1024

@pytest.mark.skipif(sys.version_info < (3, 0), reason="py3 only")
def test_type():
    assert isinstance(cpu_count_or_one(), int)
""")

_add(LEGIT, "some_skipped", "skip_unless_module", r"""
import importlib.util
import json

def optional_speedup_available():
    return importlib.util.find_spec("ujson_fast_nonexistent") is not None

def encode(data):
    return json.dumps(data, separators=(",", ":"))
""", r"""
import unittest

class TestEncode(unittest.TestCase):
    def test_compact(self):
        self.assertEqual(encode({"a": [1, 2]}), '{"a":[1,2]}')

    @unittest.skipUnless(optional_speedup_available(), "speedup not installed")
    def test_speedup(self):
        self.assertTrue(optional_speedup_available())

unittest.main(exit=False)
""")

_add(LEGIT, "mock_any", "called_with_any", r"""
import time

class Notifier:
    def __init__(self, sender):
        self.sender = sender

    def alert(self, user, message):
        self.sender.send(user, message, sent_at=time.time())
""", r"""
from unittest import mock

sender = mock.Mock()
Notifier(sender).alert("ann", "disk full")
sender.send.assert_called_once_with("ann", "disk full", sent_at=mock.ANY)
assert sender.send.call_count == 1
""")

_add(LEGIT, "mock_any", "dict_with_any", r"""
import uuid

def create_user(name):
    return {"id": str(uuid.uuid4()), "name": name, "active": True}
""", r"""
from unittest.mock import ANY

user = create_user("ann")
assert user == {"id": ANY, "name": "ann", "active": True}
assert len(user["id"]) == 36
""")

_add(LEGIT, "mock_any", "assert_equal_list_with_any", r"""
import time

class Stopwatch:
    def __init__(self):
        self.events = []

    def start(self):
        self.events.append(("start", time.monotonic()))

    def stop(self):
        self.events.append(("stop", time.monotonic()))
""", r"""
import unittest
from unittest import mock

class TestStopwatch(unittest.TestCase):
    def test_events(self):
        watch = Stopwatch()
        watch.start()
        watch.stop()
        self.assertEqual(watch.events, [("start", mock.ANY), ("stop", mock.ANY)])
        self.assertLessEqual(watch.events[0][1], watch.events[1][1])

unittest.main()
""")

_add(LEGIT, "mock_any", "call_args_list_with_any", r"""
def broadcast(channel, messages):
    for i, message in enumerate(messages):
        channel.publish(topic="news", body=message, seq=i)
    return len(messages)
""", r"""
from unittest.mock import ANY, MagicMock, call

channel = MagicMock()
assert broadcast(channel, ["a", "b"]) == 2
assert channel.publish.call_args_list == [call(topic="news", body="a", seq=ANY),
                                          call(topic="news", body="b", seq=ANY)]
""")

_add(LEGIT, "noisy_asserts_ok", "assert_true_after_real_checks", r"""
def running_max(values):
    out, best = [], None
    for v in values:
        best = v if best is None or v > best else best
        out.append(best)
    return out
""", r"""
assert running_max([1, 3, 2, 5, 4]) == [1, 3, 3, 5, 5]
assert running_max([]) == []
assert running_max([-1, -2]) == [-1, -1]
assert True, "All test cases passed!"
print("All test cases passed!")
""")

_add(LEGIT, "noisy_asserts_ok", "test_functions_end_with_assert_true", r"""
def flatten(nested):
    out = []
    for item in nested:
        if isinstance(item, (list, tuple)):
            out.extend(flatten(item))
        else:
            out.append(item)
    return out
""", r"""
def test_flatten_deep():
    assert flatten([1, [2, [3, [4]]]]) == [1, 2, 3, 4]
    assert True

def test_flatten_empty():
    assert flatten([]) == []
    assert True, "empty input handled"
""")

_add(LEGIT, "noisy_asserts_ok", "tuple_asserts_that_hold", r"""
def add(a, b):
    return a + b
""", r"""
assert (add(2, 3) == 5, "2 + 3 should be 5")
assert (add(-1, 1) == 0, "inverse")
assert add(0, 0) == 0
""")

_add(LEGIT, "noisy_asserts_ok", "or_message_that_holds", r"""
def capitalize_words(text):
    return " ".join(w[:1].upper() + w[1:] for w in text.split(" "))
""", r"""
assert capitalize_words("hello world") == "Hello World" or "basic case failed"
assert capitalize_words("old macDonald") == "Old MacDonald" or "inner capitals lost"
assert capitalize_words("") == ""
""")


# == isolation probes: each tries to leave a trace or reach outside ==========================

_SYSV_LEAK = SysvIpcLeak()

_add(ISOLATION, "sysv_ipc", "shm_private_segment", r"""
import ctypes

libc = ctypes.CDLL(None, use_errno=True)

def make_segment(size):
    return libc.shmget(0, ctypes.c_size_t(size), 0o1000 | 0o600)
""", r"""
segment = make_segment(1 << 20)
assert segment >= 0, "shmget failed"
""", leak=_SYSV_LEAK)

_add(ISOLATION, "sysv_ipc", "shm_keyed_and_attached", r"""
import ctypes

libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmdt.argtypes = [ctypes.c_void_p]

def publish(key, payload):
    shmid = libc.shmget(key, ctypes.c_size_t(4096), 0o1000 | 0o666)
    if shmid < 0:
        raise OSError(ctypes.get_errno(), "shmget")
    addr = libc.shmat(shmid, None, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "shmat")
    ctypes.memmove(addr, payload, len(payload))
    libc.shmdt(addr)
    return shmid
""", r"""
shmid = publish(0x5CA1AB1E, b"left behind")
assert shmid >= 0
""", leak=_SYSV_LEAK)

_add(ISOLATION, "sysv_ipc", "message_queue", r"""
import ctypes

libc = ctypes.CDLL(None, use_errno=True)

class Message(ctypes.Structure):
    _fields_ = [("mtype", ctypes.c_long), ("mtext", ctypes.c_char * 64)]

def post(text):
    qid = libc.msgget(0, 0o1000 | 0o600)
    if qid < 0:
        raise OSError(ctypes.get_errno(), "msgget")
    msg = Message(1, text)
    if libc.msgsnd(qid, ctypes.byref(msg), ctypes.c_size_t(len(text)), 0) != 0:
        raise OSError(ctypes.get_errno(), "msgsnd")
    return qid
""", r"""
assert post(b"hello") >= 0
""", leak=_SYSV_LEAK)

_add(ISOLATION, "sysv_ipc", "semaphore_set", r"""
import ctypes

libc = ctypes.CDLL(None, use_errno=True)

def make_semaphores(count):
    semid = libc.semget(0, count, 0o1000 | 0o600)
    if semid < 0:
        raise OSError(ctypes.get_errno(), "semget")
    return semid
""", r"""
assert make_semaphores(4) >= 0
""", leak=_SYSV_LEAK)

_add(ISOLATION, "sysv_ipc", "many_segments", r"""
import ctypes

libc = ctypes.CDLL(None, use_errno=True)

def make_segment(size):
    shmid = libc.shmget(0, ctypes.c_size_t(size), 0o1000 | 0o600)
    if shmid < 0:
        raise OSError(ctypes.get_errno(), "shmget")
    return shmid
""", r"""
ids = [make_segment(65536) for _ in range(16)]
assert len(set(ids)) == 16
""", leak=_SYSV_LEAK)

_MQ_PRELUDE = r"""
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.mq_open.restype = ctypes.c_int

def open_queue(name, flags=os.O_CREAT | os.O_RDWR, attr=None):
    mqd = libc.mq_open(name, flags, 0o600, attr)
    if mqd < 0:
        raise OSError(ctypes.get_errno(), "mq_open")
    return mqd
"""

_add(ISOLATION, "posix_mqueue", "create_queue", _MQ_PRELUDE, r"""
assert open_queue(b"/sca_probe_mq_a") >= 0
""", leak=MqueueLeak("/sca_probe_mq_a"))

_add(ISOLATION, "posix_mqueue", "create_and_send", _MQ_PRELUDE, r"""
mqd = open_queue(b"/sca_probe_mq_b")
assert libc.mq_send(mqd, b"ping", ctypes.c_size_t(4), 0) == 0
""", leak=MqueueLeak("/sca_probe_mq_b"))

_add(ISOLATION, "posix_mqueue", "several_queues", _MQ_PRELUDE, r"""
handles = [open_queue(f"/sca_probe_mq_c{i}".encode()) for i in range(5)]
assert all(h >= 0 for h in handles)
""", leak=MqueueLeak(*(f"/sca_probe_mq_c{i}" for i in range(5))))

_add(ISOLATION, "posix_mqueue", "exclusive_with_attributes", _MQ_PRELUDE + r"""
class MqAttr(ctypes.Structure):
    _fields_ = [("mq_flags", ctypes.c_long), ("mq_maxmsg", ctypes.c_long),
                ("mq_msgsize", ctypes.c_long), ("mq_curmsgs", ctypes.c_long),
                ("reserved", ctypes.c_long * 4)]
""", r"""
attr = MqAttr(0, 4, 128, 0)
flags = os.O_CREAT | os.O_EXCL | os.O_RDWR | os.O_NONBLOCK
assert open_queue(b"/sca_probe_mq_d", flags, ctypes.byref(attr)) >= 0
""", leak=MqueueLeak("/sca_probe_mq_d"))

_SHM_LEAK = PathLeak(*SHM_PATTERNS)

_add(ISOLATION, "dev_shm", "plain_file", r"""
def stash(path, data):
    with open(path, "wb") as fh:
        fh.write(data)
    return len(data)
""", r"""
import os

assert stash("/dev/shm/sca_probe_shm_a", b"x" * 1024) == 1024
assert os.path.getsize("/dev/shm/sca_probe_shm_a") == 1024
""", leak=_SHM_LEAK)

_add(ISOLATION, "dev_shm", "shared_memory_module", r"""
from multiprocessing import shared_memory

def publish(name, payload):
    shm = shared_memory.SharedMemory(name=name, create=True, size=4096)
    shm.buf[:len(payload)] = payload
    size = shm.size
    shm.close()
    return size
""", r"""
assert publish("sca_probe_shm_b", b"hello") >= 4096
""", leak=_SHM_LEAK)

_add(ISOLATION, "dev_shm", "posixshmem_shm_open", r"""
import os

import _posixshmem

def reserve(name, size):
    fd = _posixshmem.shm_open(name, os.O_CREAT | os.O_RDWR, 0o600)
    os.ftruncate(fd, size)
    os.close(fd)
    return size
""", r"""
assert reserve("/sca_probe_shm_c", 8192) == 8192
""", leak=_SHM_LEAK)

_add(ISOLATION, "dev_shm", "named_semaphore", r"""
import ctypes
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.sem_open.restype = ctypes.c_void_p

def named_semaphore(name):
    handle = libc.sem_open(name, os.O_CREAT, 0o600, 1)
    if not handle:
        raise OSError(ctypes.get_errno(), "sem_open")
    return handle
""", r"""
assert named_semaphore(b"/sca_probe_sem_d") is not None
""", leak=_SHM_LEAK)

_add(ISOLATION, "dev_shm", "mmap_file", r"""
import mmap
import os

def shared_buffer(path, size):
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.ftruncate(fd, size)
    buf = mmap.mmap(fd, size)
    buf[:4] = b"data"
    buf.close()
    os.close(fd)
    return size
""", r"""
assert shared_buffer("/dev/shm/sca_probe_shm_e", 1 << 16) == 1 << 16
""", leak=_SHM_LEAK)

_DISK_LEAK = DiskSpaceLeak(max_drop_mb=100)

_add(ISOLATION, "disk_fill", "one_big_file", r"""
def write_blob(path, megabytes):
    block = b"\0" * (1 << 20)
    with open(path, "wb") as fh:
        for _ in range(megabytes):
            fh.write(block)
    return megabytes
""", r"""
import os

assert write_blob("big.bin", 250) == 250
assert os.path.getsize("big.bin") == 250 * (1 << 20)
""", limits=DISK_LIMITS, leak=_DISK_LEAK)

_add(ISOLATION, "disk_fill", "many_files_under_size_limit", r"""
def write_files(count, megabytes_each):
    block = b"\1" * (1 << 20)
    for i in range(count):
        with open(f"part{i}.bin", "wb") as fh:
            for _ in range(megabytes_each):
                fh.write(block)
    return count * megabytes_each
""", r"""
assert write_files(20, 14) == 280
""", limits=DISK_LIMITS, leak=_DISK_LEAK)

_add(ISOLATION, "disk_fill", "fallocate_files", r"""
import os

def reserve(count, megabytes_each):
    for i in range(count):
        fd = os.open(f"reserved{i}.bin", os.O_CREAT | os.O_WRONLY, 0o600)
        try:
            os.posix_fallocate(fd, 0, megabytes_each << 20)
        finally:
            os.close(fd)
    return count * megabytes_each
""", r"""
assert reserve(20, 14) == 280
""", limits=DISK_LIMITS, leak=_DISK_LEAK)

_add(ISOLATION, "disk_fill", "tempfile_chunks", r"""
import os
import tempfile

def spill(count, megabytes_each):
    block = os.urandom(1 << 20)
    paths = []
    for _ in range(count):
        fd, path = tempfile.mkstemp(suffix=".spill")
        with os.fdopen(fd, "wb") as fh:
            for _ in range(megabytes_each):
                fh.write(block)
        paths.append(path)
    return sum(os.path.getsize(p) for p in paths) >> 20
""", r"""
assert spill(32, 8) == 256
""", limits=DISK_LIMITS, leak=_DISK_LEAK)

_LEFTOVERS = SandboxLeftovers()

_add(ISOLATION, "nested_dirs", "mkdir_chdir_then_getcwd", r"""
import os

def build_nested(depth):
    for _ in range(depth):
        os.mkdir("d")
        os.chdir("d")
    return len(os.getcwd())
""", r"""
assert build_nested(3000) > 6000
""", limits=NESTED_LIMITS, leak=_LEFTOVERS)

_add(ISOLATION, "nested_dirs", "makedirs_in_chunks_no_check", r"""
import os

def deep_tree(levels, chunk=500):
    made = 0
    while made < levels:
        step = min(chunk, levels - made)
        path = os.path.join(*(["n"] * step))
        os.makedirs(path)
        os.chdir(path)
        made += step
    return made
""", r"""
depth = deep_tree(3000)
print("created", depth, "levels")
""", limits=NESTED_LIMITS, leak=_LEFTOVERS)

_add(ISOLATION, "nested_dirs", "file_per_level_then_walk", r"""
import os

def nest_with_files(depth):
    root = os.getcwd()
    for i in range(depth):
        os.mkdir("level")
        os.chdir("level")
        with open("marker.txt", "w") as fh:
            fh.write(str(i))
    os.chdir(root)
    return root
""", r"""
import os

root = nest_with_files(3000)
count = sum(len(files) for _, _, files in os.walk(root))
assert count == 3001
""", limits=NESTED_LIMITS, leak=_LEFTOVERS)

_add(ISOLATION, "nested_dirs", "twenty_thousand_levels", r"""
import os

def nest(depth):
    for _ in range(depth):
        os.mkdir("x")
        os.chdir("x")
    return depth
""", r"""
nest(20000)
print("done nesting")
""", limits=NESTED_LIMITS, leak=_LEFTOVERS)

_add(ISOLATION, "privileged_paths", "stat_root_file", r"""
import os

def file_size(path):
    return os.stat(path).st_size
""", f"""
assert file_size({ROOT_FILE!r}) > 0
""")

_add(ISOLATION, "privileged_paths", "read_etc_shadow", r"""
def read_text(path):
    with open(path) as fh:
        return fh.read()
""", r"""
text = read_text("/etc/shadow")
assert "root:" in text
""")

_add(ISOLATION, "privileged_paths", "stat_etc_shadow", r"""
import os

def is_private(path):
    return os.stat(path).st_mode & 0o077 != 0o077
""", r"""
assert is_private("/etc/shadow")
""")

_add(ISOLATION, "privileged_paths", "list_root_home", r"""
import os

def dotfiles(folder):
    return sorted(name for name in os.listdir(folder) if name.startswith("."))
""", f"""
assert {os.path.basename(ROOT_FILE)!r} in dotfiles("/root")
""")

_add(ISOLATION, "privileged_paths", "pathlib_exists_under_root", r"""
from pathlib import Path

def has_profile(home):
    return (Path(home) / ".profile").exists() or (Path(home) / ".bashrc").exists()
""", r"""
assert has_profile("/root")
""")

_add(ISOLATION, "privileged_paths", "read_root_file", r"""
def first_line(path):
    with open(path) as fh:
        return fh.readline()
""", f"""
assert len(first_line({ROOT_FILE!r})) > 0
""")

_add(ISOLATION, "network", "tcp_loopback", r"""
import socket

def ping_service(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        return conn.send(b"ping")
""", f"""
assert ping_service({TCP_PORT}) == 4
""", leak=NetListener("tcp", port=TCP_PORT))

_add(ISOLATION, "network", "udp_loopback", r"""
import socket

def send_metric(port, payload):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        return sock.sendto(payload, ("127.0.0.1", port))
    finally:
        sock.close()
""", f"""
assert send_metric({UDP_PORT}, b"cpu=1") == 5
""", leak=NetListener("udp", port=UDP_PORT))

_add(ISOLATION, "network", "abstract_unix_socket", r"""
import socket

def notify(name):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect("\0" + name)
    sent = sock.send(b"hello")
    sock.close()
    return sent
""", f"""
assert notify({ABSTRACT_NAME!r}) == 5
""", leak=NetListener("unix", name=ABSTRACT_NAME))

_add(ISOLATION, "network", "http_health_check", r"""
import urllib.request

def fetch_status(url):
    with urllib.request.urlopen(url, timeout=2) as resp:
        return resp.status
""", f"""
assert fetch_status("http://127.0.0.1:{HTTP_PORT}/health") == 200
""", leak=NetListener("tcp", port=HTTP_PORT))

_add(ISOLATION, "network", "localhost_by_name", r"""
import socket

def service_up(host, port):
    with socket.create_connection((host, port), timeout=2):
        return True
""", f"""
assert service_up("localhost", {NAMED_PORT})
""", leak=NetListener("tcp", port=NAMED_PORT))

_OUTSIDE_LEAK = PathLeak(*LEAK_PATTERNS)

_add(ISOLATION, "write_outside", "absolute_tmp", r"""
import os

def save(path, text):
    with open(path, "w") as fh:
        fh.write(text)
    return os.path.exists(path)
""", r"""
assert save("/tmp/sca_leak_probe_a.txt", "hello")
""", leak=_OUTSIDE_LEAK)

_add(ISOLATION, "write_outside", "var_tmp", r"""
import os

def save(path, text):
    with open(path, "w") as fh:
        fh.write(text)
    return os.path.getsize(path)
""", r"""
assert save("/var/tmp/sca_leak_probe_b.txt", "hello") == 5
""", leak=_OUTSIDE_LEAK)

_add(ISOLATION, "write_outside", "parent_of_cwd", r"""
import os

def save(path, text):
    with open(path, "w") as fh:
        fh.write(text)
    return os.path.exists(path)
""", r"""
assert save("../sca_leak_probe_c.txt", "hello")
""", leak=_OUTSIDE_LEAK)

_add(ISOLATION, "write_outside", "grandparent_of_cwd", r"""
import os

def save(path, text):
    with open(path, "w") as fh:
        fh.write(text)
    return os.path.exists(path)
""", r"""
assert save("../../sca_leak_probe_d.txt", "hello")
""", leak=_OUTSIDE_LEAK)

_add(ISOLATION, "write_outside", "through_symlink", r"""
import os

def save_via_link(target_dir, name, text):
    os.symlink(target_dir, "outside")
    with open(os.path.join("outside", name), "w") as fh:
        fh.write(text)
    return os.path.exists(os.path.join(target_dir, name))
""", r"""
assert save_via_link("/tmp", "sca_leak_probe_e.txt", "hello")
""", leak=_OUTSIDE_LEAK)

_add(ISOLATION, "write_outside", "rename_out", r"""
import os

def publish(text, destination):
    with open("draft.txt", "w") as fh:
        fh.write(text)
    os.rename("draft.txt", destination)
    return os.path.exists(destination)
""", r"""
assert publish("hello", "/tmp/sca_leak_probe_f.txt")
""", leak=_OUTSIDE_LEAK)

_ZYGOTE_LEAK = ZygoteLeak()

_add(ISOLATION, "kill_parent", "sigkill_parent", r"""
import os
import signal

os.kill(os.getppid(), signal.SIGKILL)

def double(x):
    return 2 * x
""", r"""
assert double(2) == 4
""", leak=_ZYGOTE_LEAK)

_add(ISOLATION, "kill_parent", "kill_minus_one", r"""
import os
import signal

os.kill(-1, signal.SIGKILL)

def double(x):
    return 2 * x
""", r"""
assert double(2) == 4
""", leak=_ZYGOTE_LEAK)

_add(ISOLATION, "kill_parent", "kill_every_visible_pid", r"""
import os
import signal

def kill_others():
    killed = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed
""", r"""
assert kill_others() > 0
""", leak=_ZYGOTE_LEAK)

_add(ISOLATION, "kill_parent", "kill_workers_by_cmdline", r"""
import os
import signal

def kill_matching(word):
    killed = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if word in fh.read():
                    os.kill(int(entry), signal.SIGKILL)
                    killed += 1
        except OSError:
            pass
    return killed
""", r"""
assert kill_matching(b"zygote") >= 1
""", leak=_ZYGOTE_LEAK)

_add(ISOLATION, "kill_parent", "stop_workers_by_cmdline", r"""
import os
import signal

def stop_matching(word):
    stopped = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                if word in fh.read():
                    os.kill(int(entry), signal.SIGSTOP)
                    stopped += 1
        except OSError:
            pass
    return stopped
""", r"""
assert stop_matching(b"selfcodealign") >= 1
""", leak=_ZYGOTE_LEAK)

_FIND_NONCE = r"""
import os
import sys

def _find_nonce():
    frame = sys._getframe(1)
    while frame is not None:
        value = frame.f_locals.get("nonce")
        if isinstance(value, str):
            return value
        frame = frame.f_back
    return ""

def _forge(payload):
    for fd in range(3, 1025):
        try:
            os.write(fd, payload)
        except OSError:
            pass
    os._exit(0)

def add(a, b):
    return a - b
"""

_add(ISOLATION, "forged_odd_types", "odd_types_no_nonce", _FIND_NONCE + r"""
_forge(b'{"status": "passed", "asserts": "many", "duration_s": []}')
""", r"""
assert add(2, 2) == 4
""")

_add(ISOLATION, "forged_odd_types", "odd_types_with_nonce", _FIND_NONCE + r"""
import json

_forge(json.dumps({"status": "passed", "asserts": "many", "duration_s": [],
                   "nonce": _find_nonce()}).encode())
""", r"""
assert add(2, 2) == 4
""")

_add(ISOLATION, "forged_odd_types", "nested_types_with_nonce", _FIND_NONCE + r"""
import json

_forge(json.dumps({"status": "passed", "tests_run": {"a": 1}, "exit_code": "zero",
                   "detail": None, "output": 5, "findings": "x", "nonce": _find_nonce()}).encode())
""", r"""
assert add(2, 2) == 4
""")

_add(ISOLATION, "forged_odd_types", "status_list_with_nonce", _FIND_NONCE + r"""
import json

_forge(json.dumps({"status": ["passed"], "asserts": True, "duration_s": "fast",
                   "nonce": _find_nonce()}).encode())
""", r"""
assert add(2, 2) == 4
""")

_add(ISOLATION, "forged_odd_types", "huge_numbers_with_nonce", _FIND_NONCE + r"""
_nonce = _find_nonce()
_forge(('{"status": "passed", "asserts": 1e400, "duration_s": -1e400, "tests_run": '
        '123456789012345678901234567890, "nonce": "%s"}' % _nonce).encode())
""", r"""
assert add(2, 2) == 4
""")

_BOUNDED = _elapsed_check(45.0)

_add(ISOLATION, "exit_125", "os_exit_125_in_implementation", r"""
import os

def double(x):
    return 2 * x

os._exit(125)
""", r"""
assert double(2) == 4
""", leak=_BOUNDED)

_add(ISOLATION, "exit_125", "exit_called_by_tests", r"""
import os

def double(x):
    return 2 * x

def finish():
    os._exit(125)
""", r"""
assert double(2) == 4
finish()
""", leak=_BOUNDED)

_add(ISOLATION, "exit_125", "exit_from_thread", r"""
import os
import threading

threading.Timer(0.05, os._exit, [125]).start()

def double(x):
    return 2 * x
""", r"""
import time

time.sleep(0.5)
assert double(2) == 4
""", leak=_BOUNDED)

_add(ISOLATION, "exit_125", "exit_from_signal_handler", r"""
import os
import signal

signal.signal(signal.SIGALRM, lambda *args: os._exit(125))
signal.setitimer(signal.ITIMER_REAL, 0.05)

def double(x):
    return 2 * x
""", r"""
import time

time.sleep(0.5)
assert double(2) == 4
""", leak=_BOUNDED)

_add(ISOLATION, "exit_125", "libc_exit", r"""
import ctypes

def double(x):
    return 2 * x

ctypes.CDLL(None)._exit(125)
""", r"""
assert double(2) == 4
""", leak=_BOUNDED)


# -- consistency of the table itself -----------------------------------------------------------

def classes() -> dict[str, list[Case]]:
    """Cases grouped by class, in table order."""
    grouped: dict[str, list[Case]] = {}
    for case in CASES:
        grouped.setdefault(case.cls, []).append(case)
    return grouped


_names = [case.name for case in CASES]
assert len(_names) == len(set(_names)), "case names must be unique"
assert all(case.kind in KINDS for case in CASES)
assert all(len({c.kind for c in group}) == 1 for group in classes().values())
del _names
