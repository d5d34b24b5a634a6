"""Sandboxed execution of model-written programs against their own tests.

The names below are loaded on first use: a zygote imports only the modules it runs with
(`zygote.py`), not the parent's pool, threads and subprocess machinery. Every megabyte a zygote
holds is copied into page tables at each fork.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from selfcodealign.execution.base import ExecResult, Limits, Program, Sandbox, Status
    from selfcodealign.execution.program import assemble, python_blocks
    from selfcodealign.execution.sandbox import LocalSandbox

_WHERE = {"ExecResult": "base", "Limits": "base", "Program": "base", "Sandbox": "base",
          "Status": "base", "assemble": "program", "python_blocks": "program",
          "LocalSandbox": "sandbox"}

__all__ = ["ExecResult", "Limits", "LocalSandbox", "Program", "Sandbox", "Status", "assemble",
           "python_blocks"]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
