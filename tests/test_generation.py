"""The S->C, C->I and I->R stages: byte-exact templates, per-item choices, parsing, the fake
backend end to end through the CLI, prefix-cache layout, and resume after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from selfcodealign.backends import Completion, SamplingParams
from selfcodealign.backends.fake import FakeBackend
from selfcodealign.generation.base import item_rng, shared_prefix
from selfcodealign.generation.stages import Concepts, Instructions, Responses
from selfcodealign.prompts import load_library
from selfcodealign.runner import run_stage
from selfcodealign.store import StageWriter, iter_records

PARAMS = SamplingParams(temperature=0.7, max_tokens=200, n=1, stop=("## Example",))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def seeds(n: int) -> list[dict[str, Any]]:
    return [{"id": f"s{i}", "code": f"def f{i}(x):\n    \"\"\"Add {i}.\"\"\"\n    return x + {i}\n"}
            for i in range(n)]


def test_library_has_21_diverse_examples() -> None:
    examples = load_library().examples
    assert len(examples) == 21 and len({e.id for e in examples}) == len(examples)
    assert {e.kind for e in examples} == {"function", "class", "program"}
    assert {e.difficulty for e in examples} == {"easy", "medium", "hard"}
    assert len({e.instruction for e in examples}) == 21


def test_every_example_response_passes_its_tests_in_the_sandbox() -> None:
    from selfcodealign.execution import LocalSandbox, assemble

    programs = [assemble({"response": e.response, "tests": e.tests})
                for e in load_library().examples]
    assert all(not isinstance(p, str) for p in programs), programs
    with LocalSandbox(workers=2) as box:
        results = list(box.run_many(programs))  # type: ignore[arg-type]
    failing = [(e.id, r.status.value, r.detail[-200:])
               for e, r in zip(load_library().examples, results, strict=True) if not r.passed]
    assert not failing


def test_choices_are_per_item_and_persisted() -> None:
    stage = Instructions(FakeBackend(default="A task."), PARAMS, seed=3407, shots=8)
    record = {"id": "c1", "concepts": "loops, recursion"}
    text, meta = stage.prompt(record, item_rng(3407, "c1"))
    again, meta2 = stage.prompt(record, item_rng(3407, "c1"))
    assert text == again and meta == meta2 and len(meta["shots"]) == 8
    assert text.count("## Example") == 9
    assert text.endswith("concepts: loops, recursion\n\n### Task")
    other = [stage.prompt({"id": f"c{i}", "concepts": "x"}, item_rng(3407, f"c{i}"))[1]
             for i in range(2000)]
    counts = Counter(m["category"] for m in other)
    assert abs(counts["function"] / 2000 - 0.5) < 0.05
    assert abs(counts["class"] / 2000 - 0.25) < 0.05
    assert set(Counter(m["difficulty"] for m in other)) == {"easy", "medium", "hard"}


def test_parsing_and_drop_reasons(tmp_path: Path) -> None:
    class Scripted(FakeBackend):
        def generate(self, prompts: Any, params: Any, seeds: Any = None) -> Any:
            outs = [" loops , recursion, loops\nnext line", "   ", "cut"]
            return [[Completion(outs[i % 3], "length" if i % 3 == 2 else "stop")]
                    for i, _ in enumerate(prompts)]

    stage = Concepts(Scripted(), PARAMS, seed=1, shots=2)
    stats = run_stage(stage, seeds(3), StageWriter(tmp_path))
    (kept,) = list(iter_records(tmp_path))
    assert kept["concepts"] == "loops, recursion" and kept["parent"] == "s0"
    assert kept["meta"]["shots"] and kept["meta"]["raw"].startswith(" loops")
    assert stats.dropped == {"empty_concepts": 1, "truncated": 1}

    response = Responses(FakeBackend(rules=[("", "R\n```python\nx = 1\n```\n</response>\n\n"
                                             "<tests>\n```python\nassert x == 1\n```\n")]),
                         SamplingParams(n=3), seed=1)
    out = response.process([{"id": "i1", "instruction": "Set x."}])[0]
    assert len(out.kept) == 3 and out.kept[0]["tests"] == "```python\nassert x == 1\n```"
    assert out.kept[0]["response"].startswith("R\n```python") and out.kept[0]["instruction"]
    assert len({r["id"] for r in out.kept}) == 3
    bad = Responses(FakeBackend(rules=[("", "no end tag")]), SamplingParams(), seed=1)
    assert bad.process([{"id": "i2", "instruction": "x"}])[0].dropped[0][1] == "no_response_end"


def test_prefix_groups_share_prefixes() -> None:
    items = [{"id": f"c{i}", "concepts": "x"} for i in range(64)]
    fresh = Instructions(FakeBackend(default="T"), PARAMS, seed=1, shots=8)
    grouped = Instructions(FakeBackend(default="T"), PARAMS, seed=1, shots=8, prefix_groups=2)
    for stage in (fresh, grouped):
        stage.process(items)
    share = {name: s.stats.metrics["prefix_shared_chars"] / s.stats.metrics["prefix_total_chars"]
             for name, s in (("fresh", fresh), ("grouped", grouped))}
    assert share["grouped"] > 0.8 and share["grouped"] > share["fresh"] + 0.3
    shared, total = shared_prefix(["abcd", "abxy", "abxz"])
    assert (shared, total) == (5, 12)


def test_three_stages_end_to_end_through_the_cli(run_cli: Callable[..., Any],
                                                 tmp_path: Path) -> None:
    write_jsonl(tmp_path / "seeds.jsonl", seeds(4))
    dry = run_cli("concepts", "--input", str(tmp_path / "seeds.jsonl"), "--dry-run",
                  "--backend", "fake")
    assert dry.code == 0 and "### Snippet\ndef f0" in dry.out and "4 requests" in dry.out
    for stage, source in (("concepts", "seeds"), ("instructions", "concepts"),
                          ("responses", "instructions")):
        result = run_cli(stage, "--input", str(tmp_path / f"{source}.jsonl"), "--output",
                         str(tmp_path / f"{stage}.jsonl"), "--backend", "fake",
                         "--set", "responses.n=3")
        assert result.code == 0, result.err
    responses = read_jsonl(tmp_path / "responses.jsonl")
    assert len(responses) == 12
    first = responses[0]
    assert "```python\ndef " in first["response"] and first["tests"].startswith("```python")
    assert first["category"] in ("function", "class", "program") and first["concepts"]
    assert first["seed_id"] in {f"s{i}" for i in range(4)}


WRITER = """
import sys
from selfcodealign.config import load_config
from selfcodealign.steps.generate import generate
config = load_config(None, ["backend.name=fake", f"backend.script={sys.argv[3]}",
                            "concepts.batch_size=4", "run.flush_every=1"])
generate(config, "concepts", sys.argv[1], sys.argv[2])
"""


def test_resume_after_sigkill_requests_nothing_twice(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "seeds.jsonl", seeds(200))
    log = tmp_path / "calls.txt"
    script = tmp_path / "fake.yaml"
    script.write_text(f"default: ' a, b'\ncall_log: {log}\ndelay_s: 0.01\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    argv = [sys.executable, "-c", WRITER, str(tmp_path / "seeds.jsonl"),
            str(tmp_path / "concepts.jsonl"), str(script)]
    proc = subprocess.Popen(argv, env=env)
    time.sleep(1.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    asked_before = log.read_text().split()
    assert 0 < len(asked_before) < 200
    subprocess.run(argv, env=env, check=True)
    asked = log.read_text().split()
    kept = read_jsonl(tmp_path / "concepts.jsonl")
    assert len(kept) == 200 and len({r["parent"] for r in kept}) == 200
    # Only the batch in flight at the kill may be asked again: at most one batch of 4.
    assert len(asked) - 200 <= 4


def test_llm_cache_sends_nothing_twice(tmp_path: Path) -> None:
    from selfcodealign.generation.cache import CachedBackend

    inner = FakeBackend(rules=[("", "answer {n}")])
    cached = CachedBackend(inner, tmp_path / "cache.sqlite")
    params = SamplingParams(n=2)
    first = cached.generate(["a", "b"], params, seeds=[1, 2])
    assert [c.text for c in first[0]] == ["answer 0", "answer 1"] and len(inner.calls) == 2
    again = CachedBackend(FakeBackend(rules=[("", "other")]), tmp_path / "cache.sqlite")
    second = again.generate(["b", "a", "c"], params, seeds=[2, 1, 3])
    assert [c.text for c in second[1]] == ["answer 0", "answer 1"]  # from the cache
    assert again.inner.calls == ["c"] and (again.hits, again.misses) == (2, 1)  # type: ignore[attr-defined]
    changed = again.generate(["a"], SamplingParams(n=2, temperature=0.1), seeds=[1])
    assert changed[0][0].text == "other"  # other parameters: a miss


def test_shared_prefix_counts_tokens_with_a_tokenizer() -> None:
    class Tokenizing(FakeBackend):
        class tokenizer:
            @staticmethod
            def encode(text: str) -> list[str]:
                return text.split()

    stage = Instructions(Tokenizing(default="T"), PARAMS, seed=1, shots=8, prefix_groups=1)
    stage.process([{"id": f"c{i}", "concepts": "x"} for i in range(8)])
    metrics = stage.stats.metrics
    assert metrics["prefix_total_tokens"] > 0 and "prefix_total_chars" not in metrics
    assert metrics["prefix_share_last_batch"] > 0.8
