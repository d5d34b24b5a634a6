"""What a correct solution returns: the expected outputs of HumanEval+ / MBPP+ tasks.

Each task's canonical program (prompt + canonical solution) runs in the sandbox on its base and
plus inputs; the outputs (typed-encoded, a large one as its digest) and the seconds each call
took are cached as plain JSON, one file per dataset hash, harness and format version, under
`~/.cache/selfcodealign/evalplus/expected/` (or `$SELFCODEALIGN_CACHE/expected/`). A
`Reference` holds one task's input set with those outputs and judges a sample's run against
them: equal plain encodings pass at once, digests settle large outputs when they can (`RERUN`
when only the whole value can tell), and the rest go through EvalPlus's check
(`outputcheck.py`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
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

log = logging.getLogger("selfcodealign.evaluation")

PASS, FAIL, TIMEOUT = "pass", "fail", "timeout"
REFERENCE_INPUT_LIMIT_S = 60.0  # per input, for the canonical solutions
EXPECTED_VERSION = "5"  # 5: large outputs as digests, special tasks whole
VERDICT_MAX = 1 << 28  # some tasks return long strings for every one of many inputs
WHOLE = 1 << 62  # special tasks (not `==`): always whole, within the channel's limit


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


# -- judging outputs against the expected ones -------------------------------------------------


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
