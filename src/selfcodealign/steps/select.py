"""`selfcodealign select`: executed samples in, the SFT dataset out (file or run mode).

File mode: `--input executed.jsonl --output DIR` writes DIR/selected.jsonl (+ .rejects.jsonl,
.stats.json), DIR/contamination.json and the exported dataset (DIR/data.jsonl, data.parquet,
hf/, README.md). Run mode: the run's `execute` stage in, its `select` stage out, the dataset in
runs/<name>/dataset/. Both resume: the first pass is re-read, finished samples are skipped, and
the dedup state is rebuilt from the samples already kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from selfcodealign import registry
from selfcodealign.config import Config
from selfcodealign.executor import for_config
from selfcodealign.progress import Progress
from selfcodealign.registry import StageContext
from selfcodealign.runner import Rec
from selfcodealign.selection.export import export
from selfcodealign.selection.stage import Selector
from selfcodealign.stageio import open_target, require_input, run_store
from selfcodealign.steps.common import decontaminator as make_decontaminator
from selfcodealign.steps.execute import limits_from
from selfcodealign.store import RunStore, iter_records
from selfcodealign.store.files import atomic_write
from selfcodealign.store.jsonl import read_jsonl


def _seed_sources(records: Iterable[Rec]) -> dict[str, dict[str, str]]:
    return {str(r["id"]): dict(r.get("source") or {}) for r in records}


def _generating_model(store: RunStore) -> str | None:
    """The model that wrote the responses, from the run's responses stage settings."""
    meta = store.stage_dir("responses") / "stage.json"
    if not meta.exists():
        return None
    settings = orjson.loads(meta.read_bytes()).get("settings", {})
    return settings.get("backend.model") or None


def select(config: Config, input_path: str | None = None, output_dir: str | None = None, *,
           seeds_path: str | None = None, force: bool = False) -> dict[str, Any]:
    cfg = config.select
    require_input(input_path)
    require_input(seeds_path)
    store = run_store(config)

    def inputs() -> Iterator[Rec]:
        return iter(read_jsonl(input_path)) if input_path else store.read("execute")

    folder = Path(output_dir) if output_dir else store.path / "dataset"
    folder.mkdir(parents=True, exist_ok=True)
    target = open_target(config, "select", str(folder / "selected.jsonl") if output_dir
                         else None, force=force)
    writer = target.writer
    decontaminator, decontamination = make_decontaminator(config, "select")
    writer.stats.info["decontamination"] = decontamination
    limits = limits_from(config)
    executor = for_config(config)
    box = executor.sandbox(limits) if cfg.check_tests else None
    selector = Selector(cfg, config.run.seed, decontaminator=decontaminator, sandbox=box,
                        limits=limits, workdir=writer.directory, make_index=executor.near_index)
    try:
        selector.first_pass(inputs(), writer)
        selector.restore(iter_records(writer.directory), iter_records(writer.directory,
                                                                      "rejects"))
        with Progress("select", selector.instructions) as bar:
            selector.second_pass(writer, on_batch=bar.advance)
        writer.stats.metrics.update({f"contamination.{k}": float(v)
                                     for k, v in selector.contamination.items()})
        for why, count in selector.augmentation.items():  # this session's kept samples
            key = f"augmentation.{why}"
            writer.stats.metrics[key] = writer.stats.metrics.get(key, 0.0) + float(count)
        stats = writer.close(complete=True)
    except BaseException:
        target.fail()
        raise
    finally:
        selector.close()
        if box is not None:
            box.close()
    hits = selector.hits
    published = target.finish(stats)
    kept = read_jsonl(folder / "selected.jsonl") if output_dir else store.read("select")
    sources = _seed_sources(read_jsonl(seeds_path)) if seeds_path else (
        _seed_sources(store.read("seeds")) if not output_dir and
        (store.stage_dir("seeds")).is_dir() else {})
    stages = ({s: store.stage_stats(s) for s in registry.names()
               if store.stage_dir(s).is_dir()}
              if not output_dir else {"select": stats.to_dict()})
    card = {"stages": stages, "dropped": dict(stats.dropped.most_common()),
            "contamination": dict(selector.contamination), "benchmarks": cfg.benchmarks,
            "model": config.backend.model or _generating_model(store),
            "settings": {"backend": config.backend.model_dump(mode="json"),
                         "sampling": config.sampling.model_dump(mode="json"),
                         "select": cfg.model_dump(mode="json")}}
    atomic_write(folder / "contamination.json", orjson.dumps(
        {"counts": dict(selector.contamination), "hits": hits}, option=orjson.OPT_INDENT_2))
    exported = export(kept, folder, seed_sources=sources, card=card,
                      push_to_hub=cfg.push_to_hub)
    return {"kept": stats.kept, "dropped": dict(stats.dropped), "complete": stats.complete,
            "inputs": stats.inputs_done,
            "contamination": dict(selector.contamination), "dataset": exported, **published}


def run_step(ctx: StageContext) -> dict[str, Any]:
    """The select stage inside `selfcodealign run`: the run's executed samples in, its
    dataset out."""
    return select(ctx.config, None, None, force=ctx.force)
