"""Score EvalPlus-format samples on HumanEval+ / MBPP+ with EvalPlus's semantics.

1. Expected outputs: the canonical program (prompt + canonical solution) runs in the sandbox on
   every base and plus input; its outputs and the seconds each call took are cached per dataset
   hash under `~/.cache/selfcodealign/evalplus/expected/` (or `$SELFCODEALIGN_CACHE/expected/`;
   plain JSON).
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
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from selfcodealign.benchmarks import CACHE
from selfcodealign.errors import InputError
from selfcodealign.evaluation.data import Dataset, Problem
from selfcodealign.evaluation.outputcheck import SPECIAL_TASKS, OutputCheck
from selfcodealign.execution import oracle as typed
from selfcodealign.execution.base import HARNESS_VERSION, Limits, Status
from selfcodealign.execution.sandbox import SandboxFront
from selfcodealign.progress import Progress

log = logging.getLogger("selfcodealign.evaluation")

PASS, FAIL, TIMEOUT = "pass", "fail", "timeout"
MIN_TIME_LIMIT, TIME_LIMIT_FACTOR = 1.0, 4.0
REFERENCE_INPUT_LIMIT_S = 60.0  # per input, for the canonical solutions
EXPECTED_VERSION = "5"  # 5: large outputs as digests, special tasks whole
VERDICT_MAX = 1 << 28  # some tasks return long strings for every one of many inputs
SAMPLE_BUDGET = 1 << 12  # parts (~64 KiB): a sample's larger output comes back as its digest
RERUN_BUDGET = 1 << 22  # parts (~64 MiB): outputs a digest could not settle, whole
WHOLE = 1 << 62  # special tasks (not `==`): always whole, within the channel's limit


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


# -- inputs ------------------------------------------------------------------------------------


def encode_inputs(inputs: list[Any]) -> list[Any]:
    """Each argument list as the sandbox reads it: `["J", json]` when JSON carries it exactly
    (decoded in C in the sandbox, a fresh copy per call), `oracle.encode`d otherwise (tuples,
    sets, complex numbers, NaN)."""
    out: list[Any] = []
    for args in inputs:
        args = list(args)
        try:
            text = json.dumps(args)
            same = json.loads(text) == args
        except (TypeError, ValueError, RecursionError):
            same = False
        out.append(["J", text] if same else typed.encode(args))
    return out


# -- expected outputs --------------------------------------------------------------------------


def _expected_path(dataset: Dataset, cache_dir: Path | None) -> Path:
    env = os.environ.get("SELFCODEALIGN_CACHE")
    folder = (cache_dir or (Path(env) if env else CACHE)) / "expected"
    return folder / f"{dataset.name}-{dataset.md5}-h{HARNESS_VERSION}-v{EXPECTED_VERSION}.json"


class ExpectedCache:
    """The canonical solutions' outputs and seconds per input, per dataset, on disk as
    `{task_id: {"base": [encoded output], "base_time": [s], "plus": ..., "plus_time": ...}}`
    (an output over `oracle.OUTPUT_BUDGET` parts is kept as its digest, floats always whole)."""

    def __init__(self, dataset: Dataset, cache_dir: Path | None) -> None:
        self.dataset, self.path = dataset, _expected_path(dataset, cache_dir)
        self.tasks: dict[str, dict[str, Any]] = {}
        if self.path.is_file():
            try:
                self.tasks = dict(orjson.loads(self.path.read_bytes()))
            except orjson.JSONDecodeError:
                log.warning("ignoring a damaged expected-output cache: %s", self.path)

    def compute(self, problem: Problem, box: SandboxFront) -> dict[str, Any]:
        """Run the canonical solution on the task's base and plus inputs (in the sandbox)."""
        found: dict[str, Any] = {}
        for kind in ("base", "plus"):
            inputs = problem.base_input if kind == "base" else problem.plus_input
            limits = [REFERENCE_INPUT_LIMIT_S] * len(inputs)
            result = box.call(problem.reference, problem.entry_point, encode_inputs(inputs),
                              limits, timeout_s=min(1800.0, 60.0 + 5.0 * len(inputs)),
                              limits=_limits(box), verdict_max=VERDICT_MAX,
                              output_budget=WHOLE if problem.entry_point in SPECIAL_TASKS
                              else None)
            returns = result.extra.get("returns") or []
            broken = [r for r in returns if isinstance(r, dict)]
            if result.status is not Status.PASSED or broken or len(returns) != len(inputs):
                why = result.detail or (broken[0] if broken else "missing outputs")
                raise InputError(f"the canonical solution of {problem.task_id} does not run on "
                                 f"its {kind} inputs ({result.status.value}: {why}); is "
                                 f"{self.dataset.path} an EvalPlus release file?")
            found[kind] = returns
            found[f"{kind}_time"] = result.extra.get("times", [])
        return found

    def save(self, found: dict[str, dict[str, Any]]) -> None:
        self.tasks.update(found)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(orjson.dumps(self.tasks))
        tmp.replace(self.path)


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
    if tag in ("?", "H"):
        return False
    if tag == "V":  # a packed numeric sequence: plain unless it holds a NaN
        try:
            values = typed.decode(data)
        except ValueError:
            return False
        return not any(map(math.isnan, values))
    if tag in ("l", "t", "S", "F"):
        return all(map(_plain, data[1]))
    if tag == "d":
        return all(_plain(k) and _plain(v) for k, v in data[1])
    return True


def _floats(data: Any) -> bool:
    """`oracle.is_floats` of the value an encoding stands for, read from the encoding."""
    if not isinstance(data, list) or not data:
        return False
    tag = data[0]
    if tag == "f":
        return True
    if tag == "V":
        return len(data) > 2 and data[2] == "d"
    if tag in ("l", "t") and len(data) > 1 and isinstance(data[1], list) and data[1]:
        return all(isinstance(item, list) and item[:1] == ["f"] for item in data[1])
    return False


RERUN = "rerun"  # a digest cannot settle this input: run again with whole outputs


class Reference:
    """One task's input set, prepared once for all its samples: the inputs as the sandbox
    reads them, the expected outputs (encoded; decoded, digested and classified on first
    use)."""

    def __init__(self, problem: Problem, kind: str, expected: dict[str, Any],
                 benchmark: str) -> None:
        self.problem, self.kind, self.benchmark = problem, kind, benchmark
        self.inputs = problem.base_input if kind == "base" else problem.plus_input
        self.encoded = encode_inputs(self.inputs)
        self.raw: list[Any] = expected[kind]
        self.times: list[float] = expected[f"{kind}_time"]
        # tasks whose check is not `==`: their outputs always come back whole
        self.special = problem.entry_point in SPECIAL_TASKS
        self._plain: dict[int, bool] = {}
        self._values: dict[int, Any] = {}
        self._digests: dict[int, tuple[str, bool, bool]] = {}

    def plain(self, i: int) -> bool:
        if i not in self._plain:
            self._plain[i] = not self.special and _plain(self.raw[i])
        return self._plain[i]

    def value(self, i: int) -> Any:
        if i not in self._values:
            check = OutputCheck(self.benchmark, self.problem.entry_point, self.problem.atol)
            self._values[i] = check.expected(typed.decode(self.raw[i]))
        return self._values[i]

    def digest(self, i: int) -> tuple[str, bool, bool]:
        if i not in self._digests:
            raw = self.raw[i]
            self._digests[i] = (str(raw[1]), raw[2] is True, raw[3] is True) \
                if raw[0] == "H" else typed.ndigest(self.value(i))
        return self._digests[i]

    def _by_digest(self, i: int, item: list[Any], check: OutputCheck, final: bool
                   ) -> bool | None:
        """Whether a sample's output known by its digest passes input `i`; None when only the
        whole value can tell (unless `final`): a tolerance may apply, or a digest was not
        normalised (an equal value written otherwise may hash otherwise)."""
        if len(item) != 4 or not isinstance(item[1], str):
            return False
        exp_sha, exp_exact, exp_normalised = self.digest(i)
        if item[2] is True and exp_exact and item[1] == exp_sha:
            if _floats(self.raw[i]) and check.atol == 0:
                check.atol = 1e-6  # what EvalPlus's check would have set here
            return True
        if final or self.special or self.raw[i][0] == "H":
            return False  # a digest is all there is of the expected value: no equal digest
        settled = item[3] is True and exp_normalised and exp_exact and check.atol == 0 \
            and not _floats(self.raw[i])
        return False if settled else None

    def status(self, result: Any, *, final: bool = False) -> tuple[str, list[Any], str]:
        """(status, failing inputs, why) of one solution's run on this input set."""
        if result.status is Status.TIMEOUT:
            return TIMEOUT, [], "the whole run passed its deadline"
        if result.status is not Status.PASSED:
            return FAIL, [], f"{result.status.value}: {result.detail}"[:300]
        return self.judge(result.extra.get("returns") or [], final=final)

    def judge(self, returns: list[Any], *, final: bool = False
              ) -> tuple[str, list[Any], str]:
        """(status, failing inputs, why) from a run's outputs; (RERUN, [index], "") when the
        output at `index` came back as a digest and its whole value is needed (unless
        `final`)."""
        check = OutputCheck(self.benchmark, self.problem.entry_point, self.problem.atol)
        for i, args in enumerate(self.inputs):
            if i >= len(returns):
                return FAIL, [args], "stopped before this input"
            item = returns[i]
            if isinstance(item, list) and item[:1] == ["H"]:
                verdict = self._by_digest(i, item, check, final)
                if verdict is None:
                    return RERUN, [i], ""
                if verdict:
                    continue
                return FAIL, [args], "returned a large value other than the expected one"
            if item == self.raw[i] and self.plain(i):  # same plain data: `==` holds
                if check.atol == 0 and _floats(item):
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
            expected = self.value(i)
            if not check(list(args), out, expected):
                return FAIL, [args], f"returned {out!r:.120}, expected {expected!r:.120}"
        return PASS, [], ""


class References:
    """`Reference`s built on first use, shared by every sample of a task."""

    def __init__(self, dataset: Dataset, expected: dict[str, dict[str, Any]]) -> None:
        self.dataset, self.expected = dataset, expected
        self.built: dict[tuple[str, str], Reference] = {}
        self.lock = threading.Lock()

    def get(self, task_id: str, kind: str) -> Reference:
        ref = self.built.get((task_id, kind))
        if ref is None:  # built outside the lock: two threads may both build it, once each
            made = Reference(self.dataset.problems[task_id], kind, self.expected[task_id],
                             self.dataset.name)
            with self.lock:
                ref = self.built.setdefault((task_id, kind), made)
        return ref




def score_sample(sample: Sample, refs: References, box: SandboxFront,
                 limits: TimeLimits) -> dict[str, Any]:
    row: dict[str, Any] = {"task_id": sample.task_id, "solution": sample.solution,
                           "form": sample.form}
    whys = {}
    for kind in ("base", "plus"):
        ref = refs.get(sample.task_id, kind)
        per_input = limits.per_input(ref.times)
        deadline = TimeLimits.deadline(per_input, len(ref.inputs))
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
                             timeout_s=TimeLimits.deadline(per_input[:upto], upto),
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
