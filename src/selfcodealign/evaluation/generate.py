"""Generate HumanEval+ / MBPP+ samples from a model, in EvalPlus's sample format.

The prompts follow an evaluation prompt profile (`profiles.py`; `evaluate.prompt_profile`,
by default `paper`, the harness behind StarCoder2-15B-Instruct's published numbers, where the
model continues the HumanEval+ problem so its helper functions stay in the solution), wrapped in
the evaluated model's own training format (its tokenizer's saved chat template, else this
project's format, with one BOS either way). Each sample line holds the `solution` (the prompt +
the completion, as EvalPlus scores a completion; or, with `evaluate.extract_code`, the first
python block of the answer that defines the entry point), the raw completion and the profile.
Samples are appended per batch to the samples file and a rerun generates only what is missing,
so a crash loses at most one batch and nothing finished is asked for again.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selfcodealign.backends.base import LLMBackend, SamplingParams
from selfcodealign.codeblocks import solution_code
from selfcodealign.evaluation.data import Dataset, Problem
from selfcodealign.evaluation.profiles import Wrapper, get_profile, solution, task_prompt
from selfcodealign.progress import Progress

log = logging.getLogger("selfcodealign.evaluation")


def instruction(benchmark: str, problem: Problem, profile: str = "paper") -> str:
    return task_prompt(get_profile(profile), benchmark, problem)[0]


def prompt_for(benchmark: str, problem: Problem, profile: str = "paper",
               tokenizer: Any = None) -> str:
    """The whole prompt text sent for one problem."""
    text, prefix = task_prompt(get_profile(profile), benchmark, problem)
    return Wrapper(tokenizer)(text, prefix)


def extract_code(text: str, entry_point: str) -> str:
    """The solution code in a chat-style answer: the first python block defining the entry
    point (else the first block, else the whole text)."""
    return solution_code(text, entry_point)


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
                     profile: str = "paper", extract: bool = False, batch_size: int = 32,
                     limit: int | None = None, seed: int = 0, show_progress: bool = True,
                     on_batch: Callable[[int], None] | None = None,
                     tokenizer: Any = None) -> dict[str, Any]:
    """Write `n` samples per task to `samples_path` (appending; resumable); returns counts.
    The BOS rule comes from `tokenizer`, else from the backend's own tokenizer."""
    tokenizer = tokenizer if tokenizer is not None else getattr(backend, "tokenizer", None)
    chosen = get_profile(profile)
    wrap = Wrapper(tokenizer)
    path = Path(samples_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    problems = list(dataset.problems.values())[:limit]
    done = _done(path)
    todo = [(p, k) for p in problems for k in range(done[p.task_id], n)]
    params = SamplingParams(temperature=temperature, max_tokens=max_tokens, n=1,
                            stop=chosen.stop)
    if n > 1 and temperature == 0:
        log.warning("%d samples per task with greedy decoding are all the same; set "
                    "evaluate.temperature > 0 for pass@k", n)
    stats: Counter[str] = Counter()
    with Progress(f"{dataset.name} generation", len(problems) * n,
                  done=len(problems) * n - len(todo), enabled=show_progress) as progress, \
            path.open("a", encoding="utf-8") as sink:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            parts = [task_prompt(chosen, dataset.name, p) for p, _ in batch]
            prompts = [wrap(text, prefix) for text, prefix in parts]
            seeds = [seed * 1_000_003 + hash_index(p.task_id, k) for p, k in batch]
            outputs = backend.generate(prompts, params, seeds=seeds)
            lines = []
            for (problem, _), (_, prefix), completions in zip(batch, parts, outputs,
                                                              strict=True):
                completion = completions[0]
                stats["completion_tokens"] += completion.completion_tokens
                stats[f"finish_{completion.finish_reason}"] += 1
                code = solution(chosen, dataset.name, problem, prefix, completion.text,
                                extract=extract)
                lines.append(json.dumps({
                    "task_id": problem.task_id, "solution": code, "raw": completion.text,
                    "finish_reason": completion.finish_reason, "profile": chosen.name,
                    "extracted": extract}) + "\n")
            sink.write("".join(lines))
            sink.flush()
            progress.advance(len(batch))
            if on_batch is not None:
                on_batch(len(batch))
    return {"samples": len(problems) * n, "generated": len(todo), "path": str(path),
            "prompt_profile": chosen.name, "extract_code": extract, **dict(stats)}


def hash_index(task_id: str, index: int) -> int:
    """A stable per-(task, sample) seed part (Python's hash() is salted per process)."""
    value = 0
    for ch in f"{task_id}#{index}":
        value = (value * 131 + ord(ch)) % 1_000_000_007
    return value
