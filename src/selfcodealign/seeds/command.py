"""`selfcodealign seeds`: corpus in, seeds out (file mode or the run's seeds stage), resumable."""

from __future__ import annotations

import logging
from typing import Any

from selfcodealign.config import Config
from selfcodealign.executor import llm_backend
from selfcodealign.overlap.decontam import Decontaminator
from selfcodealign.runner import run_stage
from selfcodealign.seeds.judge import DocstringJudge
from selfcodealign.seeds.stage import SeedMiner, file_records
from selfcodealign.seeds.typecheck import SnippetChecker, TypeChecker
from selfcodealign.stageio import open_target
from selfcodealign.store import iter_records

log = logging.getLogger(__name__)


def mine_seeds(config: Config, output_path: str | None = None, *, limit: int | None = None,
               force: bool = False) -> dict[str, Any]:
    """Run the seeds stage over `config.seeds.corpus`; returns a summary."""
    cfg = config.seeds
    benchmark_dir = str(cfg.benchmark_dir) if cfg.benchmark_dir else None
    decontaminator = (Decontaminator(cfg.benchmarks, benchmark_dir, ngram=cfg.ngram)
                      if cfg.decontaminate and cfg.benchmarks else None)
    typechecker: SnippetChecker | None = (TypeChecker(batch_size=cfg.typecheck_batch)
                                          if cfg.typecheck else None)
    judge = None
    if cfg.judge:
        if config.backend.model or config.backend.name == "fake":
            judge = DocstringJudge(llm_backend(config), config.run.seed)
        else:
            log.warning("seeds.judge is on but no backend model is configured; skipping the "
                        "docstring judge")
    target = open_target(config, "seeds", output_path, force=force)
    preparer = deduper = None
    if config.executor.name == "ray":
        from selfcodealign.distributed.lsh import ShardedDeduper
        from selfcodealign.distributed.seeds import RayPreparer, RayTypeChecker

        preparer = RayPreparer(config, decontaminator)
        if typechecker is not None:
            typechecker = RayTypeChecker(preparer, cfg.typecheck_batch)
        deduper = ShardedDeduper(preparer.ray, cfg.dedup_threshold, cfg.minhash_perms,
                                 cfg.shingle_size, config.executor.lsh_shards or
                                 len(preparer.ray.nodes()))
    miner = SeedMiner(cfg, decontaminator=decontaminator, typechecker=typechecker, judge=judge,
                      preparer=preparer, deduper=deduper)
    directory = target.writer.directory
    restored = 0
    if target.writer.stats.inputs_done:  # resuming: the dedup index must know earlier seeds
        restored = miner.restore(iter_records(directory), iter_records(directory, "rejects"))
    target.writer.stats.info["seeds"] = miner.describe()
    try:
        stats = run_stage(miner, file_records(cfg.corpus, cfg.column, cfg.split, cfg.data_dir),
                          target.writer, limit=limit)
    except BaseException:
        target.fail()
        raise
    finally:
        if deduper is not None:
            deduper.close()
    return {"kept": stats.kept, "dropped": dict(stats.dropped), "files": stats.inputs_done,
            "complete": stats.complete, "elapsed_s": stats.elapsed_s, "restored": restored,
            "metrics": dict(stats.metrics), **target.finish(stats)}
