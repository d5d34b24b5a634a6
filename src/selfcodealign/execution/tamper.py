"""The tamper check: the end state of what decides a verdict, compared with the start state.

What is watched is what can change a verdict: builtins, the unittest classes whose methods
report failures (TestCase, TestResult, TestSuite, TestLoader, TestProgram), doctest's runner,
pytest's `Failed`, the hooks of `sys`, `os` and `threading` the harness relies on, and the names
the instrumented tests call. Only the end state counts: a patch that was restored (a test that
mocks `builtins.open` or `builtins.input` for a while) is fine, as is doctest's `builtins._`.

The zygote records each watched namespace's contents once (`snapshot`). In a child, a
namespace whose CPython version tag is unchanged is skipped without touching its values (reading
~200 values would copy their memory pages in every forked child); a changed one is compared
value by value (by identity). TestCase subclasses that the program defines may add helpers
but not replace what runs or reports a test (`run`, `__call__`, `_callTestMethod`,
`failureException`, any `assert*`/`fail*` method, ...).
"""

from __future__ import annotations

import builtins
import ctypes
import doctest
import gc
import os
import sys
import threading
import unittest
from typing import Any

_IGNORED = {("builtins", "_")}  # the interactive/doctest "last result"
_ALLOWED_OVERRIDES = {
    "setUp", "tearDown", "setUpClass", "tearDownClass", "asyncSetUp", "asyncTearDown",
    "maxDiff", "longMessage", "__init__", "__str__", "__repr__", "__hash__", "__eq__",
    "shortDescription", "__module__", "__qualname__", "__doc__", "__dict__", "__weakref__",
    "__annotations__", "__firstlineno__", "__static_attributes__", "__classcell__",
    "_classSetupFailed", "_class_cleanups",
}


def _version_cell(d: dict[str, Any]) -> Any:
    """A ctypes view of CPython's per-dict version tag (PEP 509); None where the layout is
    not known (then the values are compared every time)."""
    if sys.implementation.name != "cpython" or not (3, 10) <= sys.version_info[:2] <= (3, 13):
        return None
    return ctypes.c_uint64.from_address(id(d) + 3 * ctypes.sizeof(ctypes.c_ssize_t))


def _class_dict(cls: type) -> dict[str, Any]:
    found: dict[str, Any] = gc.get_referents(cls.__dict__)[0]
    return found


def _namespaces() -> list[tuple[str, dict[str, Any]]]:
    spaces = [("builtins", vars(builtins))]
    classes: list[type] = [unittest.TestCase, unittest.TestResult, unittest.TextTestResult,
                           unittest.TestSuite, unittest.TestLoader, unittest.TestProgram,
                           doctest.DocTestRunner]
    try:
        from _pytest.outcomes import Failed

        classes.append(Failed)
    except ImportError:
        pass
    spaces += [(f"{c.__module__}.{c.__name__}", _class_dict(c)) for c in classes]
    return spaces


_HOOKS = (("sys", sys, "exit"), ("sys", sys, "excepthook"), ("sys", sys, "settrace"),
          ("sys", sys, "setprofile"), ("sys", sys, "unraisablehook"), ("os", os, "_exit"),
          ("os", os, "write"), ("os", os, "read"), ("os", os, "fstat"),
          ("threading", threading, "excepthook"))


class Snapshot:
    """Taken in the zygote after the hooks are installed; checked in each child."""

    def __init__(self) -> None:
        self.spaces = [(label, ns, _version_cell(ns), {k: id(v) for k, v in ns.items()})
                       for label, ns in _namespaces()]
        self.versions = [cell.value if cell is not None else None
                         for _, _, cell, _ in self.spaces]
        # The modules holding the hooks are checked by version tag too; only a changed one has
        # its hooks looked at (a getattr copies the hook's memory page in a forked child).
        self.hook_modules = [(mod, _version_cell(vars(mod))) for mod in (sys, os, threading)]
        self.hook_versions = [cell.value if cell is not None else None
                              for _, cell in self.hook_modules]
        self.hooks = {(label, name): id(getattr(mod, name)) for label, mod, name in _HOOKS}

    def changes(self) -> list[str]:
        found: list[str] = []
        for (label, ns, cell, ids), version in zip(self.spaces, self.versions, strict=True):
            if cell is not None and cell.value == version:
                continue
            for key, value in ns.items():
                if (label, key) in _IGNORED:
                    continue
                if ids.get(key) != id(value):
                    found.append(f"{label}.{key} {'added' if key not in ids else 'replaced'}")
            found += [f"{label}.{key} deleted" for key in ids if key not in ns]
        changed = {mod for (mod, cell), version in zip(self.hook_modules, self.hook_versions,
                                                         strict=True)
                   if cell is None or cell.value != version}
        for label, mod, name in _HOOKS:
            if mod in changed and id(getattr(mod, name, None)) != self.hooks[(label, name)]:
                found.append(f"{label}.{name} replaced")
        if sys.gettrace() is not None or sys.getprofile() is not None:
            found.append("a trace or profile hook is set")
        return found


_MACHINERY = frozenset(dir(unittest.TestCase))


def overridden_test_machinery(namespace: dict[str, Any]) -> list[str]:
    """TestCase subclasses defined by the program that replace what runs or reports a test."""
    machinery: frozenset[str] | set[str] = _MACHINERY  # not copied: copying touches pages
    async_case = sys.modules.get("unittest.async_case")  # loaded only if the tests use it
    if async_case is not None:
        machinery = _MACHINERY | set(dir(async_case.IsolatedAsyncioTestCase))
    found = []
    for value in list(namespace.values()):
        if not (isinstance(value, type) and issubclass(value, unittest.TestCase)):
            continue
        for cls in value.__mro__:
            if cls.__module__.split(".")[0] == "unittest" or cls is object:
                continue
            for name in vars(cls):
                if name in machinery and name not in _ALLOWED_OVERRIDES:
                    found.append(f"{cls.__name__}.{name} overrides unittest's own")
    return sorted(set(found))


def namespace_changes(namespace: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    return [f"{name} replaced" for name, value in expected.items()
            if namespace.get(name) is not value]
