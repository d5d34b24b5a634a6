"""HumanEval+ / MBPP+ scores at every checkpoint, from the model being trained.

`BenchmarkCallback` is a transformers `TrainerCallback`. After each checkpoint save it switches
the model in memory to eval mode, generates the benchmark samples with it (the paper's prompts,
greedy by default: the `evaluate.*` settings), scores them in the sandbox, and puts the model
back in training mode. Nothing is reloaded from disk. For each checkpoint it writes

    <output_dir>/checkpoint-<step>/eval/<benchmark>.samples.jsonl and .results.json

appends one line per checkpoint to `<output_dir>/benchmark_history.jsonl`, and logs
`<benchmark>_pass@1` and `<benchmark>+_pass@1` through the trainer, so TensorBoard or W&B plot
them next to the loss. Only the main process evaluates; with several GPUs the others wait at the
next synchronisation, so keep `train.eval_limit` small there or score checkpoints afterwards
with `selfcodealign evaluate --model <checkpoint>`. A resumed run re-scores nothing: a checkpoint
whose scoring a crash cut short is finished when training resumes from it (samples already
written are kept, so nothing is generated twice).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import orjson
from transformers import TrainerCallback

from selfcodealign.backends.transformers import TransformersBackend
from selfcodealign.config import Config
from selfcodealign.evaluation.run import evaluate_benchmarks
from selfcodealign.execution.base import Limits
from selfcodealign.execution.sandbox import SandboxFront

log = logging.getLogger(__name__)

HISTORY_FILE = "benchmark_history.jsonl"


def score_metrics(summaries: list[dict[str, Any]]) -> dict[str, float]:
    """{"humaneval_pass@1": ..., "humaneval+_pass@1": ...} from evaluation summaries."""
    metrics: dict[str, float] = {}
    for summary in summaries:
        name = summary["benchmark"]
        for kind, suffix in (("base", ""), ("plus", "+")):
            for k, value in summary["pass_at_k"][kind].items():
                metrics[f"{name}{suffix}_{k}"] = float(value)
    return metrics


class BenchmarkCallback(TrainerCallback):
    """Scores the in-memory model on the configured benchmarks after each checkpoint save."""

    def __init__(self, config: Config,
                 sandbox: Callable[[Limits], AbstractContextManager[SandboxFront]]) -> None:
        """`sandbox(limits)` opens the sandbox that scores each checkpoint's samples (the
        executor's, handed in by the caller)."""
        self.config = config
        self.sandbox = sandbox
        self.trainer: Any = None  # set after the trainer exists, to log through it
        self.resumed_from: Path | None = None  # the checkpoint training resumes from
        self.history: list[dict[str, Any]] = []

    def scored(self, checkpoint: Path) -> bool:
        """Whether every configured benchmark has results for `checkpoint`."""
        return all((checkpoint / "eval" / f"{name}.results.json").exists()
                   for name in self.config.train.eval_benchmarks)

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None,
                       processing_class: Any = None, **_: Any) -> None:
        """Finish the scoring of the checkpoint being resumed from, if a crash cut it short
        (the trainer has loaded its weights by now)."""
        resumed = self.resumed_from
        if (resumed is None or not state.is_world_process_zero or model is None
                or processing_class is None or self.scored(resumed)):
            return
        step = int(resumed.name.rsplit("-", 1)[-1])
        log.info("finishing the benchmark scores of %s", resumed)
        self.evaluate(model, processing_class, resumed, step)

    def on_save(self, args: Any, state: Any, control: Any, model: Any = None,
                processing_class: Any = None, **_: Any) -> None:
        if not state.is_world_process_zero or model is None or processing_class is None:
            return
        checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        metrics = self.evaluate(model, processing_class, checkpoint, state.global_step)
        if self.trainer is not None:
            self.trainer.log(dict(metrics))

    def evaluate(self, model: Any, tokenizer: Any, checkpoint: Path, step: int
                 ) -> dict[str, float]:
        train, cfg = self.config.train, self.config.evaluate
        backend = TransformersBackend.from_loaded(model, tokenizer, name=str(checkpoint),
                                                  batch_size=cfg.batch_size)
        folder = checkpoint / "eval"
        limits = Limits(memory_mb=max(self.config.execute.memory_mb, 4096))
        was_training = model.training
        model.eval()
        try:
            with self.sandbox(limits) as box:
                summaries = evaluate_benchmarks(
                    list(train.eval_benchmarks), cfg, box=box, backend=lambda: backend,
                    paths=lambda name: (folder / f"{name}.results.json",
                                        folder / f"{name}.samples.jsonl"),
                    limit=train.eval_limit, seed=self.config.run.seed, model=str(checkpoint),
                    show_progress=False, tokenizer=lambda b: tokenizer)
        finally:
            if was_training:
                model.train()
        metrics = score_metrics(summaries)
        entry = {"step": step, "checkpoint": str(checkpoint), "limit": train.eval_limit,
                 **metrics}
        self.history.append(entry)
        with (checkpoint.parent / HISTORY_FILE).open("ab") as fh:
            fh.write(orjson.dumps(entry) + b"\n")
        log.info("checkpoint %d: %s", step,
                 ", ".join(f"{k} {v:.1%}" for k, v in metrics.items()))
        return metrics
