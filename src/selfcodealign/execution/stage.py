"""The execute stage: every I->R record runs against its own tests in the sandbox.

Each output record is the input plus `status`, `passed` and an `execution` object (duration,
asserts executed, mode, detail, output tail, lint findings, program hash). Records that cannot
be assembled into a program are dropped with a reason; an `infra_error` that survived the
sandbox's retries is deferred, so the next run tries it again, and never counts as a result.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, ClassVar

from selfcodealign.execution.base import HARNESS_VERSION, Limits, Program, Status
from selfcodealign.execution.program import assemble
from selfcodealign.execution.sandbox import SandboxFront
from selfcodealign.records import Executed, Response
from selfcodealign.runner import Outcome, Rec, Stage
from selfcodealign.store.stage import StageStats


class Execute(Stage):
    name: ClassVar[str] = "execute"
    rate_label: ClassVar[str] = "pass"
    inputs: ClassVar[type | None] = Response
    needs: ClassVar[tuple[str, ...]] = ("response", "tests")
    outputs: ClassVar[type | None] = Executed

    def __init__(self, sandbox: SandboxFront, limits: Limits, batch_size: int = 0) -> None:
        self.sandbox = sandbox
        self.limits = limits
        self.batch_size = batch_size or 32 * sandbox.workers
        self.statuses: Counter[str] = Counter()
        self._stats = StageStats()

    def begin(self, stats: StageStats) -> None:
        for key, value in stats.metrics.items():
            if key.startswith("status."):
                self.statuses[key[len("status."):]] = int(value)
        self._stats = stats

    def main_rate(self, stats: StageStats) -> float | None:
        total = sum(self.statuses.values())
        return self.statuses["passed"] / total if total else None

    def process(self, batch: list[Rec]) -> list[Outcome]:
        programs = [assemble(record) for record in batch]
        runnable = [p for p in programs if isinstance(p, Program)]
        results = iter(self.sandbox.run_many(runnable, self.limits))
        outcomes = []
        for record, program in zip(batch, programs, strict=True):
            if isinstance(program, str):
                outcomes.append(Outcome(record["id"], dropped=[(record, program)]))
                continue
            result = next(results)
            if result.status is Status.INFRA_ERROR:
                outcomes.append(Outcome(record["id"], deferred=True))
                continue
            self.statuses[result.status.value] += 1
            execution: dict[str, Any] = {
                "status": result.status.value, "duration_s": round(result.duration_s, 4),
                "asserts": result.asserts, "tests_run": result.tests_run, "mode": result.mode,
                "detail": result.detail, "output": result.output[-2000:],
                "findings": result.findings, "cached": result.cached,
                "program_hash": program.key(self.limits), "harness": HARNESS_VERSION,
            }
            out = {**record, "status": result.status.value, "passed": result.passed,
                   "execution": execution}
            outcomes.append(Outcome(record["id"], kept=[out]))
        total = sum(self.statuses.values())
        metrics = {f"status.{k}": float(v) for k, v in self.statuses.items()}
        metrics["pass_rate"] = self.statuses["passed"] / total if total else 0.0
        self._stats.metrics.update(metrics)
        return outcomes
