"""Score EvalPlus-format samples on HumanEval+ / MBPP+ with EvalPlus's semantics.

1. Expected outputs (`expected.py`): the canonical program (prompt + canonical solution) runs
   in the sandbox on every base and plus input; its outputs and the seconds each call took are
   cached per dataset hash under `~/.cache/selfcodealign/evalplus/expected/` (or
   `$SELFCODEALIGN_CACHE/expected/`; plain JSON).
2. Each sample's solution (`solution`, or `prompt + completion`) runs in the sandbox twice, on
   the base inputs and on the plus inputs, each input under its own time limit
   `max(min_time_limit, factor * reference seconds)` (EvalPlus: 1.0 s and 4.0) and the whole run
   under `min(60, sum of limits) + 2` seconds. The solution sees only the inputs.
3. Outside the sandbox each output is checked against the expected one (`outputcheck.py`). A set
   passes when every input passes; `timeout` when the run was killed at its deadline; `fail`
   otherwise. plus counts as passed only when base passed too. pass@k is the unbiased
   estimator, for k in 1, 10, 100 where every task has at least k samples.

Scoring resumes: each scored sample is appended to `<output>.progress.jsonl` and skipped on a
rerun; the results file is written atomically at the end, in EvalPlus's layout.
"""


from __future__ import annotations

import functools
import hashlib
import heapq
import itertools
import json
import logging
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from selfcodealign.errors import InputError
from selfcodealign.evaluation.data import Dataset
from selfcodealign.evaluation.expected import (
    FAIL,
    PASS,
    RERUN,
    TIMEOUT,
    VERDICT_MAX,
    WHOLE,
    ExpectedCache,
    References,
    _limits,
)
from selfcodealign.execution.base import Status
from selfcodealign.execution.sandbox import SandboxFront
from selfcodealign.progress import Progress

__all__ = [  # FAIL, PASS, TIMEOUT and ExpectedCache live in expected.py; imported from here too
    "FAIL", "MIN_TIME_LIMIT", "PASS", "RERUN_BUDGET", "SAMPLE_BUDGET", "TIMEOUT",
    "TIME_LIMIT_FACTOR", "ExpectedCache", "Sample", "TimeLimits", "pass_at_k", "read_samples",
    "score", "score_sample", "summarise",
]

log = logging.getLogger("selfcodealign.evaluation")

MIN_TIME_LIMIT, TIME_LIMIT_FACTOR = 1.0, 4.0
SAMPLE_BUDGET = 1 << 12  # parts (~64 KiB): a sample's larger output comes back as its digest
RERUN_BUDGET = 1 << 22  # parts (~64 MiB): outputs a digest could not settle, whole


@dataclass(frozen=True)
class TimeLimits:
    min_s: float = MIN_TIME_LIMIT
    factor: float = TIME_LIMIT_FACTOR
    cap_s: float = 60.0  # EvalPlus's cap on a whole run; tests of semantics raise it

    def per_input(self, reference: list[float]) -> list[float]:
        return [max(self.min_s, self.factor * t) for t in reference]

    def deadline(self, limits: list[float], inputs: int) -> float:
        # EvalPlus: min(60, sum) + 1, +1 more when it checks every input; plus moving the
        # inputs in and the outputs out, which EvalPlus does not time
        return min(self.cap_s, sum(limits)) + 2.0 + 2e-4 * inputs


# -- samples -----------------------------------------------------------------------------------


@dataclass
class Sample:
    index: int  # position in the samples file
    task_id: str
    solution: str
    # where the code came from: "solution", "completion" (the prompt put in front, as EvalPlus
    # does) or "completion_with_prompt" (a completion that already starts with the prompt)
    form: str = "solution"

    @property
    def key(self) -> str:
        digest = hashlib.sha256(self.solution.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{self.index}:{self.task_id}:{digest[:16]}"


def read_samples(path: str | Path, dataset: Dataset) -> tuple[list[Sample], dict[str, int]]:
    """Samples in file order, and counts of the lines that were skipped and why."""
    samples: list[Sample] = []
    skipped: Counter[str] = Counter()
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(f"cannot read samples {path}: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                skipped["invalid_json"] += 1
                log.warning("%s:%d: not JSON, skipped", path, number)
                continue
            task_id = row.get("task_id") if isinstance(row, dict) else None
            if task_id not in dataset.problems:
                skipped["unknown_task"] += 1
                log.warning("%s:%d: task %r is not in %s, skipped", path, number, task_id,
                            dataset.name)
                continue
            prompt = dataset.problems[task_id].prompt
            if isinstance(row.get("solution"), str):
                solution, form = row["solution"], "solution"
            elif isinstance(row.get("completion"), str):
                completion = row["completion"]
                if prompt.strip() and completion.lstrip().startswith(prompt.strip()):
                    solution, form = completion, "completion_with_prompt"
                else:
                    solution, form = prompt + completion, "completion"
            else:
                skipped["no_solution"] += 1
                log.warning("%s:%d: neither `solution` nor `completion`, skipped", path, number)
                continue
            samples.append(Sample(len(samples), task_id, solution, form))
    if not samples:
        raise InputError(f"{path} has no usable samples for {dataset.name}")
    return samples, dict(skipped)


# -- scoring -----------------------------------------------------------------------------------


def score_sample(sample: Sample, refs: References, box: SandboxFront,
                 limits: TimeLimits) -> dict[str, Any]:
    row: dict[str, Any] = {"task_id": sample.task_id, "solution": sample.solution,
                           "form": sample.form}
    whys = {}
    for kind in ("base", "plus"):
        ref = refs.get(sample.task_id, kind)
        per_input = limits.per_input(ref.times)
        deadline = limits.deadline(per_input, len(ref.inputs))
        result = box.call(sample.solution, ref.problem.entry_point, ref.encoded, per_input,
                          timeout_s=deadline, limits=_limits(box), verdict_max=VERDICT_MAX,
                          output_budget=WHOLE if ref.special else SAMPLE_BUDGET,
                          keep_floats=ref.special)
        status, failing, why = ref.status(result)
        returns = list(result.extra.get("returns") or [])
        for attempt in range(3):  # rare: a large output that only its whole value can settle
            if status != RERUN:
                break
            upto = failing[0] + 1  # run again up to that input, outputs whole
            again = box.call(sample.solution, ref.problem.entry_point, ref.encoded[:upto],
                             per_input[:upto],
                             timeout_s=limits.deadline(per_input[:upto], upto),
                             limits=_limits(box), verdict_max=VERDICT_MAX,
                             output_budget=RERUN_BUDGET)
            if again.status is not Status.PASSED:
                status, failing, why = ref.status(again, final=True)
                break
            got = (again.extra.get("returns") or [])[:upto]
            returns = got + returns[upto:] if len(got) == upto else got  # short: it stopped
            status, failing, why = ref.judge(returns, final=attempt == 2)
        row[f"{kind}_status"], row[f"{kind}_fail_tests"] = status, failing
        whys[kind] = why
    row["_why"] = whys["base"] or whys["plus"]
    return row


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one task: 1 - C(n - c, k) / C(n, k)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def summarise(rows: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """{"base": {"pass@k": v}, "plus": {...}} over the tasks with samples."""
    totals = [len(v) for v in rows.values()]
    base = [sum(r["base_status"] == PASS for r in v) for v in rows.values()]
    plus = [sum(r["base_status"] == PASS and r["plus_status"] == PASS for r in v)
            for v in rows.values()]
    out: dict[str, dict[str, float]] = {"base": {}, "plus": {}}
    for k in (1, 10, 100):
        if totals and min(totals) >= k:
            out["base"][f"pass@{k}"] = sum(map(pass_at_k, totals, base, [k] * len(totals))) \
                / len(totals)
            out["plus"][f"pass@{k}"] = sum(map(pass_at_k, totals, plus, [k] * len(totals))) \
                / len(totals)
    return out


def _progress_rows(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        return
    with path.open("rb") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # a line cut by a crash: that sample is scored again
            if isinstance(row, dict) and "key" in row:
                yield row


def _json_default(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, complex):
        return str(value)
    raise TypeError(type(value).__name__)


class _Jobs:
    """Jobs on `workers` threads, the lowest priority key first; a running job may add more.
    The first exception is kept, later jobs are skipped, and `wait` raises it."""

    def __init__(self, workers: int) -> None:
        self.heap: list[tuple[tuple[float, ...], int, Callable[[], None]]] = []
        self.lock = threading.Lock()
        self.idle = threading.Condition(self.lock)
        self.pending, self.order = 0, itertools.count()
        self.error: BaseException | None = None
        self.pool = ThreadPoolExecutor(max(1, workers))

    def add(self, priority: tuple[float, ...], job: Callable[[], None]) -> None:
        with self.lock:
            heapq.heappush(self.heap, (priority, next(self.order), job))
            self.pending += 1
        self.pool.submit(self._next)

    def _next(self) -> None:
        with self.lock:
            job = heapq.heappop(self.heap)[2]
            skip = self.error is not None
        try:
            if not skip:
                job()
        except BaseException as exc:  # handed to the waiting thread
            with self.lock:
                self.error = self.error or exc
        finally:
            with self.lock:
                self.pending -= 1
                if not self.pending:
                    self.idle.notify_all()

    def wait(self) -> None:
        try:
            with self.lock:
                while self.pending:
                    self.idle.wait()
        except BaseException:
            with self.lock:
                self.error = self.error or KeyboardInterrupt()
            raise
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
        if self.error is not None:
            raise self.error


def score(dataset: Dataset, samples: Iterable[Sample], output: str | Path, *,
          box: SandboxFront, limits: TimeLimits | None = None, cache_dir: Path | None = None,
          show_progress: bool = True, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Score `samples`, write EvalPlus-layout results to `output`; returns the results.

    One pool of sandbox workers runs everything, most useful first: a task's expected outputs
    when missing (they unlock its samples), then samples, those of the slowest tasks first so
    no worker is left with a long one at the end. A solution repeated for the same task is
    run once; its samples share the verdicts."""
    limits = limits or TimeLimits()
    samples = list(samples)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    progress_path = output.with_name(output.name + ".progress.jsonl")
    done = {row["key"]: row for row in _progress_rows(progress_path)}
    groups: dict[tuple[str, str], list[Sample]] = {}
    for sample in samples:
        if sample.key not in done:
            groups.setdefault((sample.task_id, sample.solution), []).append(sample)
    by_task_groups: dict[str, list[list[Sample]]] = defaultdict(list)
    for (task_id, _), group in groups.items():
        by_task_groups[task_id].append(group)
    cache = ExpectedCache(dataset, cache_dir)
    expected = {t: cache.tasks[t] for t in by_task_groups if t in cache.tasks}
    missing = [t for t in by_task_groups if t not in cache.tasks]
    if missing:
        log.info("computing expected outputs of %d %s tasks (once per dataset)", len(missing),
                 dataset.name)
    refs = References(dataset, expected)
    found: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()
    started = time.monotonic()
    jobs = _Jobs(box.workers)
    todo = sum(map(len, groups.values()))
    with Progress(f"{dataset.name} scoring", len(samples), done=len(samples) - todo,
                  enabled=show_progress) as progress, progress_path.open("ab") as sink:
        passed = [0]

        def run_group(group: list[Sample]) -> None:
            verdict = score_sample(group[0], refs, box, limits)
            with lock:
                for sample in group:
                    row = {**verdict, "key": sample.key}
                    sink.write(json.dumps(row, default=_json_default).encode() + b"\n")
                    done[sample.key] = row
                    passed[0] += row["base_status"] == PASS and row["plus_status"] == PASS
                    progress.set_rate("plus pass", passed[0] / (progress.new + 1))
                    progress.advance()
                sink.flush()

        def add_samples(task_id: str) -> None:
            cost = sum(expected[task_id]["base_time"]) + sum(expected[task_id]["plus_time"])
            for group in by_task_groups[task_id]:
                jobs.add((1, -cost), functools.partial(run_group, group))

        def compute(task_id: str) -> None:
            outputs = cache.compute(dataset.problems[task_id], box)
            with lock:
                expected[task_id] = found[task_id] = outputs
                if len(found) == len(missing):
                    cache.save(found)  # all computed: kept even if scoring is interrupted
            add_samples(task_id)

        cached = list(expected)  # before any job runs (computed ones join `expected`)
        for task_id in missing:
            jobs.add((0,), functools.partial(compute, task_id))
        for task_id in cached:
            add_samples(task_id)
        jobs.wait()
    by_task: dict[str, list[dict[str, Any]]] = {}
    failures: dict[str, str] = {}
    for sample in samples:
        row = dict(done[sample.key])
        row.pop("key", None)
        why = row.pop("_why", "")
        if why and sample.task_id not in failures:
            failures[sample.task_id] = why
        by_task.setdefault(sample.task_id, []).append(row)
    missing = sorted(set(dataset.problems) - set(by_task))
    if missing:
        log.warning("%d of %d %s tasks have no samples; pass@k covers the other %d",
                    len(missing), len(dataset.problems), dataset.name, len(by_task))
    results = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "hash": dataset.md5,
        "dataset": {"name": dataset.name, "version": dataset.version,
                    "path": str(dataset.path), "tasks": len(dataset.problems)},
        "time_limits": {"min_time_limit": limits.min_s, "gt_time_limit_factor": limits.factor},
        "eval": by_task,
        "pass_at_k": summarise(by_task),
        "missing_tasks": missing,
        "failures": failures,
        "scoring_s": round(time.monotonic() - started, 2),
        **(extra or {}),
    }
    tmp = output.with_name(f".{output.name}.tmp")
    # json, not orjson: failing inputs may hold NaN or integers past 64 bits
    tmp.write_text(json.dumps(results, default=_json_default, indent=1), encoding="utf-8")
    tmp.replace(output)
    progress_path.unlink(missing_ok=True)
    return results
