"""`selfcodealign execute`: wire config, input, sandbox, stage and store together.

Two ways to run: in a run directory (input from the run's `responses` stage or `--input`, output
to its `execute` stage), or file to file (`--input responses.jsonl --output executed.jsonl`).
Both resume: a rerun skips every record already executed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from selfcodealign.config import Config
from selfcodealign.execution.base import Limits
from selfcodealign.execution.stage import Execute
from selfcodealign.executor import for_config
from selfcodealign.registry import StageContext
from selfcodealign.runner import run_stage
from selfcodealign.stageio import open_target, require_input, run_store
from selfcodealign.store.jsonl import count_lines, read_jsonl


def limits_from(config: Config) -> Limits:
    ex = config.execute
    return Limits(timeout_s=ex.timeout_s, memory_mb=ex.memory_mb, output_limit=ex.output_limit,
                  profile=ex.profile)


def execute(
    config: Config,
    input_path: str | None = None,
    output_path: str | None = None,
    *,
    limit: int | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Run the execute stage; returns a summary (counts per status, rates, where it wrote)."""
    require_input(input_path)
    inputs: Iterable[dict[str, Any]]
    total: int | None
    if input_path is not None:
        inputs, total = read_jsonl(input_path), count_lines(input_path)
    else:
        upstream = run_store(config)
        inputs, total = upstream.read("responses"), upstream.count("responses") or None
    target = open_target(config, "execute", output_path, force=force)
    with for_config(config).sandbox(limits_from(config), oracle=config.execute.oracle) as box:
        isolation = box.describe()
        target.writer.stats.info["sandbox"] = isolation
        try:
            stats = run_stage(Execute(box, limits_from(config)), inputs, target.writer,
                              total=total, limit=limit)
        except BaseException:
            target.fail()
            raise
    return {
        "statuses": {k[len("status."):]: int(v) for k, v in stats.metrics.items()
                     if k.startswith("status.")},
        "pass_rate": stats.metrics.get("pass_rate", 0.0), "dropped": dict(stats.dropped),
        "inputs": stats.inputs_done, "kept": stats.kept,
        "complete": stats.complete, "elapsed_s": stats.elapsed_s, "isolation": isolation,
        **target.finish(stats),
    }


def run_step(ctx: StageContext) -> dict[str, Any]:
    """The execute stage inside `selfcodealign run`: the run's responses in, verdicts out."""
    return execute(ctx.config, None, None, force=ctx.force)
