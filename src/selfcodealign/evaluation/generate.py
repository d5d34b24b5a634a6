"""Generate HumanEval+ / MBPP+ samples from a model, in EvalPlus's sample format.

Prompts follow the paper (METHOD.md, "Stage 7"), in the same instruction format the model was
trained on (`training.format.build_prompt`), with the BOS text in front when the model's
tokenizer does not add BOS itself (`training.format.bos_prefix`: training sequences start with
one BOS, so the encoded prompt does too):

- HumanEval+: "Write a Python function to solve the following task:" and the problem (the
  function signature and docstring) in a python block;
- MBPP+: the problem text and its first assertion.

The response starts with `evaluate.response_prefix` (by default an opening python fence, so the
model answers with code) and generation stops at the closing fence. The code is the first python
block that defines the entry point (else the first block, else the whole text); for HumanEval+,
imports of the prompt that the code lacks are put in front (`from typing import List`, ...).
Samples are appended per batch to the samples file and a rerun generates only what is missing,
so a crash loses at most one batch and nothing finished is asked for again.
"""

from __future__ import annotations

import ast
import json
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selfcodealign.backends.base import LLMBackend, SamplingParams
from selfcodealign.codeblocks import solution_code
from selfcodealign.evaluation.data import Dataset, Problem
from selfcodealign.progress import Progress
from selfcodealign.training.format import bos_prefix, build_prompt

log = logging.getLogger("selfcodealign.evaluation")

HUMANEVAL_INSTRUCTION = "Write a Python function to solve the following task:"


def instruction(benchmark: str, problem: Problem) -> str:
    if benchmark == "humaneval":
        return f"{HUMANEVAL_INSTRUCTION}\n```python\n{problem.prompt.strip()}\n```"
    text = problem.prompt.strip().strip("'\"").strip()
    tests = [line.strip() for line in problem.assertion.splitlines() if line.strip()]
    return f"{text}\n\n{tests[0]}" if tests else text


def prompt_for(benchmark: str, problem: Problem, response_prefix: str, bos: str = "") -> str:
    """The prompt text; `bos` is `training.format.bos_prefix(tokenizer)` of the evaluated
    model's tokenizer, so the encoded prompt starts with one BOS as the training prompts do."""
    return bos + build_prompt(instruction(benchmark, problem)) + response_prefix


def extract_code(text: str, entry_point: str) -> str:
    """The solution code in a model's answer (see the module docstring)."""
    return solution_code(text, entry_point)


def _imports(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    return [ast.unparse(node) for node in tree.body
            if isinstance(node, ast.Import | ast.ImportFrom)]


def solution_from(benchmark: str, problem: Problem, answer: str) -> str:
    code = extract_code(answer, problem.entry_point)
    if benchmark == "humaneval":
        missing = [line for line in _imports(problem.prompt) if line not in code]
        if missing:
            code = "\n".join(missing) + "\n\n" + code
    return code


def _done(path: Path) -> Counter[str]:
    """Samples per task already in the file. A line cut by a crash is removed (and redone)."""
    done: Counter[str] = Counter()
    if not path.is_file():
        return done
    data = path.read_bytes()
    kept = []
    for line in data.splitlines(keepends=True):
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if line.endswith(b"\n") and isinstance(row, dict) and isinstance(row.get("task_id"), str):
            done[row["task_id"]] += 1
            kept.append(line)
    if len(b"".join(kept)) != len(data):
        path.write_bytes(b"".join(kept))
    return done


def generate_samples(dataset: Dataset, backend: LLMBackend, samples_path: str | Path, *,
                     n: int = 1, temperature: float = 0.0, max_tokens: int = 1024,
                     response_prefix: str = "```python\n", batch_size: int = 32,
                     limit: int | None = None, seed: int = 0, show_progress: bool = True,
                     on_batch: Callable[[int], None] | None = None,
                     tokenizer: Any = None) -> dict[str, Any]:
    """Write `n` samples per task to `samples_path` (appending; resumable); returns counts.
    The BOS rule comes from `tokenizer`, else from the backend's own tokenizer."""
    tokenizer = tokenizer if tokenizer is not None else getattr(backend, "tokenizer", None)
    bos = bos_prefix(tokenizer) if tokenizer is not None else ""
    path = Path(samples_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    problems = list(dataset.problems.values())[:limit]
    done = _done(path)
    todo = [(p, k) for p in problems for k in range(done[p.task_id], n)]
    stop = ("\n```",) if response_prefix.rstrip().startswith("```") else ()
    params = SamplingParams(temperature=temperature, max_tokens=max_tokens, n=1, stop=stop)
    if n > 1 and temperature == 0:
        log.warning("%d samples per task with greedy decoding are all the same; set "
                    "evaluate.temperature > 0 for pass@k", n)
    stats: Counter[str] = Counter()
    with Progress(f"{dataset.name} generation", len(problems) * n,
                  done=len(problems) * n - len(todo), enabled=show_progress) as progress, \
            path.open("a", encoding="utf-8") as sink:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            prompts = [prompt_for(dataset.name, p, response_prefix, bos) for p, _ in batch]
            seeds = [seed * 1_000_003 + hash_index(p.task_id, k) for p, k in batch]
            outputs = backend.generate(prompts, params, seeds=seeds)
            lines = []
            for (problem, _), completions in zip(batch, outputs, strict=True):
                completion = completions[0]
                answer = response_prefix + completion.text
                stats["completion_tokens"] += completion.completion_tokens
                stats[f"finish_{completion.finish_reason}"] += 1
                lines.append(json.dumps({
                    "task_id": problem.task_id,
                    "solution": solution_from(dataset.name, problem, answer),
                    "raw": completion.text, "finish_reason": completion.finish_reason}) + "\n")
            sink.write("".join(lines))
            sink.flush()
            progress.advance(len(batch))
            if on_batch is not None:
                on_batch(len(batch))
    return {"samples": len(problems) * n, "generated": len(todo), "path": str(path),
            **dict(stats)}


def hash_index(task_id: str, index: int) -> int:
    """A stable per-(task, sample) seed part (Python's hash() is salted per process)."""
    value = 0
    for ch in f"{task_id}#{index}":
        value = (value * 131 + ord(ch)) % 1_000_000_007
    return value
