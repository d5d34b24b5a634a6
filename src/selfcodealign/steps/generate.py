"""`selfcodealign concepts | instructions | responses`: one LLM stage, file or run mode.

Input: `--input FILE.jsonl` or the run's upstream stage (seeds -> concepts -> instructions ->
responses); output: `--output FILE.jsonl` or the run's stage folder. `--dry-run` renders the
first prompt and counts the requests and tokens the stage would send, without a model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from selfcodealign import registry
from selfcodealign.backends import SamplingParams
from selfcodealign.backends.base import LLMBackend
from selfcodealign.config import Config
from selfcodealign.errors import ConfigError
from selfcodealign.executor import for_config
from selfcodealign.generation.base import item_rng
from selfcodealign.generation.cache import CachedBackend
from selfcodealign.generation.stages import STAGE_CLASSES, STOPS, FewshotStage
from selfcodealign.prompts import load_library, template_hash
from selfcodealign.registry import StageContext
from selfcodealign.runner import Rec, run_stage
from selfcodealign.stageio import open_target, require_input, run_store
from selfcodealign.store.jsonl import count_lines, read_jsonl


def build_stage(config: Config, name: str, backend: Any) -> FewshotStage:
    section = getattr(config, name)
    library = load_library(config.generation.fewshot)
    sampling = config.sampling
    params = SamplingParams(temperature=sampling.temperature, top_p=sampling.top_p,
                            max_tokens=sampling.max_tokens, n=section.n, stop=STOPS[name])
    common = {"seed": config.run.seed, "shots": section.shots,
              "batch_size": section.batch_size, "prefix_groups": section.prefix_groups,
              "library": library, "early_stop": config.generation.early_stop,
              "stream": config.generation.stream}
    stage_class = STAGE_CLASSES[name]
    return stage_class(backend, params, **common, **stage_class.options(section))


def _inputs(config: Config, name: str, input_path: str | None
            ) -> tuple[Iterable[Rec], int | None]:
    require_input(input_path)
    if input_path is not None:
        return read_jsonl(input_path), count_lines(input_path)
    store = run_store(config)
    upstream = registry.upstream(name)
    assert upstream is not None
    return store.read(upstream), store.count(upstream) or None


def dry_run(config: Config, name: str, input_path: str | None) -> dict[str, Any]:
    """The first fully rendered prompt and what the stage would send (no model needed)."""
    inputs, _ = _inputs(config, name, input_path)
    stage = build_stage(config, name, backend=None)
    requests, prompt_chars, first = 0, 0, None
    for record in inputs:
        text, _ = stage.prompt(record, item_rng(config.run.seed, record["id"]))
        first = first if first is not None else text
        requests += 1
        prompt_chars += len(text)
    n = getattr(config, name).n
    return {"first_prompt": first or "", "requests": requests, "completions": requests * n,
            "prompt_tokens_estimate": prompt_chars // 4,
            "max_completion_tokens": requests * n * config.sampling.max_tokens}


def render_prompt(config: Config, name: str, input_path: str | None, index: int = 0,
                  shots: list[int] | None = None) -> str:
    """The prompt the stage sends for record `index` (from 0) of its usual input: its own
    per-item shots, or the library's examples at the 1-based `shots` positions."""
    inputs, _ = _inputs(config, name, input_path)
    stage = build_stage(config, name, backend=None)
    chosen = stage.library.pick(shots) if shots is not None else None
    seen = 0
    for position, record in enumerate(inputs):
        seen = position + 1
        if position == index:
            return stage.render_prompt(record, chosen)
    source = input_path or f"the run's {registry.upstream(name)} stage"
    raise ConfigError(f"--index {index}: {source} has {seen} record(s)")


def generate(config: Config, name: str, input_path: str | None = None,
             output_path: str | None = None, *, limit: int | None = None,
             force: bool = False, backend: LLMBackend | None = None) -> dict[str, Any]:
    """Run one LLM stage; returns a summary. `backend` (kept open) serves it when given, so
    several stages share one loaded model; by default the configured one is made and closed."""
    inputs, total = _inputs(config, name, input_path)
    library = load_library(config.generation.fewshot)
    target = open_target(config, name, output_path, force=force,
                         extra_settings={"prompts.template": template_hash(library)})
    owned = backend is None  # made here, so closed here
    model: Any = for_config(config).llm_backend() if owned else backend
    backend = model
    if config.run.llm_cache:
        if target.output is not None:
            cache_path = target.output.with_name(target.output.name + ".llm-cache.sqlite")
        else:
            assert target.store is not None
            cache_path = target.store.path / "llm-cache.sqlite"
        backend = CachedBackend(model, cache_path)
    stage = build_stage(config, name, backend)
    target.writer.stats.info["fewshot"] = {"source": library.source, "sha256": library.digest,
                                           "examples": len(library.examples)}
    target.writer.stats.info["backend"] = {"name": config.backend.name,
                                           "model": config.backend.model,
                                           "revision": config.backend.revision}
    try:
        stats = run_stage(stage, inputs, target.writer, total=total, limit=limit)
    except BaseException:
        target.fail()
        raise
    finally:
        if isinstance(backend, CachedBackend):
            backend.close_cache()
        if owned:
            model.close()
    metrics = stats.metrics
    unit = "tokens" if "prefix_total_tokens" in metrics else "chars"
    prompt_units = metrics.get(f"prefix_total_{unit}", 0.0)
    return {"kept": stats.kept, "dropped": dict(stats.dropped), "complete": stats.complete,
            "inputs": stats.inputs_done,
            "requests": int(metrics.get("requests", 0)),
            "completion_tokens": int(metrics.get("completion_tokens", 0)),
            "shared_prefix": metrics.get(f"prefix_shared_{unit}", 0.0) / prompt_units
            if prompt_units else 0.0,
            "cache_hits": getattr(backend, "hits", 0),
            "elapsed_s": stats.elapsed_s, **target.finish(stats)}


def run_step(ctx: StageContext) -> dict[str, Any]:
    """An LLM stage inside `selfcodealign run`, served by the run's one model."""
    name = ctx.step.name
    if not ctx.config.backend.model and ctx.config.backend.name != "fake":
        raise ConfigError(f"stage '{name}' needs a model: set backend.model or pass --model")
    return generate(ctx.config, name, None, None, force=ctx.force, backend=ctx.backend)
