"""`selfcodealign seeds`: corpus in, seeds out (file mode or the run's seeds stage), resumable."""

from __future__ import annotations

import logging
from typing import Any

from selfcodealign.backends.base import LLMBackend
from selfcodealign.config import Config
from selfcodealign.executor import for_config
from selfcodealign.registry import StageContext
from selfcodealign.runner import Rec, run_stage
from selfcodealign.seeds.corpus import corpus_kind
from selfcodealign.seeds.judge import DocstringJudge
from selfcodealign.seeds.stage import Prepared, SeedMiner, file_records, prepare_shard
from selfcodealign.seeds.typecheck import (
    ShardedTypeChecker,
    SnippetChecker,
    TypeChecker,
    check_shard,
)
from selfcodealign.stageio import open_target
from selfcodealign.steps.common import decontaminator as make_decontaminator
from selfcodealign.store import iter_records

log = logging.getLogger(__name__)


def mine_seeds(config: Config, output_path: str | None = None, *, limit: int | None = None,
               force: bool = False, backend: LLMBackend | None = None) -> dict[str, Any]:
    """Run the seeds stage over `config.seeds.corpus`; returns a summary. `backend` (the run's
    one model, kept open) serves the optional docstring judge; by default the executor's."""
    cfg = config.seeds
    for spec in cfg.corpus:  # a missing corpus fails now, before benchmarks load or folders exist
        corpus_kind(spec)
    decontaminator, decontamination = make_decontaminator(config, "seeds")
    typechecker: SnippetChecker | None = (TypeChecker(batch_size=cfg.typecheck_batch)
                                          if cfg.typecheck else None)
    executor = for_config(config)
    judge = None
    if cfg.judge:
        if config.backend.model or config.backend.name == "fake":
            judge = DocstringJudge(backend if backend is not None else executor.llm_backend(),
                                   config.run.seed)
        else:
            log.warning("seeds.judge is on but no backend model is configured; skipping the "
                        "docstring judge")
    target = open_target(config, "seeds", output_path, force=force)
    preparer = None
    shards = executor.shard_map(prepare_shard, cfg, decontaminator,
                                (cfg.dedup_threshold, cfg.minhash_perms, cfg.shingle_size))
    if shards is not None:
        def preparer(batch: list[Rec]) -> Prepared:
            return Prepared.merge(shards(batch))

        if typechecker is not None:
            checks = executor.shard_map(check_shard, cfg.typecheck_batch)
            typechecker = ShardedTypeChecker(checks) if checks is not None else typechecker
    deduper = executor.near_index(cfg.dedup_threshold, cfg.minhash_perms, cfg.shingle_size)
    miner = SeedMiner(cfg, decontaminator=decontaminator, typechecker=typechecker, judge=judge,
                      preparer=preparer, deduper=deduper)
    directory = target.writer.directory
    restored = 0
    if target.writer.stats.inputs_done:  # resuming: the dedup index must know earlier seeds
        restored = miner.restore(iter_records(directory), iter_records(directory, "rejects"))
    target.writer.stats.info["seeds"] = miner.describe()
    target.writer.stats.info["decontamination"] = decontamination
    try:
        stats = run_stage(miner, file_records(cfg.corpus, cfg.column, cfg.split, cfg.data_dir),
                          target.writer, limit=limit)
    except BaseException:
        target.fail()
        raise
    finally:
        if deduper is not None:
            deduper.close()
        if judge is not None and backend is None:
            judge.backend.close()  # made here for the judge alone
    return {"kept": stats.kept, "dropped": dict(stats.dropped), "files": stats.inputs_done,
            "complete": stats.complete, "elapsed_s": stats.elapsed_s, "restored": restored,
            "metrics": dict(stats.metrics), **target.finish(stats)}


def run_step(ctx: StageContext) -> dict[str, Any]:
    """The seeds stage inside `selfcodealign run` (the judge asks the run's one model)."""
    return mine_seeds(ctx.config, None, limit=ctx.limit, force=ctx.force, backend=ctx.backend)
