"""`selfcodealign run`: every stage in order in one run directory, resumable anywhere.

The stages are the same functions the single-stage commands call, so a run and a sequence of
stage commands produce the same records. Each stage resumes itself (finished inputs are skipped,
cached LLM answers are not asked again); the pipeline adds:

- skipping: a stage that is complete and has consumed all of its upstream's records is not
  reopened, so a finished run reruns in seconds and loads no model;
- one model for all LLM stages: the backend is created on the first request any stage sends,
  and closed at the end;
- stopping at an incomplete stage (inputs deferred after transient errors): later stages never
  run on a partial input, and the rerun retries what was deferred;
- `train` and `evaluate` after `select` when `run.until` asks for them: training reads the
  run's dataset and writes `<run>/train/`, evaluation scores the trained model (or the base
  model with `until: evaluate` and no training) into `<run>/evaluate/`;
- the reproduction manifest (`manifest.json` "reproduction": resolved config, prompt and
  few-shot hashes, models, library versions) and a per-stage summary (`"pipeline"`).

`--limit N` limits the seeds stage to N corpus inputs in all (files or rows), a small trial that
a rerun continues rather than extends; later stages take everything upstream made.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from selfcodealign import registry
from selfcodealign.backends.base import Completion, LLMBackend, SamplingParams
from selfcodealign.config import Config, to_yaml
from selfcodealign.errors import ConfigError, InputError
from selfcodealign.models import resolve_model
from selfcodealign.registry import StageContext, StageRun
from selfcodealign.stageio import begin, run_store
from selfcodealign.store import RunStore
from selfcodealign.store.stage import now_iso

log = logging.getLogger(__name__)

__all__ = ["LazyBackend", "PipelineResult", "StageRun", "dry_run_plan", "planned",
           "reproduction", "run_pipeline"]


def planned(config: Config) -> list[str]:
    """The stages `run` goes through, in order, up to `run.until` (the stage table's order)."""
    names = registry.names()
    return list(names[:names.index(config.run.until) + 1])


class LazyBackend:
    """The configured backend, created on the first request (a finished run loads no model)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.name: str = config.backend.name
        self.model: str = config.backend.model or config.backend.name
        self.revision = config.backend.revision  # part of the LLM cache key
        self._inner: LLMBackend | None = None
        self.created_at: float | None = None

    @property
    def inner(self) -> LLMBackend:
        if self._inner is None:
            from selfcodealign.executor import for_config

            log.info("loading %s (%s backend)", self.model, self.name)
            self._inner = for_config(self.config).llm_backend()
            self.created_at = time.time()
        return self._inner

    @property
    def loaded(self) -> bool:
        return self._inner is not None

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        return self.inner.generate(prompts, params, seeds)

    def __getattr__(self, name: str) -> Any:  # e.g. `tokenizer`, only once loaded
        if name.startswith("_") or self._inner is None:
            raise AttributeError(name)
        return getattr(self._inner, name)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
            self._inner = None


@dataclass
class PipelineResult:
    run_dir: Path
    stages: list[StageRun]
    complete: bool
    stopped_at: str | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def prompt_hashes(config: Config | None = None) -> dict[str, Any]:
    """sha256 (16 hex) of the few-shot library in use and of the prompt modules shipped."""
    from selfcodealign.prompts import load_library, template_hash

    library = load_library(config.generation.fewshot if config is not None else None)
    base = resources.files("selfcodealign.prompts")
    sources = {entry.name: _sha(entry.read_bytes()) for entry in base.iterdir()
               if entry.name.endswith(".py")}
    return {"templates": template_hash(library),
            "fewshot": {"source": library.source, "sha256": library.digest[:16],
                        "examples": len(library.examples)},
            "modules": sources}


def reproduction(config: Config, trained: str | None = None) -> dict[str, Any]:
    """Everything needed to make the run again (besides the store's environment block)."""
    backend = config.backend
    models: dict[str, Any] = {"generation": {"backend": backend.name, "model": backend.model,
                                             "revision": backend.revision}}
    if backend.model and backend.name in ("transformers", "vllm"):
        with contextlib.suppress(ConfigError):  # the backend reports it when it is built
            models["generation"] |= resolve_model(backend.model, backend.gguf_file).describe()
    if backend.name == "fake" and backend.script:
        models["generation"]["script_sha256"] = _sha(Path(backend.script).read_bytes()) \
            if Path(backend.script).is_file() else None
    if trained:
        models["trained"] = trained
    return {"config": orjson.loads(orjson.dumps(config.model_dump(mode="json"))),
            "config_yaml_sha256": _sha(to_yaml(config).encode()),
            "prompts": prompt_hashes(config), "models": models, "recorded_at": now_iso()}


def _is_current(store: RunStore, stage: str) -> bool:
    """Complete, and it has consumed everything its upstream stage holds now."""
    stats = store.stage_stats(stage)
    if not stats.get("complete"):
        return False
    upstream = registry.upstream(stage)
    if upstream is None:
        return True
    up = store.stage_stats(upstream)
    return bool(up.get("complete")) and int(stats.get("inputs_done", -1)) == int(up.get("kept", 0))


def run_pipeline(config: Config, *, limit: int | None = None, force: bool = False,
                 on_stage: Callable[[int, int, str], None] | None = None) -> PipelineResult:
    """Run every planned stage that is not current; stop at the first incomplete one."""
    plan = planned(config)
    store = run_store(config)
    if "seeds" in plan and not _is_current(store, "seeds"):
        from selfcodealign.seeds.corpus import corpus_kind

        for spec in config.seeds.corpus:  # a missing corpus fails before anything is created
            corpus_kind(spec)
    begin(store, config, "run")
    store.record("reproduction", "run", reproduction(config))
    backend = LazyBackend(config)
    stages = [StageRun(name) for name in plan]
    result = PipelineResult(store.path, stages, complete=False)
    status = "interrupted"
    try:
        for index, stage in enumerate(stages, 1):
            if on_stage is not None:
                on_stage(index, len(stages), stage.name)
            started = time.monotonic()
            _run_one(config, store, stage, backend, limit=limit, force=force, result=result)
            if stage.name == registry.names("llm")[-1]:
                backend.close()  # free the GPUs (or Ray actors) for execution and training
            stage.seconds = round(time.monotonic() - started, 3)
            _record(store, stages)
            if stage.action == "stopped":
                result.stopped_at = stage.name
                break
        else:
            result.complete = True
        status = "ok" if result.complete else "incomplete"
    finally:
        backend.close()
        _record(store, stages)
        store.end(status, command="run")
    return result


def _record(store: RunStore, stages: list[StageRun]) -> None:
    store.record("pipeline", "stages", {
        s.name: {"action": s.action, "kept": s.kept, "dropped": s.dropped,
                 "complete": s.complete, "seconds": s.seconds,
                 "total_seconds": s.total_seconds, "note": s.note} for s in stages})


def _run_one(config: Config, store: RunStore, stage: StageRun, backend: LazyBackend, *,
             limit: int | None, force: bool, result: PipelineResult) -> None:
    spec = registry.get(stage.name)
    ctx = StageContext(config, store, backend, stage, force=force)
    if not spec.makes_records:  # trains or scores a model; it says itself what it did
        spec.load()(ctx)
        result.evaluation = ctx.results.get("evaluation", result.evaluation)
        return
    name, first = spec.name, spec.upstream is None
    # --limit is the first stage's total number of corpus inputs, so a rerun of the same
    # command continues the same trial instead of mining N more
    left = None if limit is None or not first else \
        max(0, limit - int(store.stage_stats(name).get("inputs_done", 0)))
    if _is_current(store, name) or left == 0:
        stage.action, stage.note = "skipped", "complete"
    else:
        if spec.kind == "llm" and not config.backend.model and config.backend.name != "fake":
            raise ConfigError(f"stage '{name}' needs a model: set backend.model or pass --model")
        ctx.limit = left
        stage.summary = spec.load()(ctx)
        stage.action = "ran"
    stats = store.stage_stats(name)
    stage.kept, stage.dropped = int(stats.get("kept", 0)), int(stats.get("dropped", 0))
    stage.complete = bool(stats.get("complete"))
    stage.total_seconds = float(stats.get("elapsed_s", 0.0))
    limited = first and limit is not None
    if first and not stage.kept and (stage.complete or limited):
        settings = ("seeds.corpus, the seed filters" if name == "seeds" else
                    f"the {spec.section or name} settings")
        made = "seed functions were mined" if name == "seeds" else f"{name} records were made"
        raise InputError(f"no {made} from {stats.get('inputs_done', 0)} corpus inputs; check "
                         f"{settings} (see the {name} stage's rejects) or raise --limit")
    if not stage.complete and not limited:
        stage.action = "stopped"
        deferred = stats.get("metrics", {}).get("deferred", 0)
        stage.note = (f"incomplete ({int(deferred)} inputs deferred after transient "
                      "errors); rerun to retry them" if deferred else
                      "incomplete; rerun to continue")
    elif not stage.complete:
        stage.note = f"limited to {limit} corpus inputs"


def dry_run_plan(config: Config) -> dict[str, Any]:
    """What `run` would do and cost, without running or loading anything."""
    from selfcodealign.generation.base import item_rng
    from selfcodealign.steps.generate import build_stage

    store = run_store(config)
    seeds = store.stage_stats("seeds")
    counts = {"seeds": int(seeds["kept"])} if seeds else {}
    per = int(seeds["kept"]) if seeds.get("complete") else None
    basis = per if per is not None else 1000
    samples = {
        "concepts": {"id": "x", "seed": "def f(values: list[int]) -> int:\n    \"\"\"Sum the "
                     "even values.\"\"\"\n    return sum(v for v in values if v % 2 == 0)\n"},
        "instructions": {"id": "x", "concepts": "iteration, filtering, accumulation"},
        "responses": {"id": "x", "instruction": "Write a Python function that returns the "
                      "sum of the even numbers of a list, with tests."},
    }
    rows: list[dict[str, Any]] = []
    total = {"requests": 0, "completions": 0, "prompt_tokens": 0, "completion_tokens": 0}
    for name in planned(config):
        spec = registry.get(name)
        stats = store.stage_stats(name) if spec.makes_records else {}
        state = ("complete" if stats.get("complete") else "partial") if stats else "not started"
        row: dict[str, Any] = {"stage": name, "state": state,
                               "kept": stats.get("kept"), "dropped": stats.get("dropped")}
        if spec.kind == "llm" and name in samples and spec.upstream is not None:
            upstream = store.stage_stats(spec.upstream)
            # what the stage will get: its upstream's records when that is finished, else
            # one input per seed (S->C->I are one to one; I->R is one request per task)
            inputs = int(upstream["kept"]) if upstream.get("complete") else basis
            n = getattr(config, name).n
            stage = build_stage(config, name, backend=None)
            prompt, _ = stage.prompt(samples[name], item_rng(config.run.seed, "x"))
            done = int(stats.get("inputs_done", 0)) if stats else 0
            todo = 0 if stats.get("complete") else max(0, inputs - done)
            row.update(requests=todo, completions=todo * n,
                       prompt_tokens=todo * (len(prompt) // 4),
                       completion_tokens=todo * n * config.sampling.max_tokens)
            for key in total:
                total[key] += row[key]
        rows.append(row)
    return {"run_dir": str(store.path), "backend": config.backend.name,
            "model": config.backend.model, "seeds": counts.get("seeds"),
            "seeds_complete": per is not None, "basis_seeds": basis, "stages": rows,
            "total": total}
