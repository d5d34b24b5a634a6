"""Sandboxed execution of model-written programs against their own tests."""

from selfcodealign.execution.base import ExecResult, Limits, Program, Sandbox, Status
from selfcodealign.execution.program import assemble, python_blocks
from selfcodealign.execution.sandbox import LocalSandbox

__all__ = ["ExecResult", "Limits", "LocalSandbox", "Program", "Sandbox", "Status", "assemble",
           "python_blocks"]
