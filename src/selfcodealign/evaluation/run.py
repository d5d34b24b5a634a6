"""Evaluate a model on benchmarks: the library function behind `selfcodealign evaluate` and the
per-checkpoint scores of training.

`evaluate_benchmarks` generates each benchmark's samples with a backend (unless samples are
given), scores them in the sandbox it is handed, and returns one summary per benchmark. Where
the backend and the sandbox come from, and where the results are recorded, is the caller's
business (steps/evaluate.py for the command and `run`, training/checkpoints.py for training).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selfcodealign.backends.base import LLMBackend
from selfcodealign.config.schema import EvaluateConfig
from selfcodealign.evaluation.data import load_dataset
from selfcodealign.evaluation.score import TimeLimits, read_samples, score
from selfcodealign.execution.sandbox import SandboxFront

log = logging.getLogger("selfcodealign.evaluation")


def evaluate_benchmarks(
    benchmarks: list[str], cfg: EvaluateConfig, *, box: SandboxFront,
    backend: Callable[[], LLMBackend] | None, paths: Callable[[str], tuple[Path, Path]],
    samples: str | None = None, limit: int | None = None, seed: int = 3407,
    model: str | None = None, show_progress: bool = True,
    tokenizer: Callable[[LLMBackend], Any] | None = None,
    on_result: Callable[[str, dict[str, Any], Any], None] | None = None,
) -> list[dict[str, Any]]:
    """Generate (without `samples`) and score each benchmark; one summary each.

    `backend()` gives the model on first need; `paths(benchmark)` gives (results file, samples
    file); `tokenizer(backend)` the evaluated model's tokenizer for the BOS rule (or None);
    `on_result(benchmark, results, dataset)` is called after each benchmark is scored.
    """
    summaries: list[dict[str, Any]] = []
    for name in benchmarks:
        dataset = load_dataset(name, cfg.dataset_dir)
        results_path, samples_path = paths(name)
        generation: dict[str, Any] = {}
        if samples is None:
            if backend is None:
                raise ValueError("evaluate_benchmarks needs a backend or samples")
            model_backend = backend()
            generation = generate(cfg, model_backend, dataset, samples_path, limit, seed,
                                  show_progress,
                                  tokenizer(model_backend) if tokenizer is not None else None)
            source = samples_path
        else:
            source = Path(samples)
        rows, skipped = read_samples(source, dataset)
        if samples is not None and limit is not None:
            keep = set(list(dict.fromkeys(r.task_id for r in rows))[:limit])
            rows = [r for r in rows if r.task_id in keep]
        results = score(dataset, rows, results_path, box=box,
                        limits=TimeLimits(cfg.min_time_limit, cfg.time_limit_factor),
                        show_progress=show_progress,
                        extra={"samples": str(source), "skipped_samples": skipped,
                               "model": model if samples is None else None,
                               "generation": generation or None})
        summaries.append({"benchmark": name, "results": str(results_path),
                          "samples": str(source), "pass_at_k": results["pass_at_k"],
                          "tasks": len(results["eval"]), "failures": results["failures"],
                          "skipped": skipped, "dataset_version": dataset.version,
                          "scoring_s": results["scoring_s"]})
        if on_result is not None:
            on_result(name, results, dataset)
    return summaries


def generate(cfg: EvaluateConfig, backend: LLMBackend, dataset: Any, samples_path: Path,
             limit: int | None, seed: int, show_progress: bool, tokenizer: Any
             ) -> dict[str, Any]:
    """The benchmark's samples from `backend`, with the evaluate settings (resumable)."""
    from selfcodealign.evaluation.generate import generate_samples

    return generate_samples(dataset, backend, samples_path, n=cfg.n_samples,
                            temperature=cfg.temperature, max_tokens=cfg.max_tokens,
                            profile=cfg.prompt_profile, extract=cfg.extract_code,
                            batch_size=cfg.batch_size, limit=limit, seed=seed,
                            show_progress=show_progress, tokenizer=tokenizer)
