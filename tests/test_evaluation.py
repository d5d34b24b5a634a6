"""HumanEval+ / MBPP+ evaluation: EvalPlus semantics, in the sandbox, and generation."""

from __future__ import annotations

import copy
import json
import math
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from selfcodealign.backends.fake import FakeBackend
from selfcodealign.evaluation.data import Dataset, load_dataset
from selfcodealign.evaluation.generate import extract_code, generate_samples, instruction
from selfcodealign.evaluation.outputcheck import OutputCheck
from selfcodealign.evaluation.score import (
    FAIL,
    PASS,
    Sample,
    TimeLimits,
    pass_at_k,
    read_samples,
    score,
    summarise,
)
from selfcodealign.execution import oracle as typed
from selfcodealign.execution.sandbox import LocalSandbox


@pytest.fixture(scope="module")
def box() -> Iterator[LocalSandbox]:
    with LocalSandbox(workers=2) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("evalcache")


def subset(dataset: Dataset, *task_ids: str) -> Dataset:
    return Dataset(dataset.name, dataset.path, dataset.md5, dataset.version,
                   {t: dataset.problems[t] for t in task_ids})


def write_samples(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("name", ["humaneval", "mbpp"])
def test_every_canonical_solution_passes_base_and_plus(name: str, benchmark_dir: Path,
                                                       box: LocalSandbox, cache: Path,
                                                       tmp_path: Path) -> None:
    dataset = load_dataset(name, benchmark_dir)
    samples = [Sample(i, p.task_id, p.reference) for i, p in enumerate(dataset.problems.values())]
    # the semantics are under test here, not a loaded machine's timing: generous time limits,
    # and no 60 s cap on a whole run (on two busy cores Mbpp/255 and Mbpp/599 passed it)
    results = score(dataset, samples, tmp_path / "r.json", box=box, cache_dir=cache,
                    limits=TimeLimits(5.0, 8.0, cap_s=600.0), show_progress=False)
    failed = {t: rows[0] for t, rows in results["eval"].items()
              if rows[0]["base_status"] != PASS or rows[0]["plus_status"] != PASS}
    assert failed == {}, results["failures"]
    assert results["pass_at_k"] == {"base": {"pass@1": 1.0}, "plus": {"pass@1": 1.0}}
    on_disk = json.loads((tmp_path / "r.json").read_text())
    assert on_disk["hash"] == dataset.md5 and len(on_disk["eval"]) == len(dataset.problems)
    assert not (tmp_path / "r.json.progress.jsonl").exists()


WRONG = {
    # (task, solution code, which input set must fail first)
    "HumanEval/0 off by one": ("HumanEval/0", '''
def has_close_elements(numbers, threshold):
    return any(abs(a - b) <= threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])
''', "plus"),
    "HumanEval/2 wrong": ("HumanEval/2", "def truncate_number(number):\n    return number\n",
                          "base"),
    "raises": ("HumanEval/2", "def truncate_number(number):\n    raise ValueError('no')\n", "base"),
    "infinite loop": ("HumanEval/2", "def truncate_number(number):\n    while True:\n"
                      "        pass\n", "base"),
    "always equal": ("HumanEval/2", '''
class Yes(float):
    def __eq__(self, other):
        return True
    __hash__ = float.__hash__
def truncate_number(number):
    return Yes(0.123456)
''', "base"),
    "syntax error": ("HumanEval/2", "def truncate_number(number)\n    return 0\n", "base"),
    "wrong name": ("HumanEval/2", "def truncate(number):\n    return number % 1.0\n", "base"),
    "exits": ("HumanEval/2", "import sys\nsys.exit(0)\n", "base"),
    "reads the expected values": ("HumanEval/2", '''
import gc
def truncate_number(number):
    for obj in gc.get_objects():
        if isinstance(obj, dict) and "expected" in obj:
            return obj["expected"]
    return -1.0
''', "base"),
}


def test_wrong_solutions_fail(benchmark_dir: Path, box: LocalSandbox, cache: Path,
                              tmp_path: Path) -> None:
    dataset = subset(load_dataset("humaneval", benchmark_dir), "HumanEval/0", "HumanEval/2")
    samples = [Sample(i, task, code) for i, (task, code, _) in enumerate(WRONG.values())]
    results = score(dataset, samples, tmp_path / "r.json", box=box, cache_dir=cache,
                    show_progress=False)
    rows = iter(results["eval"]["HumanEval/0"])
    rows2 = iter(results["eval"]["HumanEval/2"])
    for label, (task, _, where) in WRONG.items():
        row = next(rows if task == "HumanEval/0" else rows2)
        if where == "base":
            assert row["base_status"] != PASS, label
        else:
            assert row["base_status"] == PASS and row["plus_status"] != PASS, label
            assert row["plus_fail_tests"], label
    assert results["pass_at_k"]["plus"]["pass@1"] == 0.0


def test_slow_solution_fails_its_input_time_limit(benchmark_dir: Path, box: LocalSandbox,
                                                  cache: Path, tmp_path: Path) -> None:
    dataset = subset(load_dataset("humaneval", benchmark_dir), "HumanEval/2")
    slow = ("import time\ndef truncate_number(number):\n    time.sleep(1.5)\n"
            "    return number % 1.0\n")
    results = score(dataset, [Sample(0, "HumanEval/2", slow)], tmp_path / "r.json", box=box,
                    cache_dir=cache, show_progress=False)
    row = results["eval"]["HumanEval/2"][0]
    assert row["base_status"] == FAIL and "limit" in results["failures"]["HumanEval/2"]


def test_completion_and_solution_forms_agree(benchmark_dir: Path, box: LocalSandbox,
                                             cache: Path, tmp_path: Path) -> None:
    full = load_dataset("humaneval", benchmark_dir)
    dataset = subset(full, "HumanEval/0", "HumanEval/4", "HumanEval/7")
    bodies = {t: dataset.problems[t].canonical_solution for t in dataset.problems}
    bodies["HumanEval/4"] = "    return 0.0\n"  # wrong in both forms
    completion = write_samples(tmp_path / "c.jsonl", [
        {"task_id": t, "completion": b} for t, b in bodies.items()])
    solution = write_samples(tmp_path / "s.jsonl", [
        {"task_id": t, "solution": dataset.problems[t].prompt + b} for t, b in bodies.items()])
    verdicts = []
    for path in (completion, solution):
        rows, skipped = read_samples(path, dataset)
        assert skipped == {}
        results = score(dataset, rows, tmp_path / f"{path.stem}.json", box=box,
                        cache_dir=cache, show_progress=False)
        verdicts.append({t: (r[0]["base_status"], r[0]["plus_status"], r[0]["solution"])
                         for t, r in results["eval"].items()})
    assert verdicts[0] == verdicts[1]
    assert verdicts[0]["HumanEval/4"][:2] == (FAIL, FAIL)
    assert verdicts[0]["HumanEval/0"][:2] == (PASS, PASS)
    # a completion that already holds the prompt is not given it twice; the form is reported
    both = write_samples(tmp_path / "b.jsonl", [
        {"task_id": "HumanEval/0", "completion": dataset.problems["HumanEval/0"].prompt +
         bodies["HumanEval/0"]},
        {"task_id": "HumanEval/7", "completion": bodies["HumanEval/7"]},
        {"task_id": "HumanEval/4", "solution": dataset.problems["HumanEval/4"].prompt +
         bodies["HumanEval/4"]}])
    rows, _ = read_samples(both, dataset)
    assert [r.form for r in rows] == ["completion_with_prompt", "completion", "solution"]
    assert rows[0].solution.count("def has_close_elements") == 1
    results = score(dataset, rows, tmp_path / "b.json", box=box, cache_dir=cache,
                    show_progress=False)
    forms = {t: (r[0]["form"], r[0]["base_status"]) for t, r in results["eval"].items()}
    assert forms == {"HumanEval/0": ("completion_with_prompt", PASS),
                     "HumanEval/7": ("completion", PASS), "HumanEval/4": ("solution", FAIL)}


def test_the_dataset_may_be_a_file_or_a_folder_of_versioned_files(benchmark_dir: Path,
                                                                  tmp_path: Path) -> None:
    from selfcodealign.errors import InputError

    he = benchmark_dir / "HumanEvalPlus.jsonl.gz"
    mbpp = benchmark_dir / "MbppPlus.jsonl.gz"
    assert len(load_dataset("humaneval", he).problems) == 164
    renamed = tmp_path / "my-copy.jsonl.gz"
    renamed.write_bytes(he.read_bytes())
    assert load_dataset("humaneval", renamed).version == "unknown"
    with pytest.raises(InputError, match=r"holds mbpp tasks \(Mbpp/2\), not humaneval"):
        load_dataset("humaneval", mbpp)
    folder = tmp_path / "releases"
    folder.mkdir()
    import gzip as gz

    plain = gz.decompress(he.read_bytes())
    (folder / "HumanEvalPlus-v0.1.9.jsonl").write_bytes(plain)
    (folder / "HumanEvalPlus-v0.1.10.jsonl").write_bytes(plain)
    (folder / "HumanEvalPlus-Mini-v0.1.10.jsonl").write_bytes(plain)
    (folder / "MbppPlus-v0.2.0.jsonl.gz").write_bytes(mbpp.read_bytes())
    found = load_dataset("humaneval", folder)
    assert found.path.name == "HumanEvalPlus-v0.1.10.jsonl" and found.version == "v0.1.10"
    assert load_dataset("mbpp", folder).version == "v0.2.0"
    with pytest.raises(InputError, match="benchmark path not found"):
        load_dataset("humaneval", tmp_path / "nowhere")


def test_bad_sample_lines_are_counted_not_fatal(benchmark_dir: Path, tmp_path: Path) -> None:
    dataset = load_dataset("humaneval", benchmark_dir)
    path = tmp_path / "s.jsonl"
    path.write_text('{"task_id": "HumanEval/0", "completion": "    return True\\n"}\n'
                    'not json\n{"task_id": "Nope/1", "solution": "x"}\n'
                    '{"task_id": "HumanEval/1"}\n')
    rows, skipped = read_samples(path, dataset)
    assert [r.task_id for r in rows] == ["HumanEval/0"]
    assert skipped == {"invalid_json": 1, "unknown_task": 1, "no_solution": 1}


def test_scoring_resumes_from_its_progress_file(benchmark_dir: Path, box: LocalSandbox,
                                                cache: Path, tmp_path: Path) -> None:
    dataset = subset(load_dataset("humaneval", benchmark_dir), "HumanEval/0", "HumanEval/2")
    samples = [Sample(i, p.task_id, p.reference) for i, p in enumerate(dataset.problems.values())]
    out = tmp_path / "r.json"
    progress = tmp_path / "r.json.progress.jsonl"
    forged = {"key": samples[0].key, "task_id": "HumanEval/0", "solution": "x",
              "base_status": "fail", "plus_status": "fail", "base_fail_tests": [],
              "plus_fail_tests": [], "_why": "from the progress file"}
    progress.write_text(json.dumps(forged) + "\n" + '{"key": "cut')  # a line cut by a crash
    results = score(dataset, samples, out, box=box, cache_dir=cache, show_progress=False)
    # the finished sample was taken from the progress file, not scored again
    assert results["eval"]["HumanEval/0"][0]["base_status"] == "fail"
    assert results["eval"]["HumanEval/2"][0]["base_status"] == PASS
    assert not progress.exists()


def test_pass_at_k_is_the_unbiased_estimator() -> None:
    for n, c, k in [(10, 3, 1), (10, 3, 5), (200, 17, 10), (200, 0, 100), (5, 5, 5), (20, 19, 10)]:
        exact = 1 - math.comb(n - c, k) / math.comb(n, k)
        assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)
    rows = {"a": [{"base_status": "pass", "plus_status": "fail"}] * 3 +
            [{"base_status": "fail", "plus_status": "pass"}] * 7,
            "b": [{"base_status": "pass", "plus_status": "pass"}] * 10}
    summary = summarise(rows)
    assert summary["base"]["pass@1"] == pytest.approx((0.3 + 1.0) / 2)
    assert summary["plus"]["pass@1"] == pytest.approx((0.0 + 1.0) / 2)  # plus needs base too
    assert summary["base"]["pass@10"] == pytest.approx(1.0)
    assert "pass@100" not in summary["base"]


def test_output_check_follows_evalplus() -> None:
    find_zero = OutputCheck("humaneval", "find_zero", 1e-4)
    assert find_zero([[-6, 11, -6, 1]], 1.0, 3.0)  # any root passes, not only the expected one
    assert not find_zero([[-6, 11, -6, 1]], 1.5, 3.0)
    floats = OutputCheck("humaneval", "mean", 0)
    assert floats([], 0.1 + 0.2, 0.3)  # atol becomes 1e-6 for float outputs
    assert floats([], [1.0, 2.0000000001], [1.0, 2.0])
    assert not floats([], (1.0, 2.0), [1.0, 2.0])  # allclose needs the same type
    assert not floats([], 0.31, 0.3)
    exact = OutputCheck("humaneval", "f", 0)
    assert not exact([], 2, 3) and exact([], [1, (2, 3)], [1, (2, 3)])
    sets = OutputCheck("mbpp", "similar_elements", 0)
    assert sets([], (5, 4), (4, 5)) and not sets([], (5,), (4, 5))
    regex = OutputCheck("mbpp", "text_match_three", 0)
    assert regex([], typed.Opaque("Match"), regex.expected(typed.Opaque("Match")))
    assert not regex([], None, regex.expected(typed.Opaque("Match")))
    assert OutputCheck("mbpp", "are_equivalent", 0)([], False, True)
    assert OutputCheck("mbpp", "sum_div", 0)([], 0, 7)
    assert OutputCheck("mbpp", "digit_distance_nums", 0)([123, 4], 4, 6)  # 123 vs 004


def test_mbpp_arguments_satisfy_their_contracts(benchmark_dir: Path) -> None:
    """The rebuilt tuples/sets/complex arguments are what each task's contract asserts
    (in-process: the canonical code and data are trusted)."""
    dataset = load_dataset("mbpp", benchmark_dir)
    quirks = {"Mbpp/267", "Mbpp/734"}  # plus inputs that break their own contract in the data
    broken = []
    for task_id, problem in dataset.problems.items():
        head = re.search(rf"^def {re.escape(problem.entry_point)}\(.*?\).*?:[ \t]*\n",
                         problem.canonical_solution, re.M | re.S)
        if not problem.contract.strip() or head is None or task_id in quirks:
            continue
        if "\t" in problem.canonical_solution[head.end():head.end() + 8]:
            continue  # tab-indented bodies: the contract's spaces would not fit
        code = (problem.canonical_solution[:head.end()] + problem.contract.rstrip("\n") + "\n"
                + problem.canonical_solution[head.end():])
        namespace: dict[str, Any] = {}
        with warnings.catch_warnings():  # the dataset's code has invalid escape sequences
            warnings.simplefilter("ignore")
            exec(code, namespace)
        for args in problem.base_input[:20] + problem.plus_input[:20]:
            try:
                namespace[problem.entry_point](*copy.deepcopy(args))
            except AssertionError as exc:
                if "invalid inputs" in str(exc):
                    broken.append(task_id)
                    break
            except Exception:
                pass
    assert broken == []


def test_large_outputs_cross_as_digests(box: LocalSandbox) -> None:
    code = "def f(n):\n    return [(i, str(i)) for i in range(n)]\n"
    result = box.call(code, "f", [typed.encode([10]), typed.encode([2_000_000])], [5.0, 30.0],
                      timeout_s=60)
    small, large = (typed.decode(r) for r in result.extra["returns"])
    assert small == [(i, str(i)) for i in range(10)]
    assert isinstance(large, typed.Digest)
    assert large == [(i, str(i)) for i in range(2_000_000)]
    assert large != [(i, str(i)) for i in range(1_999_999)]


def test_numeric_sequences_travel_packed_and_exact() -> None:
    cases: list[object] = [
        [float(i) / 3 for i in range(50)] + [math.inf, -math.inf, -0.0],
        tuple(range(-20, 20)), [1, 3, 2.0, 8.0] * 5 + [2**62, -(2**63)],
        [2**63, *range(10)],  # past int64: item by item
        [True, False] * 6, [1, 2.5, "x"] * 4, list(range(5)),
    ]
    for value in cases:
        encoded = typed.encode_output(value)
        back = typed.decode(json.loads(json.dumps(encoded)))
        assert back == value and type(back) is type(value)
        assert [type(v) for v in back] == [type(v) for v in value]  # type: ignore[attr-defined]
    nan = typed.decode(typed.encode_output([math.nan] * 10))
    assert all(math.isnan(v) for v in nan)
    assert math.copysign(1.0, typed.decode(typed.encode_output([-0.0] * 9))[0]) == -1.0
    assert typed.encode_output([1.5] * 20)[0] == "V"  # packed, not 20 tagged items
    for broken in (["V", "l", "d", "not base64!"], ["V", "l", "m", "AQ==", "", ""],
                   ["V", "x", "d", ""], ["V", "l", "q"]):
        with pytest.raises(ValueError):
            typed.decode(broken)


def test_prompts_and_code_extraction(benchmark_dir: Path) -> None:
    he = load_dataset("humaneval", benchmark_dir).problems["HumanEval/0"]
    text = instruction("humaneval", he)
    assert text.startswith("Write a Python function to solve the given task:\n```python\n")
    assert "def has_close_elements" in text
    assert instruction("humaneval", he, "vllm-script").startswith(
        "Write a Python function to solve the following task:\n```python\n")
    mbpp = load_dataset("mbpp", benchmark_dir).problems["Mbpp/2"]
    text = instruction("mbpp", mbpp)
    assert text.startswith("Write a function to find the shared elements")
    assert text == ("Write a function to find the shared elements from the given two lists.\n\n"
                    "Your code should pass the following assertion:\n```python\nassert "
                    "similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n```")
    answer = ("Here:\n```python\nimport math\n```\nThen\n```python\ndef f(x):\n    return x\n```"
              "\n```python\nassert f(1) == 1\n```")
    assert extract_code(answer, "f") == "def f(x):\n    return x\n"
    assert extract_code("```python\ndef f(x):\n    return 2", "f") == "def f(x):\n    return 2\n"
    assert extract_code("def f(x): return 1", "f") == "def f(x): return 1\n"


def test_generation_with_the_fake_backend(benchmark_dir: Path, box: LocalSandbox, cache: Path,
                                          tmp_path: Path) -> None:
    full = load_dataset("humaneval", benchmark_dir)
    dataset = subset(full, "HumanEval/0", "HumanEval/2", "HumanEval/4")
    # the "model" answers HumanEval/2 correctly (code only, no imports) and the rest wrongly
    rules = [("truncate_number", "def truncate_number(number: float) -> float:\n"
                                 "    return number % 1.0\n```\nDone.")]
    log = tmp_path / "calls.txt"
    backend = FakeBackend(rules=rules, default="def nothing():\n    pass\n```", call_log=log)
    samples = tmp_path / "he.samples.jsonl"
    info = generate_samples(dataset, backend, samples, n=2, temperature=0.8, batch_size=2,
                            show_progress=False)
    assert info["generated"] == 6
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    assert [r["task_id"] for r in rows].count("HumanEval/2") == 2
    assert all(set(r) >= {"task_id", "solution", "raw"} for r in rows)
    assert all("### Response\n\n```python\n" in p and p.rstrip().endswith('"""')
               for p in backend.calls)  # the model continues the problem
    second = generate_samples(dataset, FakeBackend(rules=rules, default="x"), samples, n=2,
                              show_progress=False)
    assert second["generated"] == 0  # resumed: nothing asked twice
    parsed, _ = read_samples(samples, dataset)
    results = score(dataset, parsed, tmp_path / "he.results.json", box=box, cache_dir=cache,
                    show_progress=False)
    assert [r["base_status"] for r in results["eval"]["HumanEval/2"]] == [PASS, PASS]
    assert results["eval"]["HumanEval/0"][0]["base_status"] == FAIL
    assert results["pass_at_k"]["plus"]["pass@1"] == pytest.approx(1 / 3)


def test_cli_scores_samples_and_prints_the_table(run_cli: Any, benchmark_dir: Path,
                                                 cache: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFCODEALIGN_CACHE", str(cache))
    dataset = load_dataset("mbpp", benchmark_dir)
    first = list(dataset.problems.values())[:3]
    samples = write_samples(tmp_path / "s.jsonl", [
        {"task_id": p.task_id, "solution": p.reference} for p in first[:2]] +
        [{"task_id": first[2].task_id, "solution": "def nope():\n    pass\n"}])
    out = tmp_path / "results.json"
    result = run_cli("evaluate", "--benchmark", "mbpp", "--samples", str(samples),
                     "--dataset", str(benchmark_dir), "--output", str(out), "--workers", "2")
    assert result.code == 0, result.err
    assert "mbpp+ pass@1" in result.out and "66.7%" in result.out
    assert f"failed: {first[2].task_id}" in result.out
    data = json.loads(out.read_text())
    assert set(data["eval"]) == {p.task_id for p in first}
    assert data["dataset"]["version"] == "v0.2.0"
    row = data["eval"][first[0].task_id][0]
    assert set(row) == {"task_id", "solution", "base_status", "plus_status", "base_fail_tests",
                        "plus_fail_tests", "form"} and row["form"] == "solution"
    bad = run_cli("evaluate", "--samples", str(samples), "--dataset", str(benchmark_dir))
    assert bad.code != 0 and "--benchmark" in bad.err


def test_cli_generates_in_a_run_and_records_the_scores(run_cli: Any, benchmark_dir: Path,
                                                       cache: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SELFCODEALIGN_CACHE", str(cache))
    script = tmp_path / "fake.yaml"
    script.write_text(json.dumps({"rules": [{"match": "has_close_elements", "text": (
        "def has_close_elements(numbers, threshold):\n"
        "    return any(abs(a - b) < threshold for i, a in enumerate(numbers)\n"
        "               for b in numbers[i + 1:])\n```")}], "default": "pass\n```"}))
    args = ("evaluate", "--benchmark", "humaneval", "--backend", "fake", "--set",
            f"backend.script={script}", "--dataset", str(benchmark_dir), "--runs-dir",
            str(tmp_path / "runs"), "--run-name", "demo", "--limit", "2")
    result = run_cli(*args)
    assert result.code == 0, result.err
    run = tmp_path / "runs" / "demo"
    samples = [json.loads(x) for x in (run / "evaluate" / "humaneval.samples.jsonl")
               .read_text().splitlines()]
    assert [s["task_id"] for s in samples] == ["HumanEval/0", "HumanEval/1"]
    manifest = json.loads((run / "manifest.json").read_text())
    scores = manifest["evaluation"]["humaneval"]
    assert scores["pass_at_k"]["plus"]["pass@1"] == 0.5 and scores["tasks"] == 2
    assert manifest["invocations"][-1]["status"] == "ok"
    again = run_cli(*args)  # resumed: nothing to generate, same scores
    assert again.code == 0 and "50.0%" in again.out


def test_a_real_tiny_model_generates_and_is_scored(run_cli: Any, tiny_model: Path,
                                                   benchmark_dir: Path, cache: Path,
                                                   tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The transformers backend with a tiny random model, through the whole evaluate command:
    paper prompts in the model's template, generation, samples, scoring (it fails, of course)."""
    pytest.importorskip("transformers")
    monkeypatch.setenv("SELFCODEALIGN_CACHE", str(cache))
    out = tmp_path / "eval"
    result = run_cli("evaluate", "--benchmark", "humaneval", "--backend", "transformers",
                     "--model", str(tiny_model), "--dataset", str(benchmark_dir),
                     "--output", str(out), "--limit", "2", "--workers", "2",
                     "--set", "evaluate.max_tokens=16")
    assert result.code == 0, result.err
    rows = [json.loads(line) for line in
            (out / "humaneval.samples.jsonl").read_text().splitlines()]
    assert [r["task_id"] for r in rows] == ["HumanEval/0", "HumanEval/1"]
    assert all(r["profile"] == "paper" and r["solution"].startswith(
        load_dataset("humaneval", benchmark_dir).problems[r["task_id"]].prompt) for r in rows)
    results = json.loads((out / "humaneval.results.json").read_text())
    assert set(results["eval"]) == {"HumanEval/0", "HumanEval/1"}
