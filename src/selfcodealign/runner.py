"""The one way a stage runs: read inputs, skip finished ones, process in batches, write, report.

A stage is a small class with one hook:

- `Filter.check(record)` returns None to keep the record or a snake_case drop reason;
- `Mapper.map(record)` returns the records made from one input, or raises `Drop(reason)`;
- `Stage.process(batch)` (the general form, for batched LLM calls) returns one `Outcome` per input;
  an outcome may be `deferred` (a transient failure: nothing is written, a rerun retries it);
- `Stage.process_stream(records)` (a stage with `streaming` set: an LLM stage whose backend keeps
  requests in flight) yields one `Outcome` per input, in input order, pulling inputs as it goes.

`run_stage` feeds a stage from any iterable of records into a `StageWriter`: inputs already
finished by an earlier session are skipped, an input without the fields the stage `needs` (of its
`inputs` record type) is dropped as `missing_<field>` / `bad_<field>` before the stage sees it, an
output that does not fit the stage's `outputs` type is dropped as `malformed_output`, outcomes are
written in input order, every input ends as kept records or counted drops, progress shows items/s,
ETA and the keep rate, and the stage is marked complete only when its input was exhausted without a
limit, an error or a deferred input. An input the reader could not parse (marked `INVALID` by
`read_jsonl`) is dropped with its reason before the stage sees it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from selfcodealign.errors import InputError
from selfcodealign.progress import Progress
from selfcodealign.records import problem
from selfcodealign.store.jsonl import INVALID
from selfcodealign.store.stage import StageStats, StageWriter

Rec = dict[str, Any]


class Drop(Exception):
    """Raised by `Mapper.map` to drop its input with a reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Outcome:
    """Everything one input produced: kept records and (record, reason) drops."""

    src: str
    kept: list[Rec] = field(default_factory=list)
    dropped: list[tuple[Rec, str]] = field(default_factory=list)
    deferred: bool = False  # transient failure: write nothing, retry on the next run


class Stage(ABC):
    """Turns a batch of input records into one Outcome per input."""

    name: ClassVar[str] = "stage"
    batch_size: int = 64
    rate_label: ClassVar[str] = "kept"  # how progress names the main rate (e.g. "pass")
    inputs: ClassVar[type | None] = None  # the record type it reads (records.py)
    needs: ClassVar[tuple[str, ...]] = ()  # the fields of `inputs` it cannot do without
    outputs: ClassVar[type | None] = None  # the record type it writes
    streaming: bool = False  # process_stream instead of process (an instance may set it)

    def check_input(self, record: Rec) -> str | None:
        """None when `record` has what the stage needs, else the drop reason
        (`missing_<field>`, `bad_<field>`); checked before `process` sees it."""
        return problem(record, self.inputs, self.needs) if self.inputs is not None else None

    @abstractmethod
    def process(self, batch: list[Rec]) -> list[Outcome]: ...

    def process_stream(self, records: Iterator[Rec]) -> Iterator[Outcome]:
        """One outcome per record, in input order (stages with `streaming` set)."""
        raise NotImplementedError(f"stage {self.name!r} does not stream")

    def begin(self, stats: StageStats) -> None:  # noqa: B027 - optional hook
        """Called once before the first batch with the stage's stats so far (for resuming
        counters kept in `stats.metrics`)."""

    def main_rate(self, stats: StageStats) -> float | None:
        """The rate shown in progress; by default the share of records kept."""
        seen = stats.kept + stats.dropped_total
        return stats.kept / seen if seen else None

    def progress_note(self, stats: StageStats, elapsed_s: float) -> str:
        """An extra figure for the progress line (e.g. tokens/s); none by default."""
        return ""


class Filter(Stage):
    """Keeps or drops each record as it is."""

    @abstractmethod
    def check(self, record: Rec) -> str | None:
        """None to keep `record`, or the reason to drop it."""

    def process(self, batch: list[Rec]) -> list[Outcome]:
        outcomes = []
        for record in batch:
            reason = self.check(record)
            if reason is None:
                outcomes.append(Outcome(record["id"], kept=[record]))
            else:
                outcomes.append(Outcome(record["id"], dropped=[(record, reason)]))
        return outcomes


class Mapper(Stage):
    """Makes zero or more records from each input; zero needs a reason (`Drop`)."""

    empty_reason: ClassVar[str] = "no_output"

    @abstractmethod
    def map(self, record: Rec) -> Iterable[Rec]:
        """The records made from `record`; raise Drop(reason) to drop it."""

    def process(self, batch: list[Rec]) -> list[Outcome]:
        outcomes = []
        for record in batch:
            try:
                made = list(self.map(record))
            except Drop as drop:
                outcomes.append(Outcome(record["id"], dropped=[(record, drop.reason)]))
                continue
            if made:
                outcomes.append(Outcome(record["id"], kept=made))
            else:
                outcomes.append(Outcome(record["id"], dropped=[(record, self.empty_reason)]))
        return outcomes


class _Pending:
    """The inputs not finished yet, up to `limit`; remembers whether the limit cut it short."""

    def __init__(self, inputs: Iterable[Rec], writer: StageWriter, limit: int | None) -> None:
        self.inputs, self.writer, self.limit = inputs, writer, limit
        self.limited = False

    def __iter__(self) -> Iterator[Rec]:
        taken = 0
        for position, record in enumerate(self.inputs):
            rid = record.get("id") if isinstance(record, dict) else None
            if not isinstance(rid, str) or not rid:
                raise InputError(f"input record #{position} has no string 'id': {record!r:.120}")
            if self.writer.is_done(rid):
                continue
            if self.limit is not None and taken >= self.limit:
                self.limited = True
                return
            taken += 1
            yield record


def _batches(records: Iterator[Rec], size: int) -> Iterator[list[Rec]]:
    batch: list[Rec] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_outputs(stage: Stage, outcome: Outcome) -> None:
    """An output that does not fit the stage's record type becomes a `malformed_output` drop
    (with what was wrong in `detail`) instead of a record the next stage trips over."""
    if stage.outputs is None:
        return
    kept = []
    for record in outcome.kept:
        wrong = problem(record, stage.outputs)
        if wrong is None:
            kept.append(record)
        else:
            outcome.dropped.append(({**record, "detail": wrong}, "malformed_output"))
    outcome.kept = kept


def run_stage(
    stage: Stage,
    inputs: Iterable[Rec],
    writer: StageWriter,
    *,
    total: int | None = None,
    limit: int | None = None,
    progress: Progress | None = None,
) -> StageStats:
    """Run `stage` over `inputs` into `writer`, resuming where an earlier session stopped."""
    bar = progress or Progress(stage.name, total, done=writer.stats.inputs_done)
    pending = _Pending(inputs, writer, limit)
    complete, deferred = False, 0
    stage.begin(writer.stats)
    try:
        if stage.streaming:
            deferred = _run_streaming(stage, pending, writer, bar)
        for batch in _batches(iter(pending), stage.batch_size) if not stage.streaming else ():
            valid, invalid = [], {}
            for record in batch:
                reason = str(record[INVALID]) if INVALID in record else stage.check_input(record)
                if reason is None:
                    valid.append(record)
                else:  # one bad record is its own drop, never the batch's failure
                    invalid[record["id"]] = Outcome(record["id"], dropped=[(record, reason)])
            outcomes = stage.process(valid) if valid else []
            if sorted(o.src for o in outcomes) != sorted(r["id"] for r in valid):
                raise RuntimeError(
                    f"stage {stage.name!r} returned outcomes for {len(outcomes)} inputs, "
                    f"expected one for each of {len(valid)}"
                )
            made = {o.src: o for o in outcomes} | invalid
            for record in batch:  # input order, whatever order the stage answered in
                outcome = made[record["id"]]
                if outcome.deferred:
                    deferred += 1
                else:
                    _check_outputs(stage, outcome)
                    writer.write(outcome.src, outcome.kept, outcome.dropped)
            writer.flush()  # a crash now costs at most the next batch, never this one
            bar.note = stage.progress_note(writer.stats, bar.elapsed())
            bar.advance(len(batch))
            bar.set_rate(stage.rate_label, stage.main_rate(writer.stats))
        # Complete only if the input ran out: a limit that was reached leaves more to do, and
        # so does a deferred input.
        complete = not pending.limited and not deferred
    finally:
        bar.close()
        stats = writer.close(complete=complete)
    return stats


def _run_streaming(stage: Stage, pending: _Pending, writer: StageWriter, bar: Progress) -> int:
    """`run_stage` for a streaming stage: inputs are pulled as the stage sends requests, each
    outcome is written as soon as every input before it is (input order, as in the batch
    path), and the writer is flushed every `batch_size` inputs. Returns the deferred count."""
    order: deque[tuple[str, Outcome | None]] = deque()  # None: the stage's outcome to come

    def checked() -> Iterator[Rec]:
        for record in pending:
            reason = str(record[INVALID]) if INVALID in record else stage.check_input(record)
            if reason is None:
                order.append((record["id"], None))
                yield record
            else:  # one bad record is its own drop, never the stream's failure
                order.append((record["id"], Outcome(record["id"], dropped=[(record, reason)])))

    deferred = since_flush = 0

    def write(outcome: Outcome) -> None:
        nonlocal deferred, since_flush
        if outcome.deferred:
            deferred += 1
        else:
            _check_outputs(stage, outcome)
            writer.write(outcome.src, outcome.kept, outcome.dropped)
        since_flush += 1
        if since_flush >= stage.batch_size:
            settle()

    def settle() -> None:
        nonlocal since_flush
        writer.flush()
        bar.note = stage.progress_note(writer.stats, bar.elapsed())
        bar.advance(since_flush)
        bar.set_rate(stage.rate_label, stage.main_rate(writer.stats))
        since_flush = 0

    def write_ready() -> None:
        while order and order[0][1] is not None:
            write(order.popleft()[1])  # type: ignore[arg-type]

    for outcome in stage.process_stream(checked()):
        write_ready()
        src, _ = order.popleft()
        if src != outcome.src:
            raise RuntimeError(f"stage {stage.name!r} answered {outcome.src!r} where {src!r} "
                               "was next: a stream must keep input order")
        write(outcome)
    write_ready()
    if order:
        raise RuntimeError(f"stage {stage.name!r} ended its stream {len(order)} outcomes short")
    settle()
    return deferred
