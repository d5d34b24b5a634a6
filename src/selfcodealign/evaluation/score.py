"""Score EvalPlus-format samples on HumanEval+ / MBPP+ with EvalPlus's semantics.

1. Expected outputs: the canonical program (prompt + canonical solution) runs in the sandbox on
   every base and plus input; its outputs and the seconds each call took are cached per dataset
   hash under `~/.cache/selfcodealign/evalplus/expected/` (or `$SELFCODEALIGN_CACHE/expected/`;
   plain JSON).
2. Each sample's solution (`solution`, or `prompt + completion`) runs in the sandbox twice, on
   the base inputs and on the plus inputs, each input under its own time limit
   `max(min_time_limit, factor * reference seconds)` (EvalPlus: 1.0 s and 4.0) and the whole run
   under `min(60, sum of limits) + 2` seconds. The solution sees only the inputs.
3. Outside the sandbox each output is checked against the expected one (`oracle.py`). A set
   passes when every input passes; `timeout` when the run was killed at its deadline; `fail`
   otherwise. plus counts as passed only when base passed too. pass@k is the unbiased
   estimator, for k in 1, 10, 100 where every task has at least k samples.

Scoring resumes: each scored sample is appended to `<output>.progress.jsonl` and skipped on a
rerun; the results file is written atomically at the end, in EvalPlus's layout.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from selfcodealign.benchmarks import CACHE
from selfcodealign.errors import InputError
from selfcodealign.evaluation.data import Dataset, Problem
from selfcodealign.evaluation.oracle import SPECIAL_TASKS, OutputCheck, is_floats
from selfcodealign.execution import oracle as typed
from selfcodealign.execution.base import HARNESS_VERSION, Limits, Status
from selfcodealign.execution.sandbox import SandboxFront
from selfcodealign.progress import Progress

log = logging.getLogger("selfcodealign.evaluation")

PASS, FAIL, TIMEOUT = "pass", "fail", "timeout"
MIN_TIME_LIMIT, TIME_LIMIT_FACTOR = 1.0, 4.0
REFERENCE_INPUT_LIMIT_S = 60.0  # per input, for the canonical solutions
EXPECTED_VERSION = "3"  # 3: numeric sequences packed
VERDICT_MAX = 1 << 28  # some tasks return long strings for every one of many inputs


@dataclass(frozen=True)
class TimeLimits:
    min_s: float = MIN_TIME_LIMIT
    factor: float = TIME_LIMIT_FACTOR

    def per_input(self, reference: list[float]) -> list[float]:
        return [max(self.min_s, self.factor * t) for t in reference]

    @staticmethod
    def deadline(limits: list[float], inputs: int) -> float:
        # EvalPlus: min(60, sum) + 1, +1 more when it checks every input; plus moving the
        # inputs in and the outputs out, which EvalPlus does not time
        return min(60.0, sum(limits)) + 2.0 + 2e-4 * inputs


# -- expected outputs --------------------------------------------------------------------------


def _expected_path(dataset: Dataset, cache_dir: Path | None) -> Path:
    env = os.environ.get("SELFCODEALIGN_CACHE")
    folder = (cache_dir or (Path(env) if env else CACHE)) / "expected"
    return folder / f"{dataset.name}-{dataset.md5}-h{HARNESS_VERSION}-v{EXPECTED_VERSION}.json"


def expected_outputs(dataset: Dataset, box: SandboxFront, *, cache_dir: Path | None = None,
                     show_progress: bool = True, tasks: Iterable[str] | None = None
                     ) -> dict[str, dict[str, Any]]:
    """{task_id: {"base": [encoded output], "base_time": [s], "plus": ..., "plus_time": ...}}
    from the canonical solutions, computed in the sandbox once per task and cached per dataset.
    `tasks` limits the answer (and the work) to those tasks; by default, all of them."""
    wanted = list(dataset.problems) if tasks is None else \
        [t for t in dict.fromkeys(tasks) if t in dataset.problems]
    path = _expected_path(dataset, cache_dir)
    cached: dict[str, dict[str, Any]] = {}
    if path.is_file():
        try:
            cached = dict(orjson.loads(path.read_bytes()))
        except orjson.JSONDecodeError:
            log.warning("ignoring a damaged expected-output cache: %s", path)
    missing = [dataset.problems[t] for t in wanted if t not in cached]
    if not missing:
        return {task_id: cached[task_id] for task_id in wanted}
    log.info("computing expected outputs of %d %s tasks (once per dataset)", len(missing),
             dataset.name)
    jobs = [(p, kind) for p in missing for kind in ("base", "plus")]
    found: dict[str, dict[str, Any]] = defaultdict(dict)

    def run(job: tuple[Problem, str]) -> tuple[Problem, str, Any]:
        problem, kind = job
        inputs = problem.base_input if kind == "base" else problem.plus_input
        limits = [REFERENCE_INPUT_LIMIT_S] * len(inputs)
        result = box.call(problem.reference, problem.entry_point,
                          [typed.encode(list(a)) for a in inputs], limits,
                          timeout_s=min(1800.0, 60.0 + 5.0 * len(inputs)),
                          limits=_limits(box), verdict_max=VERDICT_MAX)
        return problem, kind, result

    with Progress(f"{dataset.name} expected outputs", len(jobs),
                  enabled=show_progress) as progress, \
            ThreadPoolExecutor(max(1, box.workers)) as pool:
        for problem, kind, result in pool.map(run, jobs):
            inputs = problem.base_input if kind == "base" else problem.plus_input
            returns = result.extra.get("returns") or []
            broken = [r for r in returns if isinstance(r, dict)]
            if result.status is not Status.PASSED or broken or len(returns) != len(inputs):
                why = result.detail or (broken[0] if broken else "missing outputs")
                raise InputError(f"the canonical solution of {problem.task_id} does not run on "
                                 f"its {kind} inputs ({result.status.value}: {why}); is "
                                 f"{dataset.path} an EvalPlus release file?")
            found[problem.task_id][kind] = returns
            found[problem.task_id][f"{kind}_time"] = result.extra.get("times", [])
            progress.advance()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    cached.update(found)
    tmp.write_bytes(orjson.dumps(cached))
    tmp.replace(path)
    return {task_id: cached[task_id] for task_id in wanted}


def _limits(box: SandboxFront) -> Limits:
    # EvalPlus allows 4 GiB per solution; outputs of long inputs need room in the verdict pipe
    return Limits(timeout_s=box.limits.timeout_s, memory_mb=max(box.limits.memory_mb, 4096),
                  output_limit=box.limits.output_limit, profile="default")


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


def _plain(data: Any) -> bool:
    """True when equal encodings mean equal values: no NaN, no opaque object inside."""
    if not isinstance(data, list) or not data:
        return False
    tag = data[0]
    if tag == "f":
        return "nan" not in str(data[1])
    if tag == "c":
        return "nan" not in str(data[1]) and "nan" not in str(data[2])
    if tag == "?":
        return False
    if tag == "V":  # a packed numeric sequence: plain unless it holds a NaN
        try:
            values = typed.decode(data)
        except ValueError:
            return False
        return not any(isinstance(v, float) and math.isnan(v) for v in values)
    if tag in ("l", "t", "S", "F"):
        return all(map(_plain, data[1]))
    if tag == "d":
        return all(_plain(k) and _plain(v) for k, v in data[1])
    return True


class Reference:
    """One task's input set, prepared once for all its samples: the encoded inputs, the
    expected outputs (encoded and decoded), and which of them may be matched by encoding."""

    def __init__(self, problem: Problem, kind: str, expected: dict[str, Any],
                 benchmark: str) -> None:
        self.problem, self.kind, self.benchmark = problem, kind, benchmark
        self.inputs = problem.base_input if kind == "base" else problem.plus_input
        self.encoded = [typed.encode(list(args)) for args in self.inputs]
        self.raw: list[Any] = expected[kind]
        self.times: list[float] = expected[f"{kind}_time"]
        check = OutputCheck(benchmark, problem.entry_point, problem.atol)
        self.values = [check.expected(typed.decode(item)) for item in self.raw]
        special = problem.entry_point in SPECIAL_TASKS
        self.fast = [not special and _plain(item) for item in self.raw]
        self.floats = [is_floats(value) for value in self.values]

    def status(self, result: Any) -> tuple[str, list[Any], str]:
        """(status, failing inputs, why) of one solution's run on this input set."""
        if result.status is Status.TIMEOUT:
            return TIMEOUT, [], "the whole run passed its deadline"
        if result.status is not Status.PASSED:
            return FAIL, [], f"{result.status.value}: {result.detail}"[:300]
        returns = result.extra.get("returns") or []
        check = OutputCheck(self.benchmark, self.problem.entry_point, self.problem.atol)
        for i, args in enumerate(self.inputs):
            if i >= len(returns):
                return FAIL, [args], "stopped before this input"
            item = returns[i]
            if self.fast[i] and item == self.raw[i]:  # same plain data: `==` holds
                if self.floats[i] and check.atol == 0:
                    check.atol = 1e-6  # what EvalPlus's check would have set here
                continue
            if isinstance(item, dict):
                why = (f"over its {item['timeout']:.2f} s limit" if "timeout" in item
                       else str(item.get("raised", "no output")))
                return FAIL, [args], why
            try:
                out = typed.decode(item)
            except (ValueError, TypeError, IndexError, RecursionError, OverflowError):
                return FAIL, [args], "undecodable output"
            if not check(list(args), out, self.values[i]):
                return FAIL, [args], f"returned {out!r:.120}, expected {self.values[i]!r:.120}"
        return PASS, [], ""


class References:
    """`Reference`s built on first use, shared by every sample of a task."""

    def __init__(self, dataset: Dataset, expected: dict[str, dict[str, Any]]) -> None:
        self.dataset, self.expected = dataset, expected
        self.built: dict[tuple[str, str], Reference] = {}
        self.lock = threading.Lock()

    def get(self, task_id: str, kind: str) -> Reference:
        with self.lock:
            ref = self.built.get((task_id, kind))
            if ref is None:
                ref = self.built[task_id, kind] = Reference(
                    self.dataset.problems[task_id], kind, self.expected[task_id],
                    self.dataset.name)
            return ref


def score_sample(sample: Sample, refs: References, box: SandboxFront,
                 limits: TimeLimits) -> dict[str, Any]:
    row: dict[str, Any] = {"task_id": sample.task_id, "solution": sample.solution,
                           "form": sample.form}
    whys = {}
    for kind in ("base", "plus"):
        ref = refs.get(sample.task_id, kind)
        per_input = limits.per_input(ref.times)
        result = box.call(sample.solution, ref.problem.entry_point, ref.encoded, per_input,
                          timeout_s=TimeLimits.deadline(per_input, len(ref.inputs)),
                          limits=_limits(box), verdict_max=VERDICT_MAX)
        status, failing, why = ref.status(result)
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


def score(dataset: Dataset, samples: Iterable[Sample], output: str | Path, *,
          box: SandboxFront, limits: TimeLimits | None = None, cache_dir: Path | None = None,
          show_progress: bool = True, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Score `samples`, write EvalPlus-layout results to `output`; returns the results."""
    limits = limits or TimeLimits()
    samples = list(samples)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    expected = expected_outputs(dataset, box, cache_dir=cache_dir, show_progress=show_progress,
                                tasks=[s.task_id for s in samples])
    progress_path = output.with_name(output.name + ".progress.jsonl")
    done = {row["key"]: row for row in _progress_rows(progress_path)}
    todo = [s for s in samples if s.key not in done]
    started = time.monotonic()
    with Progress(f"{dataset.name} scoring", len(samples), done=len(samples) - len(todo),
                  enabled=show_progress) as progress, progress_path.open("ab") as sink, \
            ThreadPoolExecutor(max(1, box.workers)) as pool:
        passed = 0
        refs = References(dataset, expected)
        for sample, row in zip(todo, pool.map(
                lambda s: score_sample(s, refs, box, limits), todo), strict=True):
            row["key"] = sample.key
            sink.write(json.dumps(row, default=_json_default).encode() + b"\n")
            sink.flush()
            done[sample.key] = row
            passed += row["base_status"] == PASS and row["plus_status"] == PASS
            progress.set_rate("plus pass", passed / (progress.new + 1))
            progress.advance()
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
