"""Every labelled case in verdict_cases.py through the real sandbox, as root and unprivileged.

A case passes here when the sandbox's verdict matches its label (legit programs pass; false
passes and isolation probes do not), its host-side leak check finds nothing, `box.run` returned
a result instead of raising (a "contained" probe may pass or not: its action is harmless
inside the sandbox, and only a leak counts), and the sandbox still runs a trivial program
afterwards. Each test runs under an outer alarm, so a regression that hangs cannot hang CI. A
failure shows the status, the detail and the end of the program's output.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from conftest import SANDBOX_MODES, sandbox_run_as
from selfcodealign.execution import ExecResult, Limits, LocalSandbox, Program
from verdict_cases import (
    CASES,
    CONTAINED,
    ISOLATION,
    KINDS,
    LEGIT,
    MIN_CASES_PER_CLASS,
    NOT_PASSED,
    PASSED,
    Case,
    classes,
    leak_after,
    leak_before,
)

LIMITS = Limits(timeout_s=5.0, memory_mb=1024)
OUTER_LIMIT_S = 60
TAIL = 1500

pytestmark = [pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux >= 5.3"),
              pytest.mark.usefixtures("sandbox_alarm")]


@dataclass
class Sandboxed:
    mode: str
    box: LocalSandbox


@pytest.fixture(scope="module", params=SANDBOX_MODES)
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandboxed]:
    run_as = sandbox_run_as(request.param)
    box = LocalSandbox(workers=2, limits=LIMITS, run_as=run_as)
    yield Sandboxed(request.param, box)
    box.close()


_probe_numbers = itertools.count()


def _still_works(box: LocalSandbox) -> str | None:
    """Two fresh trivial programs (never cached, so both workers are likely used) must pass."""
    for _ in range(2):
        n = next(_probe_numbers)
        result = box.run(Program("def ok(n):\n    return n + 1\n", f"assert ok({n}) == {n + 1}\n"))
        if not result.passed:
            return (f"the sandbox is broken afterwards: a trivial program got "
                    f"{result.status.value}: {result.detail[-300:]}")
    return None


def _report(case: Case, mode: str, result: ExecResult | None, problems: list[str]) -> str:
    lines = [f"{case.kind} {case.cls}/{case.name} [{mode}]: " + "; ".join(problems)]
    if result is not None:
        lines += [f"status: {result.status.value}",
                  f"detail: {result.detail[-TAIL:]}",
                  f"output (last {TAIL} characters):",
                  result.output[-TAIL:]]
    return "\n".join(lines)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.cls}-{c.name}" for c in CASES])
def test_verdict(sandbox: Sandboxed, case: Case) -> None:
    state = leak_before(case)
    result: ExecResult | None = None
    problems: list[str] = []
    try:
        result = sandbox.box.run(Program(case.code, case.tests), case.limits or LIMITS)
    except Exception as exc:  # a result is owed even for the most hostile program
        problems.append(f"box.run raised {type(exc).__name__}: {exc}")
    finally:
        leak = leak_after(case, state)
    if result is not None and case.expect != CONTAINED and \
            result.passed != (case.expect == PASSED):
        problems.append(f"expected {case.expect}, got {result.status.value}")
    if leak:
        problems.append(f"leak: {leak}")
    broken = _still_works(sandbox.box)
    if broken:
        problems.append(broken)
    assert not problems, _report(case, sandbox.mode, result, problems)


def test_every_class_has_enough_cases() -> None:
    small = {cls: len(group) for cls, group in classes().items()
             if len(group) < MIN_CASES_PER_CLASS}
    assert not small, f"classes with fewer than {MIN_CASES_PER_CLASS} cases: {small}"


def test_labels_are_consistent() -> None:
    for case in CASES:
        assert case.kind in KINDS, case.name
        allowed = {PASSED} if case.kind == LEGIT else {NOT_PASSED} | (
            {CONTAINED} if case.kind == ISOLATION else set())
        assert case.expect in allowed, case.name
        assert case.code.strip() and case.tests.strip(), case.name
    assert {case.kind for case in CASES} == set(KINDS)
