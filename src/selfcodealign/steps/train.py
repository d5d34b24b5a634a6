"""The train stage inside `selfcodealign run`: the run's dataset in, `<run>/train/` out.

Trained once: `train/done.json` marks a finished training, and a rerun skips it. The fake
backend has no weights, and an empty dataset has nothing to teach; both skip with a note (then
`evaluate` scores the base model).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from selfcodealign.config import Config
from selfcodealign.errors import ConfigError
from selfcodealign.registry import StageContext, StageRun
from selfcodealign.store import RunStore
from selfcodealign.store.files import atomic_write

log = logging.getLogger(__name__)

TRAIN_DONE = "done.json"


def train_in_run(config: Config, store: RunStore, stage: StageRun, *, force: bool) -> None:
    """Fine-tune the base model on the run's dataset, once; `stage` says what happened."""
    folder = store.path / "train"
    done = folder / TRAIN_DONE
    if done.is_file():
        summary = orjson.loads(done.read_bytes())
        stage.action, stage.note, stage.complete = "skipped", "trained", True
        stage.kept = int(summary.get("examples", 0))
        stage.total_seconds = float(summary.get("seconds", 0.0))
        return
    if config.backend.name == "fake":
        stage.action, stage.complete = "skipped", True
        stage.note = "the fake backend has no weights to train"
        return
    if not config.backend.model:
        raise ConfigError("train needs a base model: set backend.model or pass --model")
    chosen = store.stage_stats("select")
    if chosen.get("complete") and int(chosen.get("kept", 0)) == 0:
        # A small model may leave no sample standing: nothing to fine-tune, and `evaluate`
        # then scores the base model, which is what a run's user asks to see.
        stage.action, stage.complete = "skipped", True
        stage.note = "the dataset is empty: nothing to train (evaluate scores the base model)"
        log.warning("train: the dataset is empty; nothing to train, evaluating the base model")
        return
    from selfcodealign.training.sft import train

    started = time.monotonic()
    summary = train(str(store.path / "dataset"), config.backend.model, str(folder),
                    config.train, seed=config.run.seed, config=config,
                    gguf_file=config.backend.gguf_file)
    summary["seconds"] = round(time.monotonic() - started, 3)
    atomic_write(done, orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    store.record("reproduction", "trained_model", str(folder))
    stage.action, stage.complete, stage.kept = "ran", True, int(summary["examples"])
    stage.total_seconds = summary["seconds"]
    stage.summary = summary
    stage.note = f"{summary['steps']} steps, final loss {summary['train_loss']:.4f}"


def evaluated_model(config: Config, store: RunStore) -> Config:
    """The config that evaluates the trained model when there is one, else the base model.
    A trained model is served by the transformers backend unless vLLM is configured (an
    OpenAI-compatible server serves the base model, not the run's checkpoint)."""
    trained = store.path / "train"
    if not (trained / TRAIN_DONE).is_file():
        return config
    from selfcodealign.training.scoring import scorer_config

    return scorer_config(config, trained)


def run_step(ctx: StageContext) -> dict[str, Any]:
    train_in_run(ctx.config, ctx.store, ctx.step, force=ctx.force)
    return ctx.step.summary
