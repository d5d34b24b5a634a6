"""The seeds stage end to end: corpus readers, bad files, decontamination, dedup, type check,
the stdlib corpus, the CLI, and resume after SIGKILL."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from selfcodealign.config import load_config
from selfcodealign.seeds.corpus import open_corpus
from selfcodealign.seeds.typecheck import CRASHED, TypeChecker
from selfcodealign.steps.seeds import mine_seeds


def fn(name: str, body: str = "return a + b", doc: str = "Combine two values.") -> str:
    return f'def {name}(a, b):\n    """{doc}"""\n    {body}\n'


def read(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def config_for(corpus: list[str], tmp_path: Path, *extra: str) -> Any:
    return load_config(None, [f"run.root={tmp_path / 'runs'}", "seeds.typecheck=false",
                              "seeds.decontaminate=false", *extra],
                       {"seeds.corpus": corpus})


def test_readers_keep_provenance(tmp_path: Path) -> None:
    folder = tmp_path / "tree"
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "a.py").write_text(fn("a1"))
    (folder / "notes.txt").write_text("not python")
    assert [f.path for f in open_corpus(str(folder))] == ["pkg/a.py"]

    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    git = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    (folder / "pkg" / "b.py").write_text(fn("b1"))
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "two"], check=True)
    assert [f.path for f in open_corpus(f"{folder}@HEAD~1")] == ["pkg/a.py"]
    head = list(open_corpus(f"{folder}@HEAD"))
    assert [f.path for f in head] == ["pkg/a.py", "pkg/b.py"] and head[1].data == fn("b1").encode()

    rows = [{"content": fn("s1"), "path": "x/s.py", "max_stars_repo_name": "org/repo",
             "max_stars_repo_licenses": ["MIT"]}, {"content": None}]
    jsonl = tmp_path / "stack.jsonl.gz"
    with gzip.open(jsonl, "wt") as fh:
        fh.write("\n".join(json.dumps(r) for r in rows) + "\n{broken\n")
    items = list(open_corpus(str(jsonl)))
    assert [(i.path, i.repo, i.license) for i in items] == [("x/s.py", "org/repo", "MIT")]

    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    parquet = tmp_path / "stack.parquet"
    pq.write_table(pa.Table.from_pylist(rows[:1]), parquet)
    assert [i.repo for i in open_corpus(str(parquet))] == ["org/repo"]

    datasets = pytest.importorskip("datasets")
    saved = tmp_path / "hfds"
    datasets.Dataset.from_list([{"content": fn("h1"), "repo": "r", "license": "apache-2.0",
                                 "path": "h.py"}]).save_to_disk(str(saved))
    assert [(i.path, i.license) for i in open_corpus(str(saved))] == [("h.py", "apache-2.0")]


def test_bad_files_are_counted_drops(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "good.py").write_text(fn("good"))
    (corpus / "latin1.py").write_bytes(fn("café").replace("café", "caf\xe9").encode("latin-1"))
    (corpus / "binary.py").write_bytes(b"\x00\x01\x02" * 100)
    (corpus / "broken.py").write_text("def oops(:\n")
    with open(corpus / "huge.py", "wb") as fh:  # 50 MB, sparse: cheap to make
        fh.truncate(50 * 1024 * 1024)
    (corpus / "empty_module.py").write_text("X = 1\n")
    out = tmp_path / "seeds.jsonl"
    summary = mine_seeds(config_for([str(corpus)], tmp_path), str(out))
    assert summary["complete"] and summary["kept"] == 1
    assert summary["dropped"] == {"not_utf8": 1, "binary_file": 1, "unparsable_file": 1,
                                  "file_too_large": 1, "no_functions": 1}
    (seed,) = read(out)
    assert seed["name"] == "good" and seed["source"]["path"] == "good.py"


def test_planted_benchmark_solution_is_removed(tmp_path: Path, benchmark_dir: Path) -> None:
    with gzip.open(benchmark_dir / "HumanEvalPlus.jsonl.gz") as fh:
        task = json.loads(fh.readline())
    corpus = tmp_path / "c"
    corpus.mkdir()
    planted = ('def close_pair(numbers, threshold):\n    """Any two closer than threshold?"""'
               + task["canonical_solution"])
    (corpus / "leak.py").write_text(planted)
    (corpus / "fine.py").write_text(fn("fine"))
    out = tmp_path / "seeds.jsonl"
    summary = mine_seeds(config_for([str(corpus)], tmp_path, "seeds.decontaminate=true",
                                    f"seeds.benchmark_dir={benchmark_dir}"), str(out))
    assert summary["dropped"] == {"benchmark_contamination": 1}
    assert [s["name"] for s in read(out)] == ["fine"]
    (reject,) = read(tmp_path / "seeds.rejects.jsonl")
    assert reject["name"] == "close_pair" and reject["detail"].startswith("HumanEval/0 ")
    assert summary["metrics"]["contamination.HumanEval"] == 1


def test_near_duplicates_collapse_to_one(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    body = ("total = 0\n    for item in a:\n        if item > b:\n            total += item * 2\n"
            "        else:\n            total -= item\n    return total")
    for i, doc in enumerate(["Sum things above b.", "Sum items above b.",
                             "Sum things above b!"]):  # small edits of one function
        (corpus / f"m{i}.py").write_text(fn("summer", body, doc))
    (corpus / "exact.py").write_text(fn("summer", body, "Sum things above b.").replace(
        "\n", "   \n"))  # only whitespace differs
    (corpus / "other.py").write_text(fn("other"))
    out = tmp_path / "seeds.jsonl"
    summary = mine_seeds(config_for([str(corpus)], tmp_path), str(out))
    assert summary["kept"] == 2
    assert summary["dropped"] == {"near_duplicate": 2, "exact_duplicate": 1}


def test_type_check_drops_errors_and_isolates_a_crash(tmp_path: Path) -> None:
    checker = TypeChecker(batch_size=100)
    errors = checker.check({"ok": "def f(x: int) -> int:\n    return x + 1\n",
                            "bad": "def g(x: int) -> str:\n    return x + 1\n"})
    assert errors["ok"] == [] and "not assignable" in errors["bad"][0]

    class Flaky(TypeChecker):
        def _run(self, snippets: dict[str, str]) -> dict[str, list[str]] | None:
            if "poison" in snippets:  # the checker dies on any batch holding this file
                self.calls += 1
                return None
            return super()._run(snippets)

    flaky = Flaky(batch_size=100)
    snippets = {f"s{i}": f"def f{i}(x: int) -> int:\n    return x\n" for i in range(6)}
    snippets["poison"] = "def p(x):\n    return x\n"
    result = flaky.check(snippets)
    assert result["poison"] == [CRASHED]
    assert all(result[f"s{i}"] == [] for i in range(6))  # the rest of the batch survives


def test_stdlib_yields_typed_seeds_through_the_cli(run_cli: Callable[..., Any],
                                                   tmp_path: Path) -> None:
    out = tmp_path / "seeds.jsonl"
    result = run_cli("seeds", "--output", str(out), "--set", "seeds.decontaminate=false")
    assert result.code == 0, result.err
    seeds = read(out)
    assert len(seeds) > 100 and "kept" in result.out and "type_error" in result.out
    sample = seeds[0]
    assert {"id", "code", "function", "docstring", "imports", "source"} <= set(sample)
    assert sample["source"]["origin"] == "stdlib"
    stats = orjson.loads((tmp_path / "seeds.stats.json").read_bytes())
    assert stats["complete"] and stats["kept"] == len(seeds)


WRITER = """
import sys
from selfcodealign.config import load_config
from selfcodealign.steps.seeds import mine_seeds
config = load_config(None, ["seeds.typecheck=false", "seeds.decontaminate=false",
                            "seeds.batch_files=10", "run.flush_every=5"],
                     {"seeds.corpus": [sys.argv[1]]})
mine_seeds(config, sys.argv[2])
"""


def test_resume_after_sigkill_keeps_the_same_seeds(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    for i in range(6000):  # every 7th file repeats an earlier function: dedup state matters
        name = f"f{i % 7 if i % 7 == 0 else i}"
        (corpus / f"m{i:03d}.py").write_text(fn(name, f"return a * {i % 7 if i % 7 == 0 else i}"
                                                 " + b", f"Scale a by {i} and add b."))
    clean, killed = tmp_path / "clean.jsonl", tmp_path / "killed.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", WRITER, str(corpus), str(clean)], env=env, check=True)
    took = time.monotonic() - started
    kills = 0
    for share in (0.5, 0.6, 0.7):  # each session gets further: kills land mid-run
        delay = took * share
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(corpus), str(killed)], env=env)
        time.sleep(delay)
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
    if not killed.exists():  # the last session was killed: finish the stage
        subprocess.run([sys.executable, "-c", WRITER, str(corpus), str(killed)], env=env,
                       check=True)
    assert kills >= 1
    assert sorted(s["id"] for s in read(killed)) == sorted(s["id"] for s in read(clean))
    assert sorted((r["id"], r["reason"]) for r in read(tmp_path / "killed.rejects.jsonl")) == \
        sorted((r["id"], r["reason"]) for r in read(tmp_path / "clean.rejects.jsonl"))


def test_docstring_judge_through_the_fake_backend(tmp_path: Path) -> None:
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "good.py").write_text(fn("good", doc="Return a plus b."))
    (corpus / "vague.py").write_text(fn("vague", "return a * b - 1", doc="Helper."))
    script = tmp_path / "fake.yaml"
    script.write_text('rules:\n  - match: "### Function\\\\ndef vague[^#]*### Verdict\\\\n$"\n'
                      '    text: " No, it is vague."\ndefault: " Yes"\n')
    config = config_for([str(corpus)], tmp_path, "seeds.judge=true", "backend.name=fake",
                        f"backend.script={script}")
    out = tmp_path / "seeds.jsonl"
    summary = mine_seeds(config, str(out))
    assert [s["name"] for s in read(out)] == ["good"]
    assert summary["dropped"] == {"docstring_judged_no": 1}
    (reject,) = read(tmp_path / "seeds.rejects.jsonl")
    assert reject["name"] == "vague" and "No" in reject["detail"]


def test_judge_prompt_shuffles_seven_shots_per_seed() -> None:
    from selfcodealign.seeds.judge import load_shots, prompt_for, verdict

    shots = load_shots()
    assert len(shots) == 7 and {s["answer"] for s in shots} == {"Yes", "No"}
    one, two = prompt_for("def f(x):\n    return x\n", "a", 3407, shots), \
        prompt_for("def f(x):\n    return x\n", "b", 3407, shots)
    assert one.count("### Verdict") == 8 and one.endswith("### Verdict\n")
    assert one != two and one == prompt_for("def f(x):\n    return x\n", "a", 3407, shots)
    assert verdict(" Yes") and verdict("yes.") and not verdict(" No") and not verdict("")
    assert not verdict("Yes or no") and not verdict("Maybe")


def test_the_stack_is_read_from_its_python_folder_only(tmp_path: Path) -> None:
    """A multi-language dataset laid out as The Stack (data/<language>/...): only data/python is
    read, as the paper did; `seeds.data_dir` picks another folder."""
    pytest.importorskip("datasets")
    from selfcodealign.seeds.corpus import open_corpus, python_data_dir

    root = tmp_path / "the-stack-dedup"
    for language, content in (("python", "def f(x):\n    return x\n"),
                              ("javascript", "function f(x) { return x; }\n")):
        folder = root / "data" / language
        folder.mkdir(parents=True)
        rows = [{"content": content, "path": f"{language}/{i}.src"} for i in range(3)]
        (folder / "part-0.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    found = list(open_corpus(f"hf:{root}"))
    assert len(found) == 3 and all(b"def f" in item.data for item in found)
    other = list(open_corpus(f"hf:{root}", data_dir="data/javascript"))
    assert len(other) == 3 and all(b"function" in item.data for item in other)
    assert python_data_dir("bigcode/the-stack-dedup") == "data/python"
    assert python_data_dir("bigcode/starcoderdata") is None
