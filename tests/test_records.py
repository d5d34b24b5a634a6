"""Typed records: the schema of every stage's output, checked at each stage boundary.

A record that lacks what a stage needs is that record's counted drop (`missing_<field>`,
`bad_<field>`) and the rest of the batch goes on; an output that does not fit its type is a
`malformed_output` drop; docs/records.md is generated from the types and kept current.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest

from selfcodealign import records
from selfcodealign.config import load_config
from selfcodealign.reasons import explain
from selfcodealign.records import Concept, Executed, Instruction, Response, Seed, problem
from selfcodealign.runner import Mapper, Rec, run_stage
from selfcodealign.store import iter_records
from selfcodealign.store.stage import StageWriter

ROOT = Path(__file__).resolve().parents[1]


def test_docs_records_reference_is_current() -> None:
    doc = (ROOT / "docs" / "records.md").read_text()
    assert doc.strip() == records.reference_markdown().strip(), (
        "docs/records.md is stale: run `selfcodealign records reference > docs/records.md`")


def test_every_stage_has_its_type_documented() -> None:
    doc = records.reference_markdown()
    for stage, record_type in records.STAGE_RECORDS.items():
        assert f"`{record_type.__name__}` (stage `{stage}`)" in doc
        for name, (_, _, description) in records.fields(record_type).items():
            assert description, f"{record_type.__name__}.{name} has no description"
    assert "`DatasetRow`" in doc


@pytest.mark.parametrize(("record", "needs", "reason"), [
    ({}, ("concepts",), "missing_concepts"),
    ({"concepts": None}, ("concepts",), "missing_concepts"),
    ({"concepts": ""}, ("concepts",), "missing_concepts"),
    ({"concepts": " \n\t"}, ("concepts",), "missing_concepts"),
    ({"concepts": 3}, ("concepts",), "bad_concepts"),
    ({"concepts": ["a", "b"]}, ("concepts",), "bad_concepts"),
    ({"concepts": {"a": 1}}, ("concepts",), "bad_concepts"),
    ({"concepts": "loops"}, ("concepts",), None),
    ({"concepts": "loops", "extra": object()}, ("concepts",), None),
    ({"meta": []}, ("meta",), "bad_meta"),
    ({"meta": {}}, ("meta",), None),
    ({"seed_id": "x", "concepts": 1}, ("seed_id", "concepts"), "bad_concepts"),
    ({"concepts": 1, "seed_id": 2}, ("seed_id", "concepts"), "bad_seed_id"),  # needs' order
])
def test_problem_names_the_first_field_that_does_not_fit(record: dict[str, Any],
                                                        needs: tuple[str, ...],
                                                        reason: str | None) -> None:
    assert problem(record, Concept, needs) == reason


@pytest.mark.parametrize(("record", "reason"), [
    ({"lines": True}, "bad_lines"),  # a bool is not a count
    ({"lines": 3.0}, "bad_lines"),
    ({"lines": "3"}, "bad_lines"),
    ({"lines": 3}, None),
    ({"is_async": 0}, "bad_is_async"),
    ({"is_async": False}, None),
    ({"imports": "import os"}, "bad_imports"),
    ({"imports": []}, None),
])
def test_types_are_strict_where_json_could_confuse_them(record: dict[str, Any],
                                                        reason: str | None) -> None:
    assert problem(record, Seed, tuple(record)) == reason


def test_optional_fields_accept_null_and_store_keys_do_not_matter() -> None:
    response = {"id": "r", "parent": "i", "instruction": "Do it.", "category": None,
                "difficulty": None, "concepts": None, "seed": None, "seed_id": None,
                "response": "```python\nx = 1\n```", "tests": "```python\nassert x\n```",
                "meta": {}}
    assert problem(response, Response) is None
    assert problem({**response, "input_id": "i", "reason": "x", "detail": "y"}, Response) is None
    assert problem({**response, "instruction": None}, Response) == "missing_instruction"
    executed = {**response, "status": "passed", "passed": True, "execution": {}}
    assert problem(executed, Executed) is None
    assert problem({**executed, "passed": "yes"}, Executed) == "bad_passed"
    assert problem(response, Executed) == "missing_status"


def test_every_boundary_reason_is_explained() -> None:
    for record_type in records.STAGE_RECORDS.values():
        for name in records.fields(record_type):
            for reason in (f"missing_{name}", f"bad_{name}"):
                entry = explain(reason)
                assert (entry is not None and name in entry.meaning) or reason in (
                    "missing_code", "missing_concepts", "missing_instruction"), reason
    assert explain("malformed_output") is not None


class Echo(Mapper):
    """A stage that needs `instruction` and writes what it is told to (maybe malformed)."""

    name: ClassVar[str] = "echo"
    inputs: ClassVar[type | None] = Instruction
    needs: ClassVar[tuple[str, ...]] = ("instruction",)
    outputs: ClassVar[type | None] = Concept

    def map(self, record: Rec) -> Iterable[Rec]:
        out = {"id": record["id"] + "-c", "parent": record["id"], "seed": "s",
               "concepts": record["instruction"], "seed_id": "s", "meta": {}}
        if record.get("break"):
            del out["meta"]
        return [out]


def _stats(tmp_path: Path, inputs: list[Rec]) -> tuple[Any, list[Rec], list[Rec]]:
    writer = StageWriter(tmp_path / "echo")
    stats = run_stage(Echo(), inputs, writer)

    folder = tmp_path / "echo"
    return stats, list(iter_records(folder)), list(iter_records(folder, "rejects"))


def test_one_bad_input_is_one_drop_and_the_batch_goes_on(tmp_path: Path) -> None:
    good = [{"id": f"g{i}", "instruction": f"task {i}"} for i in range(11)]
    bad = [{"id": "b0"}, {"id": "b1", "instruction": 7}, {"id": "b2", "instruction": "  "}]
    stats, kept, rejects = _stats(tmp_path, good[:5] + bad + good[5:])
    assert stats.kept == 11 and stats.complete
    assert dict(stats.dropped) == {"missing_instruction": 2, "bad_instruction": 1}
    assert sorted(r["id"] for r in rejects) == ["b0", "b1", "b2"]
    assert [r["id"] for r in kept] == [f"g{i}-c" for i in range(11)]


def test_an_output_that_does_not_fit_is_a_malformed_output_drop(tmp_path: Path) -> None:
    stats, _, rejects = _stats(tmp_path, [{"id": "a", "instruction": "x"},
                                             {"id": "b", "instruction": "y", "break": True}])
    assert stats.kept == 1 and dict(stats.dropped) == {"malformed_output": 1}
    assert rejects[0]["detail"] == "missing_meta" and rejects[0]["reason"] == "malformed_output"


def _jsonl(path: Path, rows: list[Rec]) -> str:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return str(path)


@pytest.mark.parametrize(("stage", "good", "bad", "reason"), [
    ("concepts", {"code": "def f(x):\n    return x\n"}, {"name": "f"}, "missing_code"),
    ("concepts", {"content": "def f(x):\n    return x\n"}, {"code": ""}, "missing_code"),
    ("instructions", {"concepts": "loops, slicing"}, {"seed": "def f(): pass"},
     "missing_concepts"),
    ("instructions", {"concepts": "loops"}, {"concepts": ["loops"]}, "bad_concepts"),
    ("responses", {"instruction": "Write add(a, b)."}, {"concepts": "x"},
     "missing_instruction"),
])
def test_llm_stages_drop_the_record_not_the_run(tmp_path: Path, stage: str, good: Rec, bad: Rec,
                                                reason: str) -> None:
    from selfcodealign.steps.generate import generate

    rows = [{"id": f"r{i}", **good} for i in range(11)]
    rows.insert(4, {"id": "bad", **bad})
    config = load_config(None, ["backend.name=fake", f"run.root={tmp_path / 'runs'}"])
    summary = generate(config, stage, _jsonl(tmp_path / "in.jsonl", rows),
                       str(tmp_path / "out.jsonl"))
    assert summary["complete"] and summary["dropped"].get(reason) == 1
    assert summary["kept"] >= 1 and sum(summary["dropped"].values()) < 12


def test_execute_and_select_drop_records_without_their_fields(tmp_path: Path,
                                                              benchmark_dir: Path) -> None:
    from selfcodealign.steps.execute import execute
    from selfcodealign.steps.select import select

    ok = {"instruction": "Add.", "response": "```python\ndef add(a, b):\n    return a + b\n```",
          "tests": "```python\nassert add(1, 2) == 3\n```", "parent": "i"}
    rows = [{"id": "a", **ok}, {"id": "b", "instruction": "x"}, {"id": "c", **ok, "tests": 5}]
    config = load_config(None, ["execute.workers=1", f"run.root={tmp_path / 'runs'}",
                                f"select.benchmark_dir={benchmark_dir}"])
    done = execute(config, _jsonl(tmp_path / "r.jsonl", rows), str(tmp_path / "x.jsonl"))
    assert done["complete"]
    assert done["dropped"] == {"missing_response": 1, "bad_tests": 1}
    chosen = select(config, _jsonl(tmp_path / "e.jsonl", [{"id": "z"}, {"id": "y", "passed": True,
                                                                      "instruction": "t"}]),
                    str(tmp_path / "sel"))
    assert chosen["dropped"].get("missing_instruction") == 1
    assert chosen["dropped"].get("missing_response") == 1


@pytest.mark.parametrize("command", ["concepts", "instructions", "responses", "execute"])
@pytest.mark.parametrize("content", ["", "\n\n", "not json\n{broken\n[1, 2]\n"])
def test_an_input_with_nothing_usable_exits_4(run_cli: Any, tmp_path: Path, command: str,
                                              content: str) -> None:
    """An empty input, or one whose every line is rejected, warns and exits 4 (documented in
    the README's error codes): a script must not take 'nothing from nothing' for success."""
    inp = tmp_path / "in.jsonl"
    inp.write_text(content)
    out = tmp_path / "out.jsonl"
    result = run_cli(command, "--input", str(inp), "--output", str(out), "--set",
                     "backend.name=fake", "--runs-dir", str(tmp_path / "runs"))
    assert result.code == 4, result.err
    assert ("holds no records" in result.err if not content.strip() else
            "could be used (3 invalid_json_line)" in result.err)
    assert out.exists()  # the (empty) stage is still complete and published


def test_records_lacking_fields_only_also_exit_4(run_cli: Any, tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    _jsonl(inp, [{"id": "a", "seed": "x"}, {"id": "b", "concepts": 3}])
    result = run_cli("instructions", "--input", str(inp), "--output", str(tmp_path / "o.jsonl"),
                     "--set", "backend.name=fake", "--runs-dir", str(tmp_path / "runs"))
    assert result.code == 4 and "1 missing_concepts" in result.err and "1 bad_concepts" in \
        result.err


@pytest.mark.parametrize("argv", [
    ["execute", "--input", "{tmp}/nope.jsonl", "--output", "{tmp}/o.jsonl"],
    ["instructions", "--input", "{tmp}/nope.jsonl", "--output", "{tmp}/o.jsonl"],
    ["select", "--input", "{tmp}/nope.jsonl", "--output", "{tmp}/sel"],
    ["seeds", "--corpus", "{tmp}/no-such-folder", "--output", "{tmp}/s.jsonl"],
    ["run", "--set", "seeds.corpus=[{tmp}/no-such-folder]", "--runs-dir", "{tmp}/runs"],
])
def test_a_missing_input_fails_at_once_and_leaves_nothing(run_cli: Any, tmp_path: Path,
                                                          argv: list[str]) -> None:
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli(*(a.replace("{tmp}", str(tmp_path)) for a in argv), "--set",
                     "backend.name=fake")
    assert result.code == 1
    assert "not found" in result.err and result.err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no run dir, no .parts
