"""The one way a stage runs: read inputs, skip finished ones, process in batches, write, report.

A stage is a small class with one hook:

- `Filter.check(record)` returns None to keep the record or a snake_case drop reason;
- `Mapper.map(record)` returns the records made from one input, or raises `Drop(reason)`;
- `Stage.process(batch)` (the general form, for batched LLM calls) returns one `Outcome` per input;
  an outcome may be `deferred` (a transient failure: nothing is written, a rerun retries it).

`run_stage` feeds a stage from any iterable of records into a `StageWriter`: inputs already
finished by an earlier session are skipped, an input without the fields the stage `needs`
(of its `inputs` record type) is dropped as `missing_<field>` / `bad_<field>` before the stage
sees it, an output that does not fit the stage's `outputs` type is dropped as
`malformed_output`, every input ends as kept records or counted drops,
progress shows items/s, ETA and the keep rate, and the stage is marked complete only when its
input was exhausted without a limit, an error or a deferred input. An input the reader could
not parse (marked `INVALID` by `read_jsonl`) is dropped with its reason before the stage sees it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
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

    def check_input(self, record: Rec) -> str | None:
        """None when `record` has what the stage needs, else the drop reason
        (`missing_<field>`, `bad_<field>`); checked before `process` sees it."""
        return problem(record, self.inputs, self.needs) if self.inputs is not None else None

    @abstractmethod
    def process(self, batch: list[Rec]) -> list[Outcome]: ...

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
        for batch in _batches(iter(pending), stage.batch_size):
            valid = []
            for record in batch:
                reason = str(record[INVALID]) if INVALID in record else stage.check_input(record)
                if reason is None:
                    valid.append(record)
                else:  # one bad record is its own drop, never the batch's failure
                    writer.write(record["id"], dropped=[(record, reason)])
            outcomes = stage.process(valid) if valid else []
            if sorted(o.src for o in outcomes) != sorted(r["id"] for r in valid):
                raise RuntimeError(
                    f"stage {stage.name!r} returned outcomes for {len(outcomes)} inputs, "
                    f"expected one for each of {len(valid)}"
                )
            for outcome in outcomes:
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
