from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from selfcodealign.errors import InputError
from selfcodealign.progress import Progress, format_duration
from selfcodealign.records import make_id
from selfcodealign.runner import Drop, Filter, Mapper, Outcome, Stage, run_stage
from selfcodealign.store import StageWriter, iter_records


def inputs(n: int) -> list[dict[str, Any]]:
    return [{"id": make_id("x", i), "n": i} for i in range(n)]


class Even(Filter):
    name = "even"
    batch_size = 4

    def check(self, record: dict[str, Any]) -> str | None:
        return None if record["n"] % 2 == 0 else "odd"


class Split(Mapper):
    name = "split"

    def map(self, record: dict[str, Any]) -> Iterable[dict[str, Any]]:
        if record["n"] == 3:
            raise Drop("three")
        return [{"id": make_id(record["id"], k), "k": k} for k in range(record["n"] % 3)]


def test_filter_keeps_and_drops_with_reasons(tmp_path: Path) -> None:
    stats = run_stage(Even(), inputs(10), StageWriter(tmp_path))
    assert stats.complete and stats.kept == 5 and stats.dropped == {"odd": 5}
    assert [r["n"] for r in iter_records(tmp_path)] == [0, 2, 4, 6, 8]


def test_mapper_outputs_drops_and_empty_results(tmp_path: Path) -> None:
    stats = run_stage(Split(), inputs(6), StageWriter(tmp_path))
    # n: 0 -> none, 1 -> 1, 2 -> 2, 3 -> Drop, 4 -> 1, 5 -> 2
    assert stats.kept == 6 and stats.dropped == {"no_output": 1, "three": 1}
    assert stats.inputs_done == 6


def test_limit_leaves_the_stage_incomplete_and_rerun_finishes(tmp_path: Path) -> None:
    stats = run_stage(Even(), inputs(10), StageWriter(tmp_path), limit=3)
    assert not stats.complete and stats.inputs_done == 3
    stats = run_stage(Even(), inputs(10), StageWriter(tmp_path), limit=7)
    assert stats.complete and stats.inputs_done == 10  # exactly the rest: nothing was left
    assert [r["n"] for r in iter_records(tmp_path)] == [0, 2, 4, 6, 8]


class Boom(Filter):
    name = "boom"
    batch_size = 2

    def check(self, record: dict[str, Any]) -> str | None:
        if record["n"] == 5:
            raise RuntimeError("model server went away")
        return None


def test_an_error_keeps_finished_batches_and_rerun_continues(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="went away"):
        run_stage(Boom(), inputs(8), StageWriter(tmp_path))
    w = StageWriter(tmp_path)
    assert w.stats.inputs_done == 4 and not w.stats.complete  # batches [0,1], [2,3]
    stats = run_stage(Even(), inputs(8), w)
    assert stats.inputs_done == 8 and stats.complete
    ids = [r["id"] for r in iter_records(tmp_path)]
    assert len(ids) == len(set(ids)) == 6  # 0-3 kept by Boom, then 4 and 6 by Even


class Forgetful(Stage):
    name = "forgetful"

    def process(self, batch: list[dict[str, Any]]) -> list[Outcome]:
        return [Outcome(batch[0]["id"], kept=[batch[0]])]


def test_every_input_needs_an_outcome(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="expected one for each of 3"):
        run_stage(Forgetful(), inputs(3), StageWriter(tmp_path))


def test_input_without_id_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="input record #1 has no string 'id'"):
        run_stage(Even(), [inputs(1)[0], {"n": 1}], StageWriter(tmp_path))


def test_plain_progress_logs_rate_eta_and_main_rate(caplog: pytest.LogCaptureFixture) -> None:
    class Pipe:  # not a terminal
        def isatty(self) -> bool:
            return False

    with caplog.at_level(logging.INFO, logger="selfcodealign.progress"):
        progress = Progress("execute", total=100, done=20, interval=0.0, stream=Pipe())  # type: ignore[arg-type]
        progress.advance(30)
        progress.set_rate("pass", 0.213)
        progress.advance(10)
        progress.close()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("execute: 50/100 (50.0%) | ") and "items/s" in lines[0]
    assert "ETA " in lines[0]
    assert "execute: 60/100 (60.0%)" in lines[1] and "pass 21.3%" in lines[1]
    assert "done in" in lines[-1]
    assert progress.new == 40  # items from earlier sessions do not count toward the rate


def test_format_duration() -> None:
    assert format_duration(59.6) == "1:00"
    assert format_duration(3725) == "1:02:05"


def test_terminal_progress_bar_renders() -> None:
    import io

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    with Progress("responses", total=10, stream=stream) as progress:
        progress.set_rate("pass", 0.5)
        progress.advance(4)
    text = stream.getvalue()
    assert "responses" in text and "4/10" in text and "items/s" in text and "pass 50.0%" in text
