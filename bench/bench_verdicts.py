"""Verdict quality of the sandbox on the labelled cases in tests/verdict_cases.py.

Runs every case through `LocalSandbox` in each mode (as root and as an unprivileged user when
this runs as root; as the current user otherwise), one program at a time so that each host-side
leak check sees only its own program, and prints per mode: the cases by kind, the false-pass
rate (false_pass cases that passed), the legitimate-fail rate (legit cases not passed, named),
the leaks (isolation cases that passed or left a trace on the host, named), how often `box.run`
raised instead of returning a result, and the wall time.

    python bench/bench_verdicts.py [--modes root,unprivileged] [--workers 2] [--only CLASS,...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from selfcodealign.execution import Limits, LocalSandbox, Program
from verdict_cases import (
    CASES,
    CONTAINED,
    FALSE_PASS,
    ISOLATION,
    KINDS,
    LEGIT,
    Case,
    leak_after,
    leak_before,
)

LIMITS = Limits(timeout_s=5.0, memory_mb=1024)
UNPRIVILEGED_UID = 65534


@dataclass
class Outcome:
    case: Case
    status: str  # the sandbox's status, or "raised"
    passed: bool
    leak: str | None
    detail: str


def run_one(box: LocalSandbox, case: Case) -> Outcome:
    state = leak_before(case)
    try:
        result = box.run(Program(case.code, case.tests), case.limits or LIMITS)
        status, passed, detail = result.status.value, result.passed, result.detail
    except Exception as exc:
        status, passed, detail = "raised", False, f"{type(exc).__name__}: {exc}"
    finally:
        leak = leak_after(case, state)
    return Outcome(case, status, passed, leak, detail)


def run_mode(mode: str, cases: list[Case], workers: int,
             verbose: bool) -> tuple[list[Outcome], float, str]:
    run_as = UNPRIVILEGED_UID if mode == "unprivileged" and os.geteuid() == 0 else None
    t0 = time.perf_counter()
    box = LocalSandbox(workers=workers, limits=LIMITS, run_as=run_as)
    try:
        level = box.describe()["level"]
        outcomes = []
        for case in cases:
            outcome = run_one(box, case)
            outcomes.append(outcome)
            if verbose:
                print(f"  [{mode}] {case.kind:10} {case.cls}/{case.name}: {outcome.status}"
                      + (f"  LEAK {outcome.leak}" if outcome.leak else ""), flush=True)
    finally:
        box.close()
    return outcomes, time.perf_counter() - t0, level


def _names(outcomes: list[Outcome], extra: bool = False) -> str:
    parts = []
    for o in outcomes:
        note = o.leak if extra and o.leak else o.status
        parts.append(f"{o.case.cls}/{o.case.name} ({note})")
    return ", ".join(parts)


def _rate(part: int, total: int) -> str:
    return f"{part}/{total} = {100 * part / total:.1f}%" if total else "0/0"


def report(mode: str, outcomes: list[Outcome], seconds: float, level: str) -> None:
    kinds = Counter(o.case.kind for o in outcomes)
    false_pass = [o for o in outcomes if o.case.kind == FALSE_PASS]
    legit = [o for o in outcomes if o.case.kind == LEGIT]
    isolation = [o for o in outcomes if o.case.kind == ISOLATION]
    false_passed = [o for o in false_pass if o.passed]
    legit_failed = [o for o in legit if not o.passed]
    leaked = [o for o in isolation if o.leak or (o.passed and o.case.expect != CONTAINED)]
    raised = [o for o in outcomes if o.status == "raised"]
    by_kind = ", ".join(f"{kind} {kinds[kind]}" for kind in KINDS)
    print(f"mode {mode}: {len(outcomes)} cases ({by_kind}); isolation {level}; "
          f"wall time {seconds:.1f} s")
    print(f"  false-pass rate   {_rate(len(false_passed), len(false_pass))}"
          + (f": {_names(false_passed)}" if false_passed else ""))
    print(f"  legit-fail rate   {_rate(len(legit_failed), len(legit))}"
          + (f": {_names(legit_failed)}" if legit_failed else ""))
    print(f"  leaks             {_rate(len(leaked), len(isolation))}"
          + (f": {_names(leaked, extra=True)}" if leaked else ""))
    print(f"  box.run raised    {len(raised)}" + (f": {_names(raised)}" if raised else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_modes = "root,unprivileged" if os.geteuid() == 0 else "unprivileged"
    parser.add_argument("--modes", default=default_modes,
                        help="comma-separated: root (only as root), unprivileged")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated case classes to run")
    parser.add_argument("--verbose", action="store_true", help="one line per case")
    args = parser.parse_args()
    only = {name for name in args.only.split(",") if name}
    cases = [c for c in CASES if not only or c.cls in only]
    modes = [m for m in args.modes.split(",") if m]
    if os.geteuid() != 0 and "root" in modes:
        print("not running as root: skipping mode root")
        modes.remove("root")
    for mode in modes:
        outcomes, seconds, level = run_mode(mode, cases, args.workers, args.verbose)
        report(mode, outcomes, seconds, level)


if __name__ == "__main__":
    main()
