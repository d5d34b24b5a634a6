"""Selection steps with exact reasons, reproducibility, contamination, export, card, resume."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from selfcodealign.config import load_config
from selfcodealign.selection import stage as selection_stage
from selfcodealign.selection.checks import (
    assert_lines,
    ast_form,
    augment,
    defined_names,
    format_problem,
    stub_program,
)
from selfcodealign.stageio import run_store, stage_writer
from selfcodealign.steps.select import select

py = "```python\n{}\n```"


def sample(sid: str, parent: str, instruction: str, code: str, tests: str, *,
           passed: bool = True) -> dict[str, Any]:
    return {"id": sid, "parent": parent, "instruction": instruction,
            "response": "Here it is.\n\n" + py.format(code), "tests": py.format(tests),
            "passed": passed, "status": "passed" if passed else "failed",
            "execution": {"asserts": tests.count("assert")}, "seed_id": "seed1",
            "concepts": "loops", "category": "function", "difficulty": "easy"}


def test_checks() -> None:
    assert format_problem("no code", py.format("assert 1")) == "no_code_block"
    assert format_problem(py.format("x = 1"), "It works, trust me.") == "no_test_block"
    assert format_problem(py.format("x = 1"), py.format("print(x)")) == "tests_without_asserts"
    assert format_problem(py.format("def f():\n    # TODO\n    return 1"),
                          py.format("assert f()")) == "incomplete_code"
    assert format_problem(py.format("def f():\n    raise NotImplementedError"),
                          py.format("assert f()")) == "incomplete_code"
    assert format_problem(py.format("def f():\n    return 1"), py.format("assert f()")) is None
    assert defined_names("import os\ndef a(): pass\nclass B: pass\nx = 1") == {"a", "B"}
    one = ast_form("def add(a, b):\n    '''Add.'''\n    return a + b  # sum\n")
    two = ast_form("def plus(x,y):\n    return x+y\n")
    assert one == two and ast_form("def f(a): return a * 2") != one
    assert stub_program("import math\nclass C:\n    def m(self):\n        return 5\n"
                        "def f(x):\n    return math.sqrt(x)\n").count("return None") == 2
    assert stub_program("X = 1") is None
    tests = py.format("assert f(1) == 2\nassert f(2) == 3\nfor i in range(3):\n    assert i < 3")
    assert assert_lines(tests) == ["assert f(1) == 2", "assert f(2) == 3"]
    assert augment("Do it.", tests, random.Random(1), 1.0, "def f(x):\n    return x + 1") == (
        "Do it.", 0, "tests_not_only_asserts")  # the loop is not an assert line
    plain = py.format("assert f(1) == 2\nassert f(2) == 3")
    text, added, why = augment("Do it.", plain, random.Random(1), 1.0, "def f(x):\n    return x")
    assert 1 <= added <= 2 and "Your code should pass the following assertion" in text
    assert why is None and text.startswith("Do it.\n\nYour code should pass")
    assert augment("Do it.", plain, random.Random(1), 0.0, "def f(x): ...") == (
        "Do it.", 0, "not_drawn")


ADD = "def add(a, b):\n    return a + b"
ADD_TESTS = "assert add(1, 2) == 3\nassert add(0, 0) == 0"


def crafted(benchmark_dir: Path) -> list[dict[str, Any]]:
    with gzip.open(benchmark_dir / "HumanEvalPlus.jsonl.gz") as fh:
        task = json.loads(fh.readline())
    leak = task["prompt"] + task["canonical_solution"]
    long_words = " ".join(["word"] * 210)
    return [
        sample("a1", "A", "Add two numbers.", ADD, ADD_TESTS),
        sample("a2", "A", "Add two numbers.", ADD + "  # same", ADD_TESTS),
        sample("a3", "A", "Add two numbers.", ADD, ADD_TESTS, passed=False),
        {**sample("b1", "B", "Broken.", ADD, ADD_TESTS), "response": "No code, sorry."},
        sample("c1", "C", "Multiply.", "def mul(a, b):\n    # TODO: check types\n    return a*b",
               "assert mul(2, 3) == 6"),
        sample("d1", "D", long_words, "def d(x):\n    return x", "assert d(1) == 1"),
        sample("e1", "E", "Add two numbers.", "def s(a, b):\n    return b + a",
               "assert s(1, 2) == 3"),  # same instruction text as A
        sample("f1", "F", "Return whatever.", "def g(x):\n    return x * 2",
               "result = g(2)\nassert result is None or result == 4"),  # passes on a stub
        sample("g1", "G", "Check closeness of numbers.", leak.split('"""')[0] + "    return 1",
               "assert has_close_elements([1.0], 0.5) == 1"),
        sample("h1", "H", "Reverse the words of a sentence, keeping their letters in order.",
               "def rev(s):\n    return ' '.join(reversed(s.split()))",
               "assert rev('a b c') == 'c b a'"),
        sample("i1", "I", "Reverse the words of a sentence, keeping their letters in order!",
               "def rev2(text):\n    return ' '.join(text.split()[::-1])",
               "assert rev2('x y') == 'y x'"),
        {**sample("j1", "J", "Reverse the order of characters in a string.",
                  "def flip(s):\n    return s[::-1]", "assert flip('ab') == 'ba'"),
         "instruction": "Reverse the order of characters in a string.",
         "response": "A slice does it:\n\n" + py.format("def flip(s):\n    return s[::-1]") +
         "\n\nDone.\n"},
        sample("g2", "G2", "Check if any two numbers in the list are closer than a threshold.",
               leak, "assert has_close_elements([1.0, 1.1], 0.5)"),
    ]


def distinct_instruction(p: int) -> str:
    """An instruction that shares no 5-word run with the others (so none is a near-copy)."""
    words = [f"w{random.Random(p).randrange(10**6)}{k}" for k in range(12)]
    return "Compute " + " ".join(words) + "."


def distinct_code(p: int, i: int) -> str:
    """Code unlike every other task's; `i` only changes a comment (same behaviour)."""
    return f"def f{p}():\n    # variant {i}\n    return {distinct_instruction(p)!r}"


def run_select(tmp_path: Path, records: list[dict[str, Any]], benchmark_dir: Path,
               name: str = "out", *extra: str) -> dict[str, Any]:
    inp = tmp_path / f"{name}-in.jsonl"
    inp.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    config = load_config(None, [f"select.benchmark_dir={benchmark_dir}", "execute.workers=2",
                                "select.augment_tests_p=0.5", *extra])
    return select(config, str(inp), str(tmp_path / name))


def run_interrupted(tmp_path: Path, records: list[dict[str, Any]], benchmark_dir: Path,
                    monkeypatch: pytest.MonkeyPatch, name: str, *extra: str) -> dict[str, Any]:
    """Selection stopped by Ctrl-C in its third batch of 8, then run again to the end."""
    monkeypatch.setattr(selection_stage, "BATCH", 8)
    original = selection_stage.Selector._finish
    calls = {"n": 0}

    def failing(self: Any, batch: Any, writer: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, batch, writer)

    monkeypatch.setattr(selection_stage.Selector, "_finish", failing)
    with pytest.raises(KeyboardInterrupt):
        run_select(tmp_path, records, benchmark_dir, name, *extra)
    assert (tmp_path / name / "selected.jsonl.parts").is_dir()
    monkeypatch.setattr(selection_stage.Selector, "_finish", original)
    return run_select(tmp_path, records, benchmark_dir, name, *extra)


def test_every_step_has_its_reason(tmp_path: Path, benchmark_dir: Path) -> None:
    # g1 and g2 define the same function: with name diversification g2 would stop there.
    summary = run_select(tmp_path, crafted(benchmark_dir), benchmark_dir, "out",
                         "select.diversify_names=false")
    rejects = {r["id"]: r["reason"] for r in map(orjson.loads, (
        tmp_path / "out" / "selected.rejects.jsonl").read_bytes().splitlines())}
    assert rejects["a3"] == "not_passed" and rejects["b1"] == "no_code_block"
    assert rejects["c1"] == "incomplete_code" and rejects["d1"] == "instruction_too_long"
    assert rejects["e1"] == "duplicate_instruction" and rejects["f1"] == "tests_pass_on_stub"
    assert rejects["g2"] == "benchmark_contamination"
    assert rejects["i1"] == "near_duplicate_instruction"
    assert {rejects.get("a1"), rejects.get("a2")} == {"other_response_chosen", None}
    kept = [json.loads(line) for line in (tmp_path / "out" / "data.jsonl").read_text()
            .splitlines()]
    assert {k["instruction_id"] for k in kept} >= {"A", "H", "J"}
    assert summary["contamination"] == {"HumanEval": 1}
    report = json.loads((tmp_path / "out" / "contamination.json").read_text())
    assert report["hits"][0]["task_id"] == "HumanEval/0"
    chosen_a = next(k for k in kept if k["instruction_id"] == "A")
    assert chosen_a["passing_samples"] == 2 and chosen_a["samples"] == 3
    assert chosen_a["cross_tried"] == 1 and chosen_a["cross_pass"] == 1  # the sibling passes
    assert chosen_a["messages"][0]["role"] == "user"
    assert chosen_a["messages"][1]["content"] == chosen_a["response"]


def test_selection_is_seeded_and_order_independent(tmp_path: Path, benchmark_dir: Path) -> None:
    records = [sample(f"s{p}{i}", f"P{p}", distinct_instruction(p), distinct_code(p, i),
                      f"assert f{p}() == {distinct_instruction(p)!r}")
               for p in range(20) for i in range(4)]
    first = run_select(tmp_path, records, benchmark_dir, "one", "select.check_tests=false")
    shuffled = list(records)
    random.Random(5).shuffle(shuffled)
    second = run_select(tmp_path, shuffled, benchmark_dir, "two", "select.check_tests=false")
    ids = [sorted(json.loads(x)["id"] for x in (tmp_path / n / "data.jsonl").read_text()
                  .splitlines()) for n in ("one", "two")]
    assert ids[0] == ids[1] and first["kept"] == second["kept"] == 20


def test_export_loads_and_the_card_has_real_counts(tmp_path: Path,
                                                   benchmark_dir: Path) -> None:
    datasets = pytest.importorskip("datasets")
    summary = run_select(tmp_path, crafted(benchmark_dir), benchmark_dir, "out",
                         "select.diversify_names=false")
    data = datasets.load_from_disk(str(tmp_path / "out" / "hf"))
    assert len(data) == summary["kept"] == summary["dataset"]["rows"]
    for column in ("instruction", "response", "messages", "tests", "seed_source", "concepts",
                   "category", "difficulty", "status", "asserts_executed", "cross_pass"):
        assert column in data.column_names
    card = (tmp_path / "out" / "README.md").read_text()
    assert f"{summary['kept']} instruction-response pairs" in card
    assert "| not_passed | 1 |" in card and "| HumanEval | 1 |" in card
    assert (tmp_path / "out" / "data.parquet").stat().st_size > 0


def test_resume_after_an_interruption(tmp_path: Path, benchmark_dir: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    records = [sample(f"s{p}{i}", f"P{p}", distinct_instruction(p), distinct_code(p, i),
                      f"assert f{p}() == {distinct_instruction(p)!r}")
               for p in range(40) for i in range(2)]
    clean = run_select(tmp_path, records, benchmark_dir, "clean", "select.check_tests=false")
    resumed = run_interrupted(tmp_path, records, benchmark_dir, monkeypatch, "resumed",
                              "select.check_tests=false")
    ids = [sorted(json.loads(x)["id"] for x in (tmp_path / n / "data.jsonl").read_text()
                  .splitlines()) for n in ("clean", "resumed")]
    assert ids[0] == ids[1] and clean["kept"] == resumed["kept"] == 40


def test_run_mode_reads_execute_and_writes_the_dataset(tmp_path: Path,
                                                       benchmark_dir: Path) -> None:

    config = load_config(None, [f"run.root={tmp_path}", "run.name=demo",
                                f"select.benchmark_dir={benchmark_dir}",
                                "select.check_tests=false"])
    store = run_store(config)
    with stage_writer(store, config, "execute") as writer:
        for p in range(3):
            record = sample(f"r{p}", f"P{p}", distinct_instruction(p), distinct_code(p, 0),
                            f"assert f{p}() == {distinct_instruction(p)!r}")
            writer.write(record["id"], kept=[record])
    summary = select(config)
    assert summary["kept"] == 3
    assert (tmp_path / "demo" / "dataset" / "data.jsonl").exists()
    assert len(list(store.read("select"))) == 3


def _reasons(folder: Path) -> dict[str, str]:
    return {r["id"]: r["reason"] for r in map(orjson.loads, (
        folder / "selected.rejects.jsonl").read_bytes().splitlines())}


def _kept(folder: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in map(json.loads, (folder / "data.jsonl").read_text()
                                    .splitlines())}


def fallback_records(benchmark_dir: Path) -> list[dict[str, Any]]:
    """Instructions whose samples fail the sample checks in every way but one good sample."""
    with gzip.open(benchmark_dir / "HumanEvalPlus.jsonl.gz") as fh:
        task = json.loads(fh.readline())
    leak = task["prompt"] + task["canonical_solution"]
    records = [sample("k1", "K", "Multiply two numbers.", "def mul(a, b):\n    return a * b",
                      "assert mul(2, 3) == 6")]
    for p in range(6):
        text = distinct_instruction(100 + p)
        good = f"def task{p}(x):\n    return x + {p}"
        records += [
            # passes on a stub: cannot tell right from wrong
            sample(f"q{p}a", f"Q{p}", text, good, f"r = task{p}(1)\nassert r is None or r"),
            # the same response as K's kept one (exact dedup)
            {**sample(f"q{p}b", f"Q{p}", text, good, f"assert task{p}(0) == {p}"),
             "response": "Here it is.\n\n" + py.format("def mul(a, b):\n    return a * b")},
            # defines the same set of function names as K (name diversification)
            sample(f"q{p}c", f"Q{p}", text, f"def MUL(a, b):\n    return a * b + {p} - {p}",
                   f"assert MUL(0, {p}) == 0"),
            # contains a whole benchmark solution (decontamination)
            sample(f"q{p}d", f"Q{p}", text, leak + "\n\n" + good, f"assert task{p}(0) == {p}"),
            # the good one
            sample(f"q{p}e", f"Q{p}", text, good, f"assert task{p}(2) == {p + 2}"),
        ]
    return records


def test_an_instruction_is_kept_with_any_sample_that_survives(tmp_path: Path,
                                                              benchmark_dir: Path) -> None:
    run_select(tmp_path, fallback_records(benchmark_dir), benchmark_dir, "fb",
               "select.augment_tests_p=0")
    kept, reasons = _kept(tmp_path / "fb"), _reasons(tmp_path / "fb")
    assert set(kept) == {"k1"} | {f"q{p}e" for p in range(6)}
    tried = {"tests_pass_on_stub", "duplicate_response", "repeated_names",
             "benchmark_contamination", "other_response_chosen"}
    for p in range(6):  # each bad sample is dropped for its own reason, or was never tried
        assert reasons.get(f"q{p}a") in {"tests_pass_on_stub", "other_response_chosen"}
        assert reasons.get(f"q{p}b") in {"duplicate_response", "other_response_chosen"}
        assert reasons.get(f"q{p}c") in {"repeated_names", "other_response_chosen"}
        assert reasons.get(f"q{p}d") in {"benchmark_contamination", "other_response_chosen"}
        assert {reasons.get(f"q{p}{x}") for x in "abcd"} <= tried
    # over six random trial orders, every kind of sample check was met at least once
    assert {"tests_pass_on_stub", "duplicate_response", "repeated_names",
            "benchmark_contamination"} <= set(reasons.values())


def test_an_instruction_level_drop_drops_the_untried_samples(tmp_path: Path,
                                                             benchmark_dir: Path) -> None:
    long_words = " ".join(["word"] * 210)
    records = [sample(f"l{i}", "L", long_words, f"def f{i}(x):\n    return x",
                      f"assert f{i}(1) == 1") for i in range(3)]
    run_select(tmp_path, records, benchmark_dir, "il", "select.check_tests=false")
    reasons = _reasons(tmp_path / "il")
    assert sorted(reasons.values()) == ["instruction_dropped", "instruction_dropped",
                                        "instruction_too_long"]


def test_resume_replays_the_fallback_rounds(tmp_path: Path, benchmark_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    records = fallback_records(benchmark_dir)
    records += [sample(f"s{p}{i}", f"P{p}", distinct_instruction(p), distinct_code(p, i),
                       f"assert f{p}() == {distinct_instruction(p)!r}")
                for p in range(30) for i in range(2)]
    monkeypatch.setattr(selection_stage, "BATCH", 8)  # the batches of the interrupted run
    clean = run_select(tmp_path, records, benchmark_dir, "clean")
    resumed = run_interrupted(tmp_path, records, benchmark_dir, monkeypatch, "resumed")
    assert _reasons(tmp_path / "clean") == _reasons(tmp_path / "resumed")
    assert (tmp_path / "clean" / "data.jsonl").read_bytes() == \
        (tmp_path / "resumed" / "data.jsonl").read_bytes()
    assert clean["kept"] == resumed["kept"] == 37


@pytest.mark.parametrize(("instruction", "tests", "code", "why"), [
    ("Add two numbers.", "assert add(1, 2) == 3\nassert add(0, 0) == 0", ADD, None),
    ("Add two numbers.", "x = 1\nassert add(x, 2) == 3", ADD, "tests_not_only_asserts"),
    ("Add two numbers.", "assert add(1, 2) == 3\n\nassert add(2, 2) == 4", ADD, None),
    ("Add two numbers.", "assert add(1,\n           2) == 3", ADD, "tests_not_only_asserts"),
    ("Add two numbers.", "assert LIMIT == 3", ADD + "\nLIMIT = 3", "assert_without_entry_point"),
    ("Add two numbers.", "assert sum([1, 2]) == 3", ADD, "assert_without_entry_point"),
    ("Add two numbers, for example add(1, 2) is 3.", "assert add(1, 2) == 3", ADD,
     "instruction_mentions_tests"),
    ("Add two numbers and write tests.", "assert add(1, 2) == 3", ADD,
     "instruction_mentions_tests"),
    ("Add two numbers; assert the inputs are ints.", "assert add(1, 2) == 3", ADD,
     "instruction_mentions_tests"),
    ("Add two numbers.", "for a in range(3):\n    assert add(a, 0) == a", ADD,
     "tests_not_only_asserts"),
    ("Build it.", "assert Stack().push(1) is None", "class Stack:\n    def push(self, x): ...",
     None),
])
def test_augmentation_is_guarded_as_the_reference_guards_it(
        instruction: str, tests: str, code: str, why: str | None) -> None:
    text, added, reason = augment(instruction, py.format(tests), random.Random(0), 1.0, code)
    assert reason == why
    assert (added > 0) == (why is None) and (text != instruction) == (why is None)


def test_the_ast_key_renames_the_codes_own_names_only() -> None:
    def same(a: str, b: str) -> bool:
        return ast_form(a) == ast_form(b)

    assert same("def area(r):\n    return math.pi * r ** 2",
                "def circle(radius):\n    '''Area.'''\n    return math.pi * radius**2")
    assert not same("import math\ndef f(x):\n    return math.floor(x)",
                    "import math\ndef f(x):\n    return math.ceil(x)")
    assert not same("def f(d):\n    return json.dumps(d)", "def f(d):\n    return pickle.dumps(d)")
    assert not same("def f(s):\n    return s.upper()", "def f(s):\n    return s.lower()")
    assert not same("def f(xs):\n    return sorted(xs)", "def f(xs):\n    return reversed(xs)")
    assert same("def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total",
                "def g(v):\n    acc = 0\n    for item in v:\n        acc += item\n    return acc")
    assert same("class A:\n    def m(self, k):\n        return self.items[k]",
                "class B:\n    def get(this, key):\n        return this.items[key]")


def test_name_keys_are_the_references() -> None:
    from selfcodealign.selection.checks import name_keys

    assert name_keys("def get_value(x): ...\nclass Cache:\n    def load(self): ...") == (
        frozenset({"getvalue", "load"}), frozenset({"cache"}))
    assert name_keys("def getValue(): ...") == (frozenset({"getvalue"}), frozenset())
    assert name_keys("def broken(:") is None
