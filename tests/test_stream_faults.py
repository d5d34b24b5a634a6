"""Streaming backends that misbehave or fail: whatever a streamer does (answers out of order, in
bursts, late, twice, not at all for one request, with an exception per request or for all of
them), it costs at most the items it hit: never the batch, never the input order, never a
duplicate record. The batch path (a backend without `streamer`) is the reference: a streamed
stage writes the same files, byte for byte."""

from __future__ import annotations

import contextlib
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from selfcodealign.backends import create_backend
from selfcodealign.backends.base import (
    Completion,
    PartialFailure,
    PromptTooLong,
    RequestRejected,
    Result,
    SamplingParams,
    can_stream,
)
from selfcodealign.backends.pool import EnginePool
from selfcodealign.config import load_config
from selfcodealign.errors import BackendError
from selfcodealign.generation.cache import CachedBackend
from selfcodealign.generation.stages import Responses
from selfcodealign.runner import run_stage
from selfcodealign.store import iter_records
from selfcodealign.store.jsonl import INVALID
from selfcodealign.store.stage import StageStats, StageWriter

ANSWER = ("```python\ndef f(x):\n    return x\n```\n</response>\n\n<tests>\n```python\n"
          "assert f(1) == 1\n```\n")
_NUMBER = re.compile(r"Write function number (\d+)\.")


def _rows(n: int) -> list[dict[str, Any]]:
    return [{"id": f"i{k:04d}", "instruction": f"Write function number {k}."} for k in range(n)]


def _with_invalid(n: int) -> list[dict[str, Any]]:
    """`n` rows, some of them unusable in different ways, interleaved with the good ones."""
    rows = _rows(n)
    rows[2] = {"id": "i0002"}  # no instruction
    rows[6]["instruction"] = 17  # the wrong type
    rows[9] = {"id": "i0009", INVALID: "invalid_json_line"}  # the reader could not parse it
    rows[10] = {"id": "i0010", "instruction": None}
    return rows


def _number(prompt: str) -> int:
    return int(_NUMBER.findall(prompt)[-1])


def _answer(k: int) -> list[Completion]:
    """Varied, deterministic answers: most parse, some are parse drops, some truncated."""
    if k % 7 == 6:
        return [Completion("no closing tag at all", "stop", 4, 4)]
    if k % 11 == 9:
        return [Completion(ANSWER, "length", 4, 50)]
    return [Completion(ANSWER.replace("f(", f"f{k}("), "stop", 4, 9 + k)]


def _fresh(error: BaseException) -> BaseException:
    return type(error)(*error.args)


class BatchOnly:
    """The reference: a backend without `streamer` (the batch path). An unexpected error of one
    prompt fails its whole batch (as an engine's check would), so the stage splits it."""

    name, model = "scripted", "scripted"

    def __init__(self, faults: dict[int, BaseException] | None = None) -> None:
        self.faults = faults or {}

    def result(self, prompt: str) -> Result:
        k = _number(prompt)
        fault = self.faults.get(k)
        return _fresh(fault) if fault is not None else _answer(k)

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        results = [self.result(p) for p in prompts]
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, BackendError):
                raise result
        if any(isinstance(r, BaseException) for r in results):
            raise PartialFailure(results)
        return results  # type: ignore[return-value]

    def close(self) -> None:
        pass


# A policy says which of the held requests (keys in submit order) finish on this call.
Policy = Callable[[list[int], random.Random, int], list[int]]


def fifo(held: list[int], rng: random.Random, call: int) -> list[int]:
    return held[:1]


def lifo(held: list[int], rng: random.Random, call: int) -> list[int]:
    return held[-1:]


def all_at_once(held: list[int], rng: random.Random, call: int) -> list[int]:
    return list(reversed(held))


def shuffled(held: list[int], rng: random.Random, call: int) -> list[int]:
    chosen = rng.sample(held, rng.randint(1, len(held)))
    rng.shuffle(chosen)
    return chosen


def bursts(held: list[int], rng: random.Random, call: int) -> list[int]:
    """Nothing (even when asked to wait) on two calls of three, then everything."""
    return list(reversed(held)) if call % 3 == 0 else []


def slow_head(held: list[int], rng: random.Random, call: int) -> list[int]:
    """The oldest request held is answered only once nothing else is held."""
    if len(held) == 1:
        return held
    head = min(held)
    return [next(k for k in held if k != head)]


class Streaming(BatchOnly):
    """A streaming backend whose requests finish as `policy` says; it records what it was
    asked (`asked`: item numbers), the most it held at once (`peak`), and each stream."""

    def __init__(self, capacity: int, policy: Policy = fifo,
                 faults: dict[int, BaseException] | None = None, *,
                 raise_on: dict[int, BaseException] | None = None, echo: bool = False,
                 strangers: bool = False, seed: int = 0,
                 on_submit: Callable[[], None] | None = None) -> None:
        super().__init__(faults)
        self.capacity, self.policy, self.seed = capacity, policy, seed
        self.raise_on = raise_on or {}  # finished() call number -> what it raises
        self.echo = echo  # each answer is sent again on the next call
        self.strangers = strangers  # answers for keys never submitted
        self.on_submit = on_submit  # called after each submit
        self.asked: list[int] = []  # item numbers submitted
        self.answered: list[int] = []  # item numbers whose answer `finished` returned
        self.peak = 0
        self.opened: list[Stream] = []  # (not `streams`: that name says whether it can)

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        raise AssertionError("a streaming stage does not call generate")

    def streamer(self, params: SamplingParams) -> Stream:
        stream = Stream(self)
        self.opened.append(stream)
        return stream


class Stream:
    def __init__(self, backend: Streaming) -> None:
        self.backend = backend
        self.capacity = backend.capacity
        self.held: dict[int, str] = {}
        self.rng = random.Random(backend.seed)
        self.calls = 0
        self.closed = 0
        self.previous: list[tuple[int, Result]] = []

    def submit(self, key: int, prompt: str, seed: int | None) -> None:
        assert not self.closed and key not in self.held
        self.backend.asked.append(_number(prompt))
        self.held[key] = prompt
        self.backend.peak = max(self.backend.peak, len(self.held))
        if self.backend.on_submit is not None:
            self.backend.on_submit()

    def finished(self, wait: bool) -> list[tuple[int, Result]]:
        self.calls += 1
        if self.calls in self.backend.raise_on:
            raise self.backend.raise_on[self.calls]  # the requests stay held: late answers
        if not self.held:
            return []
        keys = self.backend.policy(list(self.held), self.rng, self.calls)
        prompts = [self.held.pop(key) for key in keys]
        self.backend.answered += [_number(p) for p in prompts]
        out = [(key, self.backend.result(p)) for key, p in zip(keys, prompts, strict=True)]
        if self.backend.echo:
            out, self.previous = self.previous + out, out
        if self.backend.strangers:
            out.append((10_000 + self.calls, [Completion("a stranger")]))
        return out

    def close(self) -> None:
        self.closed += 1
        self.held.clear()


def _stage(backend: Any, batch_size: int = 4) -> Responses:
    return Responses(backend, SamplingParams(n=1), seed=1, shots=1, batch_size=batch_size)


def _run(backend: Any, rows: list[dict[str, Any]], out: Path, *, batch_size: int = 4,
         limit: int | None = None) -> StageStats:
    return run_stage(_stage(backend, batch_size), rows, StageWriter(out), limit=limit)


def _data(out: Path) -> dict[str, bytes]:
    """The stage's data files (records, rejects and their indexes), not its timestamps."""
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())
            if p.name.startswith(("shard-", "rejects-"))}


def _batch_data(tmp_path: Path, rows: list[dict[str, Any]],
                faults: dict[int, BaseException] | None = None, batch_size: int = 4
                ) -> dict[str, bytes]:
    out = tmp_path / "batch"
    stage = _stage(BatchOnly(faults), batch_size)
    assert not stage.streaming
    stats = run_stage(stage, rows, StageWriter(out))
    assert stats.complete
    return _data(out)


def _lines(out: Path) -> dict[str, list[bytes]]:
    """Each kind's records, sorted: the same data whatever order the sessions wrote it in."""
    got: dict[str, list[bytes]] = {}
    for name, data in _data(out).items():
        if name.endswith((".jsonl", ".jsonl.part")):
            got.setdefault(name.split("-")[0], []).extend(data.splitlines())
    return {kind: sorted(lines) for kind, lines in got.items()}


def _written(out: Path) -> list[str]:
    """The input ids written, kept and dropped, each once per record."""
    kept = [r["parent"] for r in iter_records(out)]
    dropped = [r.get("parent") or r["id"] for r in iter_records(out, "rejects")]
    return kept + dropped


def _in_order(out: Path) -> None:
    for kind in ("shard", "rejects"):
        sources = [r.get("parent") or r["id"] for r in iter_records(out, kind)]
        assert sources == sorted(sources), kind


FAULTS: dict[int, BaseException] = {
    3: RequestRejected("refused: item 3"),
    8: PromptTooLong("too long: item 8"),
    13: ValueError("bad input 13"),
    17: ValueError("This model's maximum context length is 10 tokens"),
}


# --- answer order: never the files' order -------------------------------------------------


@pytest.mark.parametrize("policy", [fifo, lifo, all_at_once, shuffled, bursts, slow_head],
                         ids=lambda p: p.__name__)
def test_any_answer_order_writes_the_batch_paths_files(tmp_path: Path, policy: Policy) -> None:
    rows = _with_invalid(26)
    backend = Streaming(capacity=5, policy=policy, faults=FAULTS, seed=7)
    stats = _run(backend, rows, tmp_path / "out")
    assert stats.complete and stats.inputs_done == 26
    assert dict(stats.dropped) == {
        "request_rejected": 2, "prompt_too_long": 2, "missing_instruction": 2,
        "bad_instruction": 1, "invalid_json_line": 1, "no_response_end": 1}
    assert backend.peak <= 5
    assert sorted(backend.asked) == [k for k in range(26) if k not in (2, 6, 9, 10)]
    assert _data(tmp_path / "out") == _batch_data(tmp_path, rows, FAULTS)
    _in_order(tmp_path / "out")
    assert [s.closed for s in backend.opened] == [1]


def test_answers_sent_twice_or_for_unknown_keys_are_ignored(tmp_path: Path) -> None:
    rows = _rows(20)
    backend = Streaming(capacity=3, policy=shuffled, echo=True, strangers=True, seed=3)
    stats = _run(backend, rows, tmp_path / "out")
    assert stats.complete and stats.duplicates_skipped == 0
    assert Counter(_written(tmp_path / "out")) == Counter(r["id"] for r in rows)
    assert _data(tmp_path / "out") == _batch_data(tmp_path, rows)


def test_duplicate_input_ids_write_each_record_once(tmp_path: Path) -> None:
    rows = _rows(10)
    rows.insert(5, dict(rows[1]))
    rows.insert(9, dict(rows[8]))
    stats = _run(Streaming(capacity=4, policy=lifo), rows, tmp_path / "out")
    assert stats.complete and stats.inputs_done == 10
    assert sorted(_written(tmp_path / "out")) == sorted(r["id"] for r in _rows(10))
    assert _data(tmp_path / "out") == _batch_data(tmp_path, rows)


# --- capacity and input size ------------------------------------------------------------


@pytest.mark.parametrize(("capacity", "batch_size", "n", "peak"), [
    (1, 4, 10, 1),  # one at a time
    (0, 4, 10, 1),  # a streamer that claims no capacity still gets one request
    (50, 4, 12, 12),  # more capacity than inputs: all of them at once
    (200, 2, 30, 30),  # capacity far beyond the window size
    (3, 8, 3, 3),  # fewer inputs than one window
], ids=["capacity1", "capacity0", "capacity_over_input", "capacity_over_batch", "short_input"])
def test_capacity_and_input_size_do_not_change_the_files(
        tmp_path: Path, capacity: int, batch_size: int, n: int, peak: int) -> None:
    rows = _rows(n)
    backend = Streaming(capacity=capacity, policy=shuffled, faults={1: FAULTS[3]}, seed=n)
    stats = _run(backend, rows, tmp_path / "out", batch_size=batch_size)
    assert stats.complete and stats.inputs_done == n
    assert backend.peak == peak and sorted(backend.asked) == list(range(n))
    assert _data(tmp_path / "out") == _batch_data(tmp_path, rows, {1: FAULTS[3]}, batch_size)


def test_empty_input_completes_without_a_request(tmp_path: Path) -> None:
    backend = Streaming(capacity=3)
    stats = _run(backend, [], tmp_path / "out")
    assert stats.complete and stats.inputs_done == 0 and not backend.asked
    assert _data(tmp_path / "out") == {}


def test_only_invalid_inputs_send_nothing_and_are_dropped_in_order(tmp_path: Path) -> None:
    rows: list[dict[str, Any]] = [
        {"id": "a1"}, {"id": "a2", "instruction": 3}, {"id": "a3", INVALID: "bad_json"},
        {"id": "a4", "instruction": ["x"]}, {"id": "a5"}]
    backend = Streaming(capacity=2)
    stats = _run(backend, rows, tmp_path / "out", batch_size=2)
    assert stats.complete and stats.inputs_done == 5 and not backend.asked
    rejects = list(iter_records(tmp_path / "out", "rejects"))
    assert [(r["id"], r["reason"]) for r in rejects] == [
        ("a1", "missing_instruction"), ("a2", "bad_instruction"), ("a3", "bad_json"),
        ("a4", "bad_instruction"), ("a5", "missing_instruction")]


def test_invalid_inputs_between_slow_answers_keep_their_place(tmp_path: Path) -> None:
    rows = _with_invalid(16)
    stats = _run(Streaming(capacity=4, policy=slow_head), rows, tmp_path / "out")
    assert stats.complete
    rejects = list(iter_records(tmp_path / "out", "rejects"))
    assert [r.get("parent") or r["id"] for r in rejects] == [
        "i0002", "i0006", "i0009", "i0010", "i0013"]  # 13: its answer does not parse
    assert [r["reason"] for r in rejects] == [
        "missing_instruction", "bad_instruction", "invalid_json_line", "missing_instruction",
        "no_response_end"]
    assert [r["parent"] for r in iter_records(tmp_path / "out")] == [
        f"i{k:04d}" for k in range(16) if k not in (2, 6, 9, 10, 13)]


# --- one request's failure is that item's --------------------------------------------------


def _rejected(out: Path) -> dict[str, tuple[str, str]]:
    return {r["parent"]: (r["reason"], r.get("detail", ""))
            for r in iter_records(out, "rejects")}


def test_a_rejected_request_is_its_items_drop_with_the_message(tmp_path: Path) -> None:
    stats = _run(Streaming(capacity=3, faults={4: RequestRejected("refused: item 4")}),
                 _rows(12), tmp_path / "out")
    assert stats.complete and stats.dropped["request_rejected"] == 1
    assert _rejected(tmp_path / "out")["i0004"] == ("request_rejected", "refused: item 4")
    assert [r["parent"] for r in iter_records(tmp_path / "out")] == [
        f"i{k:04d}" for k in range(12) if k not in (4, 6, 9)]  # 6 and 9: parse drops


def test_a_prompt_too_long_is_its_items_drop(tmp_path: Path) -> None:
    stats = _run(Streaming(capacity=3, faults={5: PromptTooLong("5000 tokens > 4096")}),
                 _rows(8), tmp_path / "out")
    assert stats.complete and dict(stats.dropped) == {"prompt_too_long": 1,
                                                       "no_response_end": 1}
    assert _rejected(tmp_path / "out")["i0005"] == ("prompt_too_long", "5000 tokens > 4096")


def test_an_unexpected_error_of_one_item_is_its_request_rejected_drop(tmp_path: Path) -> None:
    stats = _run(Streaming(capacity=3, policy=lifo, faults={2: ValueError("bad input 2")}),
                 _rows(8), tmp_path / "out")
    assert stats.complete and stats.dropped["request_rejected"] == 1
    assert _rejected(tmp_path / "out")["i0002"] == ("request_rejected",
                                                    "ValueError: bad input 2")


def test_a_context_length_error_is_prompt_too_long(tmp_path: Path) -> None:
    error = ValueError("This model's maximum context length is 2048 tokens")
    stats = _run(Streaming(capacity=3, faults={1: error}), _rows(8), tmp_path / "out")
    assert stats.complete and stats.dropped["prompt_too_long"] == 1
    reason, detail = _rejected(tmp_path / "out")["i0001"]
    assert reason == "prompt_too_long" and "maximum context length" in detail


def test_a_transient_error_defers_its_item_and_a_rerun_asks_only_it(tmp_path: Path) -> None:
    rows = _rows(12)
    out = tmp_path / "out"
    stats = _run(Streaming(capacity=3, policy=shuffled, faults={7: BackendError("503")}),
                 rows, out)
    assert not stats.complete and stats.inputs_done == 11 and stats.metrics["deferred"] == 1
    assert "i0007" not in _written(out)
    again = Streaming(capacity=3)
    stats = _run(again, rows, out)
    assert stats.complete and again.asked == [7]
    clean = tmp_path / "clean"
    _run(Streaming(capacity=3), rows, clean)
    assert _lines(out) == _lines(clean)


def test_every_item_of_a_window_failing_unexpectedly_is_raised(tmp_path: Path) -> None:
    faults: dict[int, BaseException] = {k: TypeError("engine bug") for k in range(4, 8)}
    writer = StageWriter(tmp_path / "out")
    with pytest.raises(TypeError, match="engine bug"):
        run_stage(_stage(Streaming(capacity=2, faults=faults)), _rows(12), writer)
    assert not writer.stats.complete
    assert {f"i{k:04d}" for k in range(4)} <= set(_written(tmp_path / "out"))


def test_a_systemic_failure_leaves_no_drop_a_rerun_would_not_retry(tmp_path: Path) -> None:
    faults: dict[int, BaseException] = {k: TypeError("engine bug") for k in range(4, 8)}
    rows = _rows(12)
    writer = StageWriter(tmp_path / "out")
    with pytest.raises(TypeError, match="engine bug"):
        run_stage(_stage(Streaming(capacity=2, faults=faults)), rows, writer)
    assert "request_rejected" not in writer.stats.dropped
    stats = _run(Streaming(capacity=2), rows, tmp_path / "out")  # the engine fixed
    assert stats.complete and "request_rejected" not in stats.dropped


def test_the_batch_path_writes_nothing_of_a_systemic_failure(tmp_path: Path) -> None:
    faults: dict[int, BaseException] = {k: TypeError("engine bug") for k in range(4, 8)}
    writer = StageWriter(tmp_path / "out")
    with pytest.raises(TypeError, match="engine bug"):
        run_stage(_stage(BatchOnly(faults)), _rows(12), writer)
    assert writer.stats.inputs_done == 4 and "request_rejected" not in writer.stats.dropped


def test_a_one_item_window_failing_unexpectedly_is_a_drop(tmp_path: Path) -> None:
    stats = _run(Streaming(capacity=2, faults={3: TypeError("odd")}), _rows(6),
                 tmp_path / "out", batch_size=1)
    assert stats.complete and stats.dropped["request_rejected"] == 1


def test_a_window_with_a_too_long_item_is_not_a_systemic_failure(tmp_path: Path) -> None:
    faults: dict[int, BaseException] = {k: ValueError(f"bad {k}") for k in range(4, 8)}
    faults[6] = ValueError("prompt is longer than the maximum context length")
    stats = _run(Streaming(capacity=3, policy=lifo, faults=faults), _rows(12),
                 tmp_path / "out")
    assert stats.complete
    assert stats.dropped["request_rejected"] == 3 and stats.dropped["prompt_too_long"] == 1


# --- the streamer itself fails -------------------------------------------------------------


def test_a_late_answer_after_a_backend_error_is_ignored(tmp_path: Path) -> None:
    rows = _rows(16)
    out = tmp_path / "out"
    backend = Streaming(capacity=3, raise_on={4: BackendError("connection reset")})
    stats = _run(backend, rows, out)
    # three answered, three given up (their answers come later and are ignored), ten answered
    assert not stats.complete and stats.metrics["deferred"] == 3
    assert Counter(backend.asked) == Counter(range(16))
    written = _written(out)
    assert len(written) == len(set(written)) == 13
    given_up = {r["id"] for r in rows} - set(written)
    assert given_up == {"i0003", "i0004", "i0005"}
    _in_order(out)
    again = Streaming(capacity=3)
    assert _run(again, rows, out).complete and sorted(again.asked) == [3, 4, 5]
    clean = tmp_path / "clean"
    _run(Streaming(capacity=3), rows, clean)
    assert _lines(out) == _lines(clean)


def test_a_backend_error_on_every_call_defers_everything_and_ends(tmp_path: Path) -> None:
    backend = Streaming(capacity=2, raise_on={c: BackendError("down") for c in range(1, 99)})
    stats = _run(backend, _rows(9), tmp_path / "out")
    assert not stats.complete and stats.metrics["deferred"] == 9 and stats.inputs_done == 0
    assert _data(tmp_path / "out") == {}


def test_keyboard_interrupt_propagates_and_a_rerun_asks_nothing_written(
        tmp_path: Path) -> None:
    rows = _with_invalid(20)
    out = tmp_path / "out"
    backend = Streaming(capacity=3, raise_on={6: KeyboardInterrupt()})
    writer = StageWriter(out)
    with pytest.raises(KeyboardInterrupt):
        run_stage(_stage(backend), rows, writer)
    assert not writer.stats.complete and [s.closed for s in backend.opened] == [1]
    written = set(_written(out))
    assert written and len(written) < 20
    _in_order(out)
    again = Streaming(capacity=3)
    assert _run(again, rows, out).complete
    assert not {f"i{k:04d}" for k in again.asked} & written
    assert set(_written(out)) == {r["id"] for r in rows}
    assert _data(out) == _batch_data(tmp_path, rows)


def test_an_unexpected_error_of_the_streamer_stops_the_stage_and_a_rerun_completes(
        tmp_path: Path) -> None:
    rows = _rows(14)
    out = tmp_path / "out"
    backend = Streaming(capacity=2, raise_on={7: RuntimeError("engine crashed")})
    writer = StageWriter(out)
    with pytest.raises(RuntimeError, match="engine crashed"):
        run_stage(_stage(backend), rows, writer)
    assert not writer.stats.complete and backend.opened[0].closed == 1
    assert _run(Streaming(capacity=2), rows, out).complete
    assert _data(out) == _batch_data(tmp_path, rows)


def test_a_submit_that_fails_loses_nothing_and_writes_nothing_twice(tmp_path: Path) -> None:
    rows = _rows(12)
    out = tmp_path / "out"
    submits = Counter[str]()

    def on_submit() -> None:
        submits["n"] += 1
        if submits["n"] == 7:
            raise BackendError("the connection pool is closed")

    backend = Streaming(capacity=2, policy=lifo, on_submit=on_submit)
    writer = StageWriter(out)
    with contextlib.suppress(BackendError):  # raised, or its item deferred: nothing lost
        run_stage(_stage(backend), rows, writer)
    assert not writer.stats.complete and backend.opened[0].closed == 1
    _in_order(out)
    assert _run(Streaming(capacity=2), rows, out).complete
    assert Counter(_written(out)) == Counter(r["id"] for r in rows)
    assert _data(out) == _batch_data(tmp_path, rows)


# --- limit and resume ----------------------------------------------------------------------


def test_a_limit_stops_there_and_a_rerun_completes_the_same_files(tmp_path: Path) -> None:
    rows = _with_invalid(18)
    out = tmp_path / "out"
    backend = Streaming(capacity=8, policy=shuffled)
    stats = _run(backend, rows, out, limit=5)
    assert not stats.complete and stats.inputs_done == 5
    assert sorted(backend.asked) == [0, 1, 3, 4]  # 2 is invalid: counted, not asked
    again = Streaming(capacity=8, policy=shuffled)
    stats = _run(again, rows, out)
    assert stats.complete and stats.inputs_done == 18
    assert not set(again.asked) & set(backend.asked)
    assert _data(out) == _batch_data(tmp_path, rows)


# --- memory: the reorder buffer is bounded ---------------------------------------------------


@pytest.mark.parametrize(("capacity", "batch_size"), [
    (3, 4), (2, 4), (4, 2), (2, 5), (6, 3), (2, 7), (3, 16),
])
def test_a_slow_head_request_keeps_the_reorder_buffer_bounded(
        tmp_path: Path, capacity: int, batch_size: int) -> None:
    yielded, widest = Counter[str](), Counter[str]()

    def on_submit() -> None:  # submitted and not yet handed on to the writer
        widest["n"] = max(widest["n"], len(backend.asked) - yielded["n"])

    backend = Streaming(capacity=capacity, policy=slow_head, on_submit=on_submit)
    stage = _stage(backend, batch_size)
    settle = stage._settle

    def counting(*args: Any) -> Any:
        yielded["n"] += 1
        return settle(*args)

    stage._settle = counting  # type: ignore[method-assign, assignment]
    stats = run_stage(stage, _rows(90), StageWriter(tmp_path / "out"))
    assert stats.complete and yielded["n"] == 90 and backend.peak <= capacity
    assert widest["n"] > 2 * capacity  # the slow head did hold answers back
    assert widest["n"] <= 4 * capacity + batch_size  # the documented bound
    _in_order(tmp_path / "out")


# --- the LLM cache in front of a stream -------------------------------------------------------


def test_a_cached_second_run_sends_nothing_and_writes_the_same_files(tmp_path: Path) -> None:
    rows = _with_invalid(15)
    first = Streaming(capacity=3, policy=shuffled, faults={4: FAULTS[3]})
    cached = CachedBackend(first, tmp_path / "cache.sqlite")
    assert can_stream(cached)
    stats = _run(cached, rows, tmp_path / "one")
    assert stats.complete and stats.metrics["model_requests"] == 11
    cached.close_cache()
    second = Streaming(capacity=3, policy=lifo, faults={4: FAULTS[3]})
    cached = CachedBackend(second, tmp_path / "cache.sqlite")
    stats = _run(cached, rows, tmp_path / "two")
    cached.close_cache()
    assert second.asked == [4]  # a rejection is not an answer: only it is asked again
    assert stats.metrics["model_requests"] == 1
    assert _data(tmp_path / "two") == _data(tmp_path / "one")


def test_answers_before_an_interrupt_are_cached_even_when_not_yet_written(
        tmp_path: Path) -> None:
    rows = _rows(16)
    out = tmp_path / "out"
    first = Streaming(capacity=3, policy=slow_head, raise_on={9: KeyboardInterrupt()})
    cached = CachedBackend(first, tmp_path / "cache.sqlite")
    writer = StageWriter(out)
    with pytest.raises(KeyboardInterrupt):
        run_stage(_stage(cached), rows, writer)
    cached.close_cache()
    answered = set(first.answered)
    assert len(answered) == 8 and 0 not in answered
    assert not _written(out)  # every answer waited behind the slow head
    second = Streaming(capacity=3)
    cached = CachedBackend(second, tmp_path / "cache.sqlite")
    assert _run(cached, rows, out).complete
    cached.close_cache()
    assert not set(second.asked) & answered and 0 in second.asked
    assert _data(out) == _batch_data(tmp_path, rows)


def test_a_late_answer_after_a_backend_error_is_still_cached(tmp_path: Path) -> None:
    rows = _rows(12)
    out = tmp_path / "out"
    first = Streaming(capacity=3, raise_on={4: BackendError("connection reset")})
    cached = CachedBackend(first, tmp_path / "cache.sqlite")
    stats = _run(cached, rows, out)
    cached.close_cache()
    assert not stats.complete and stats.metrics["deferred"] == 3
    second = Streaming(capacity=3)
    cached = CachedBackend(second, tmp_path / "cache.sqlite")
    stats = _run(cached, rows, out)
    cached.close_cache()
    assert stats.complete and not second.asked  # the late answers were kept
    assert Counter(_written(out)) == Counter(r["id"] for r in rows)


def test_a_transient_failure_is_not_cached(tmp_path: Path) -> None:
    rows = _rows(8)
    cached = CachedBackend(Streaming(capacity=2, faults={5: BackendError("503")}),
                           tmp_path / "cache.sqlite")
    assert not _run(cached, rows, tmp_path / "out").complete
    cached.close_cache()
    again = Streaming(capacity=2)
    cached = CachedBackend(again, tmp_path / "cache.sqlite")
    assert _run(cached, rows, tmp_path / "out").complete
    cached.close_cache()
    assert again.asked == [5]


def test_a_cache_over_a_batch_backend_takes_the_batch_path(tmp_path: Path) -> None:
    cached = CachedBackend(BatchOnly(), tmp_path / "cache.sqlite")
    assert not can_stream(cached) and not _stage(cached).streaming
    rows = _with_invalid(12)
    assert run_stage(_stage(cached), rows, StageWriter(tmp_path / "out")).complete
    cached.close_cache()
    assert _data(tmp_path / "out") == _batch_data(tmp_path, rows)


# --- the engine pool ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnginePool]:
    script = tmp_path_factory.mktemp("pool") / "script.yaml"
    script.write_text('delay_s: 0.02\nrules:\n  - match: "^(?P<p>.*)$"\n    text: "echo {g:p}"\n')
    config = load_config(None, ["backend.name=fake", "backend.data_parallel_size=2",
                                "backend.in_flight=2", f"backend.script={script}"]).backend
    backend = create_backend(config)
    assert isinstance(backend, EnginePool)
    try:
        yield backend
    finally:
        backend.close()


def test_a_pool_generates_nothing_for_no_prompts(pool: EnginePool) -> None:
    assert pool.generate([], SamplingParams(n=1), []) == []
    assert pool.generate([], SamplingParams(n=1)) == []
    assert not pool.requests and not pool.backlog


def test_a_closed_pool_stream_leaves_the_next_only_its_own_answers(pool: EnginePool) -> None:
    params = SamplingParams(n=1)
    old = pool.streamer(params)
    assert old.capacity == 4
    for key in range(7):  # more than the engines hold: some wait in the backlog
        old.submit(key, f"old {key}", key)
    first = old.finished(wait=True)
    assert first and all(a[0].text == f"echo old {k}" for k, a in first)  # type: ignore[index]
    old.close()  # abandoned with requests in flight and in the backlog
    assert not pool.backlog
    new = pool.streamer(params)
    for key in range(7):  # the same keys as the abandoned stream's
        new.submit(key, f"new {key}", 100 + key)
    got: dict[int, Any] = {}
    while len(got) < 7:
        for key, answer in new.finished(wait=True):
            assert key not in got
            got[key] = answer
    assert {k: a[0].text for k, a in got.items()} == {k: f"echo new {k}" for k in range(7)}
    assert new.finished(wait=True) == [] and old.finished(wait=False) == []
    assert pool.generate(["again"], params, [1])[0][0].text == "echo again"
    assert not pool.requests and not pool.answers
