"""`selfcodealign evaluate`: score samples, or generate them from a model and score them.

Scoring only: `--benchmark B --samples S.jsonl --output R.json`. Generating: no `--samples`;
the configured backend writes `<results stem>.samples.jsonl` next to the results, then scores
it. Without `--output`, results go to the run directory: `runs/<name>/evaluate/<B>.results.json`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from selfcodealign.backends.base import LLMBackend
from selfcodealign.config import Config
from selfcodealign.errors import ConfigError
from selfcodealign.evaluation.run import evaluate_benchmarks
from selfcodealign.execution.base import Limits
from selfcodealign.executor import for_config
from selfcodealign.registry import StageContext, StageRun
from selfcodealign.stageio import begin, run_store
from selfcodealign.store import RunStore

log = logging.getLogger("selfcodealign.evaluation")


def _paths(config: Config, benchmark: str, output: str | None,
           many: bool) -> tuple[Path, Path]:
    """(results file, samples file) for one benchmark."""
    if output is None:
        folder = run_store(config).stage_dir("evaluate")
        results = folder / f"{benchmark}.results.json"
    elif many or Path(output).is_dir() or not output.endswith(".json"):
        results = Path(output) / f"{benchmark}.results.json"
    else:
        results = Path(output)
    name = results.name.removesuffix(".json").removesuffix(".results")
    return results, results.with_name(f"{name}.samples.jsonl")


def evaluate(config: Config, benchmark: str | None = None, samples: str | None = None,
             output: str | None = None, *, limit: int | None = None,
             show_progress: bool = True, backend: LLMBackend | None = None
             ) -> list[dict[str, Any]]:
    """Score (and, without `samples`, first generate) each benchmark; one summary each.

    `backend` serves generation when given (a model already in memory, as during training);
    otherwise the configured backend is created once, on first need, and closed at the end.
    """
    cfg = config.evaluate
    limit = limit if limit is not None else cfg.limit
    benchmarks: list[str] = [benchmark] if benchmark else list(cfg.benchmarks)
    if samples is not None and len(benchmarks) != 1:
        raise ConfigError("--samples needs --benchmark (humaneval or mbpp)")
    summaries: list[dict[str, Any]] = []
    store = run_store(config) if output is None else None
    if store is not None:
        begin(store, config, "evaluate")
    models = _Models(config, backend)
    try:
        _evaluate_all(config, benchmarks, samples, output, limit, show_progress, summaries,
                      store, models)
    except BaseException:
        if store is not None:
            store.end("interrupted")
        raise
    finally:
        models.close()
    if store is not None:
        store.end("ok")
    return summaries


class _Models:
    """The generation backend: the one given, or the configured one made on first use."""

    def __init__(self, config: Config, given: LLMBackend | None) -> None:
        self.config, self.given = config, given
        self._made: LLMBackend | None = None

    def get(self) -> LLMBackend:
        if self.given is not None:
            return self.given
        if self._made is None:
            self._made = for_config(self.config).llm_backend()
        return self._made

    def close(self) -> None:
        if self._made is not None:
            self._made.close()
            self._made = None


def _evaluate_all(config: Config, benchmarks: list[str], samples: str | None,
                  output: str | None, limit: int | None, show_progress: bool,
                  summaries: list[dict[str, Any]], store: RunStore | None,
                  models: _Models) -> None:
    cfg, ex = config.evaluate, config.execute

    def paths(name: str) -> tuple[Path, Path]:
        return _paths(config, name, output, len(benchmarks) > 1)

    def record(name: str, results: dict[str, Any], dataset: Any) -> None:
        if store is not None:
            store.record("evaluation", name, {
                "pass_at_k": results["pass_at_k"], "results": str(paths(name)[0]),
                "dataset_version": dataset.version, "dataset_md5": dataset.md5,
                "model": results["model"], "tasks": len(results["eval"])})

    limits = Limits(memory_mb=max(ex.memory_mb, 4096))
    with for_config(config).sandbox(limits, oracle=False) as box:
        summaries += evaluate_benchmarks(
            benchmarks, cfg, box=box, backend=models.get,
            paths=paths,
            samples=samples, limit=limit, seed=config.run.seed, model=config.backend.model,
            show_progress=show_progress,
            tokenizer=lambda backend: _local_tokenizer(config, backend), on_result=record)


def _local_tokenizer(config: Config, backend: LLMBackend) -> Any:
    """The evaluated model's tokenizer for the BOS rule: the backend's own, else (a server
    serving a model saved on this machine) the one saved next to the model; None otherwise."""
    own = getattr(backend, "tokenizer", None)
    if own is not None:
        return own
    model = config.backend.model
    if not model or not (Path(model) / "tokenizer_config.json").is_file():
        return None
    try:
        import transformers

        return transformers.AutoTokenizer.from_pretrained(model, local_files_only=True)
    except Exception:  # without it, the prompts only lack the BOS text
        log.warning("cannot load the tokenizer of %s; evaluation prompts carry no BOS text",
                    model)
        return None


def evaluate_in_run(config: Config, store: RunStore, stage: StageRun,
                    results: dict[str, Any]) -> None:
    """Score the run's trained model (or the base model) on each benchmark not scored yet;
    `stage` says what happened, `results["evaluation"]` gets the scores."""
    from selfcodealign.steps.train import evaluated_model

    folder = store.stage_dir("evaluate")
    todo = [b for b in config.evaluate.benchmarks
            if not (folder / f"{b}.results.json").is_file()]
    if not todo:
        stage.action, stage.complete, stage.note = "skipped", True, "scored"
    else:
        cfg = evaluated_model(config, store)
        cfg = cfg.model_copy(update={"evaluate": cfg.evaluate.model_copy(
            update={"benchmarks": todo})})
        evaluate(cfg)  # one model load and one sandbox for all of them
        stage.action, stage.complete = "ran", True
    scores = store.manifest().get("evaluation", {})
    results["evaluation"] = scores
    stage.kept = sum(int(s.get("tasks", 0)) for s in scores.values())
    stage.note = ", ".join(
        f"{b}+ {s['pass_at_k']['plus'].get('pass@1', 0.0):.1%}" for b, s in scores.items()
        if s.get("pass_at_k", {}).get("plus")) or stage.note


def run_step(ctx: StageContext) -> dict[str, Any]:
    evaluate_in_run(ctx.config, ctx.store, ctx.step, ctx.results)
    return ctx.step.summary
