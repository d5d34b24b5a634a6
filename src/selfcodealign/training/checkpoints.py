"""HumanEval+ / MBPP+ scores at every checkpoint (`train.eval_benchmarks`).

Two ways, chosen by `train.eval_from` (`auto`: `memory` for one process, `checkpoint` under a
multi-process or sharded launch):

- `memory` (`BenchmarkCallback`): after each save the model in memory is switched to eval
  mode, generates the benchmark samples (the paper's prompts, greedy by default: the
  `evaluate.*` settings), they are scored in the sandbox, and training resumes. Nothing is
  reloaded. Only one whole, unsharded model can do this.
- `checkpoint` (`ScorerQueue`): after each save the checkpoint's weights are staged and a
  separate process scores them (training/scoring.py), from the saved files, so it works with
  any number of processes and with FSDP / DeepSpeed ZeRO-3 shards. Training does not wait for
  it where the scorer has devices of its own (`train.eval_devices`, or CPU training); otherwise
  the checkpoints are scored in order once training ends.

Either way each checkpoint's samples, results and scores go to
`<output_dir>/benchmark_scores/checkpoint-<step>/` (out of reach of checkpoint rotation), one
line per checkpoint is appended to `<output_dir>/benchmark_history.jsonl`, and
`<benchmark>_pass@1` / `<benchmark>+_pass@1` are logged through the trainer so TensorBoard or
W&B plot them next to the loss. A resumed run re-scores nothing and finishes what a crash cut
short, keeping the samples already written.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO, Any

import orjson
from transformers import Trainer, TrainerCallback

from selfcodealign.backends.transformers import TransformersBackend
from selfcodealign.config import Config
from selfcodealign.evaluation.run import evaluate_benchmarks
from selfcodealign.execution.base import Limits
from selfcodealign.execution.sandbox import SandboxFront
from selfcodealign.training.scoring import (
    JOB_FILE,
    LOG_FILE,
    SCORES_DIR,
    SCORES_FILE,
    numbered_checkpoints,
    record_history,
    score_metrics,
    scorer_env,
    scores_dir,
    stage_weights,
    step_of,
)

log = logging.getLogger(__name__)

__all__ = ["BenchmarkCallback", "ScorerQueue", "score_metrics"]


def _log(trainer: Any, metrics: dict[str, float]) -> None:
    """Log scores through the trainer's callbacks (TensorBoard, W&B) with the plain Trainer's
    `log`: TRL's would fold in (and clear) its running training metrics, and it needs the
    model, which is gone once training has ended."""
    if trainer is not None and metrics:
        Trainer.log(trainer, dict(metrics))


def _report(entry: dict[str, Any]) -> dict[str, float]:
    metrics = {k: float(v) for k, v in entry.items()
               if k not in ("step", "checkpoint", "limit") and isinstance(v, int | float)}
    log.info("checkpoint %d: %s", entry["step"],
             ", ".join(f"{k} {v:.1%}" for k, v in metrics.items()))
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

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None,
                       processing_class: Any = None, **_: Any) -> None:
        """Finish the scoring of the checkpoint being resumed from, if a crash cut it short
        (the trainer has loaded its weights by now)."""
        resumed = self.resumed_from
        if (resumed is None or not state.is_world_process_zero or model is None
                or processing_class is None):
            return
        step = step_of(resumed)
        if (scores_dir(args.output_dir, step) / SCORES_FILE).is_file():
            return
        log.info("finishing the benchmark scores of %s", resumed)
        self.evaluate(model, processing_class, Path(args.output_dir), step)

    def on_save(self, args: Any, state: Any, control: Any, model: Any = None,
                processing_class: Any = None, **_: Any) -> None:
        if not state.is_world_process_zero or model is None or processing_class is None:
            return
        metrics = self.evaluate(model, processing_class, Path(args.output_dir),
                                state.global_step)
        _log(self.trainer, metrics)

    def evaluate(self, model: Any, tokenizer: Any, output_dir: Path, step: int
                 ) -> dict[str, float]:
        train, cfg = self.config.train, self.config.evaluate
        checkpoint = output_dir / f"checkpoint-{step}"
        backend = TransformersBackend.from_loaded(model, tokenizer, name=str(checkpoint),
                                                  batch_size=cfg.batch_size)
        folder = scores_dir(output_dir, step)
        folder.mkdir(parents=True, exist_ok=True)
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
        entry = {"step": step, "checkpoint": str(checkpoint), "limit": train.eval_limit,
                 **score_metrics(summaries)}
        (folder / SCORES_FILE).write_bytes(orjson.dumps(entry))
        record_history(output_dir, entry)
        self.history.append(entry)
        return _report(entry)


class ScorerQueue(TrainerCallback):
    """Stages each saved checkpoint and scores it in a separate process, one at a time, in
    step order (see training/scoring.py). Only the main process acts."""

    def __init__(self, config: Config, base_model: str, output_dir: str, *,
                 devices: str | None, concurrent: bool) -> None:
        """`devices`: the scorer's CUDA_VISIBLE_DEVICES ("cpu": none; None: inherited);
        `concurrent`: score while training runs (else only in `finish`)."""
        self.config, self.base_model = config, base_model
        self.output_dir = Path(output_dir)
        self.devices, self.concurrent = devices, concurrent
        self.trainer: Any = None
        self.resumed_from: Path | None = None
        self.history: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []
        self.pending: list[Path] = []  # staged score folders, oldest step first
        self.running: tuple[Path, subprocess.Popen[bytes], IO[bytes]] | None = None

    # -- trainer events (every process calls them; the main one acts) --------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if not state.is_world_process_zero:
            return
        for folder in numbered_checkpoints(self.output_dir / SCORES_DIR):
            if (folder / SCORES_FILE).is_file():  # scored, perhaps not yet in the history
                record_history(self.output_dir, orjson.loads((folder / SCORES_FILE).read_bytes()))
            elif (folder / "model").is_dir():  # staged, not scored: with today's settings
                job = folder / JOB_FILE
                checkpoint = (orjson.loads(job.read_bytes())["checkpoint"] if job.is_file()
                              else str(self.output_dir / folder.name))
                self._write_job(folder, step_of(folder), checkpoint)
                self._enqueue(folder)
        # checkpoints saved but never staged (a crash or a fault between saving and staging)
        for checkpoint in numbered_checkpoints(self.output_dir):
            folder = scores_dir(self.output_dir, step_of(checkpoint))
            if not (folder / SCORES_FILE).is_file() and folder not in self.pending:
                self._stage(checkpoint)
        self.poll()

    def on_save(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if state.is_world_process_zero:
            self._stage(Path(args.output_dir) / f"checkpoint-{state.global_step}")
            self.poll()

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if state.is_world_process_zero and (self.running is not None or self.pending):
            self.poll()

    # -- the queue -------------------------------------------------------------------------------
    def _stage(self, checkpoint: Path) -> None:
        """Stage `checkpoint` for scoring; a file-system fault costs its scores, not the
        training (a later resume stages the checkpoint again while it exists)."""
        step = step_of(checkpoint)
        folder = scores_dir(self.output_dir, step)
        try:
            stage_weights(checkpoint, folder / "model")
            self._write_job(folder, step, str(checkpoint))
        except OSError as exc:
            self.failures.append({"step": step, "error": f"error: cannot stage: {exc}",
                                  "log": str(folder)})
            log.warning("cannot stage %s for scoring (%s); it is not scored", checkpoint, exc)
            return
        self._enqueue(folder)

    def _write_job(self, folder: Path, step: int, checkpoint: str) -> None:
        job = {"config": self.config.model_dump(mode="json"), "step": step,
               "checkpoint": checkpoint, "base_model": self.base_model}
        (folder / JOB_FILE).write_bytes(orjson.dumps(job))

    def _enqueue(self, folder: Path) -> None:
        if folder not in self.pending:
            self.pending.append(folder)
            self.pending.sort(key=step_of)

    def poll(self, *, start: bool | None = None) -> None:
        """Collect a finished scorer and start the next one (when scoring may run now)."""
        if self.running is not None:
            folder, proc, logfile = self.running
            if proc.poll() is None:
                return
            logfile.close()
            self.running = None
            self._collect(folder, proc.returncode)
        may_start = self.concurrent if start is None else start
        if may_start and self.pending:
            folder = self.pending.pop(0)
            logfile = (folder / LOG_FILE).open("ab")
            proc = subprocess.Popen(
                [sys.executable, "-m", "selfcodealign.training.scoring", str(folder / JOB_FILE)],
                env=scorer_env(self.devices), stdin=subprocess.DEVNULL, stdout=logfile,
                stderr=subprocess.STDOUT)
            self.running = (folder, proc, logfile)
            log.info("scoring %s in process %d", folder.name, proc.pid)

    def _collect(self, folder: Path, code: int) -> None:
        scores = folder / SCORES_FILE
        if code == 0 and scores.is_file():
            entry = orjson.loads(scores.read_bytes())
            record_history(self.output_dir, entry)
            self.history.append(entry)
            metrics = _report(entry)
            _log(self.trainer, metrics)
            return
        lines = (folder / LOG_FILE).read_text(errors="replace").strip().splitlines()
        why = next((line for line in reversed(lines) if line.startswith("error:")),
                   lines[-1] if lines else f"exit code {code}")
        self.failures.append({"step": step_of(folder), "error": why,
                              "log": str(folder / LOG_FILE)})
        log.warning("scoring %s failed (%s); it is tried again when training resumes; "
                    "log: %s", folder.name, why, folder / LOG_FILE)

    def finish(self) -> None:
        """Score every checkpoint still waiting, in order, and wait for the last one."""
        if self.pending or self.running is not None:
            log.info("scoring %d checkpoint(s) after training",
                     len(self.pending) + (self.running is not None))
        while self.running is not None or self.pending:
            self.poll(start=True)
            if self.running is not None:
                try:
                    self.running[1].wait(timeout=1.0)
                except subprocess.TimeoutExpired:
                    continue
        if self.trainer is not None:  # scores logged after training: write them out now
            for callback in self.trainer.callback_handler.callbacks:
                writer = getattr(callback, "tb_writer", None)
                if writer is not None:
                    writer.flush()

    def close(self) -> None:
        """Stop a scorer still running (training failed or was interrupted)."""
        if self.running is not None:
            _, proc, logfile = self.running
            proc.kill()
            proc.wait()
            logfile.close()
            self.running = None
