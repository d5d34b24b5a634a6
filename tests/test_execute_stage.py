"""The execute stage end to end: file mode and run mode through the CLI, resume, deferral."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from selfcodealign.config import load_config
from selfcodealign.execution.base import ExecResult, Limits, Program, Status
from selfcodealign.execution.stage import Execute
from selfcodealign.records import make_id
from selfcodealign.runner import run_stage
from selfcodealign.stageio import run_store, stage_writer
from selfcodealign.store import StageWriter, iter_records


def response(i: int) -> dict[str, Any]:
    wrong = i % 3 == 0
    return {
        "id": f"r{i}",
        "instruction": "Add two numbers.",
        "response": f"```python\ndef add(a, b):\n    return a + b{' + 1' if wrong else ''}\n```",
        "tests": "```python\nassert add(1, 2) == 3\nassert add(0, 0) == 0\n```",
    }


def write_jsonl(path: Path, records: list[dict[str, Any]], extra: str = "") -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records) + extra.encode())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_file_mode_end_to_end(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    inp, out = tmp_path / "responses.jsonl", tmp_path / "executed.jsonl"
    records = [response(i) for i in range(9)]
    records.append({"id": "nocode", "response": "I cannot help.", "tests": "assert 1 == 1"})
    write_jsonl(inp, records, "{broken json\n")
    result = run_cli("execute", "--input", str(inp), "--output", str(out), "--workers", "2",
                     "--limit", "4")
    assert result.code == 0, result.err
    assert not out.exists() and (tmp_path / "executed.jsonl.parts").is_dir()  # not complete
    result = run_cli("execute", "--input", str(inp), "--output", str(out), "--workers", "2")
    assert result.code == 0, result.err
    assert "pass rate 66.7%" in result.out and "complete" in result.out
    executed = read_jsonl(out)
    assert sorted(r["id"] for r in executed) == sorted(f"r{i}" for i in range(9))
    by_id = {r["id"]: r for r in executed}
    assert by_id["r0"]["status"] == "failed" and by_id["r0"]["passed"] is False, by_id["r0"]
    assert by_id["r1"]["status"] == "passed" and by_id["r1"]["passed"] is True
    assert by_id["r1"]["execution"]["asserts"] == 2 and by_id["r1"]["execution"]["mode"] == "oracle"
    assert by_id["r1"]["instruction"] == "Add two numbers."  # the input fields are kept
    rejects = read_jsonl(tmp_path / "executed.rejects.jsonl")
    assert sorted(r["reason"] for r in rejects) == ["invalid_json_line", "no_code_in_response"]
    stats = orjson.loads((tmp_path / "executed.stats.json").read_bytes())
    assert stats["complete"] and stats["metrics"]["status.passed"] == 6
    assert stats["info"]["sandbox"]["level"] in ("full", "partial", "minimal")
    assert not (tmp_path / "executed.jsonl.parts").exists()
    # a rerun on its own finished output is a no-op that says so (issue 22); --force remakes it
    again = run_cli("execute", "--input", str(inp), "--output", str(out))
    assert again.code == 0 and "already complete" in again.err and "--force" in again.err
    assert "records" in again.err and out.read_bytes()
    before = [r["id"] for r in read_jsonl(out)]
    forced = run_cli("execute", "--input", str(inp), "--output", str(out), "--force")
    assert forced.code == 0 and [r["id"] for r in read_jsonl(out)] == before


def test_file_mode_refuses_changed_settings(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_jsonl(inp, [response(i) for i in range(4)])
    assert run_cli("execute", "--input", str(inp), "--output", str(out), "--limit", "1").code == 0
    changed = run_cli("execute", "--input", str(inp), "--output", str(out), "--timeout", "3")
    assert changed.code == 1 and "execute.timeout_s: 10.0 -> 3.0" in changed.err
    forced = run_cli("execute", "--input", str(inp), "--output", str(out), "--timeout", "3",
                     "--force")
    assert forced.code == 0 and len(read_jsonl(out)) == 4


def test_run_mode_reads_the_responses_stage(run_cli: Callable[..., Any], tmp_path: Path) -> None:
    config = load_config(None, [f"run.root={tmp_path}", "run.name=demo"])
    store = run_store(config)
    with stage_writer(store, config, "responses") as writer:
        for i in range(5):
            writer.write(make_id("instruction", i), kept=[response(i)])
        writer.write("dup", kept=[{**response(1), "id": "r1-again"}])  # same program as r1
    result = run_cli("execute", "--runs-dir", str(tmp_path), "--run-name", "demo")
    assert result.code == 0, result.err
    executed = {r["id"]: r for r in store.read("execute")}
    assert len(executed) == 6 and sum(r["passed"] for r in executed.values()) == 4
    # identical programs run once: whichever ran second came from the cache
    assert executed["r1"]["execution"]["cached"] != executed["r1-again"]["execution"]["cached"]
    manifest = store.manifest()
    assert manifest["invocations"][-1]["command"] == "execute"
    assert manifest["stages"]["execute"]["complete"] is True
    assert manifest["stages"]["execute"]["info"]["sandbox"]["level"] in ("full", "partial",
                                                                        "minimal")


class FlakySandbox:
    """Stands in for the sandbox to prove that infra errors are retried by a later run."""

    workers = 1

    def __init__(self, broken: set[str]) -> None:
        self.broken = broken

    def run_many(self, programs: list[Program], limits: Limits) -> list[ExecResult]:
        return [ExecResult(Status.INFRA_ERROR if "BROKEN" in p.code else Status.PASSED,
                           asserts=1) for p in programs]


def test_infra_errors_are_deferred_not_recorded(tmp_path: Path) -> None:
    records = [response(1), {**response(2), "id": "flaky",
                             "response": "```python\nBROKEN = 1\n```"}]
    stage = Execute(FlakySandbox(set()), Limits())  # type: ignore[arg-type]
    stats = run_stage(stage, records, StageWriter(tmp_path))
    assert not stats.complete and stats.inputs_done == 1
    assert [r["id"] for r in iter_records(tmp_path)] == ["r1"]


@pytest.mark.parametrize("bad", ["missing.jsonl"])
def test_missing_input_is_one_line(run_cli: Callable[..., Any], tmp_path: Path, bad: str) -> None:
    result = run_cli("execute", "--input", str(tmp_path / bad), "--output",
                     str(tmp_path / "o.jsonl"))
    assert result.code == 1 and result.err.startswith("error: input file not found")
