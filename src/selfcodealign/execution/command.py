"""`selfcodealign execute`: wire config, input, sandbox, stage and store together.

Two ways to run: in a run directory (input from the run's `responses` stage or `--input`, output
to its `execute` stage), or file to file (`--input responses.jsonl --output executed.jsonl`).
Both resume: a rerun skips every record already executed.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from selfcodealign.config import Config, stage_settings
from selfcodealign.execution.base import Limits
from selfcodealign.execution.sandbox import LocalSandbox
from selfcodealign.execution.stage import Execute
from selfcodealign.runner import run_stage
from selfcodealign.store import RunStore, StageWriter, filemode, options_from
from selfcodealign.store.jsonl import count_lines, read_jsonl
from selfcodealign.store.run import guard_settings


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
    store: RunStore | None = None
    inputs: Iterable[dict[str, Any]]
    total: int | None
    if input_path is not None:
        inputs, total = read_jsonl(input_path), count_lines(input_path)
    else:
        store = RunStore.for_config(config)
        inputs, total = store.read("responses"), store.count("responses") or None
    settings = stage_settings(config, "execute")
    if output_path is not None:
        output = Path(output_path)
        filemode.check_output(output)
        parts = filemode.parts_dir(output)
        guard_settings(parts, "execute", settings, force=force)
        writer = StageWriter(parts, options_from(config))
    else:
        store = store or RunStore.for_config(config)
        store.begin(config, "execute")
        writer = store.writer(config, "execute", force=force)
    with LocalSandbox(workers=config.execute.workers, limits=limits_from(config),
                      oracle=config.execute.oracle, base_uid=config.execute.base_uid,
                      preload=tuple(config.execute.preload),
                      disable_layers=tuple(config.execute.disable_layers)) as box:
        isolation = box.describe()
        writer.stats.info["sandbox"] = isolation
        stage = Execute(box, limits_from(config))
        try:
            stats = run_stage(stage, inputs, writer, total=total, limit=limit)
        except BaseException:
            if store is not None and output_path is None:
                store.end("interrupted")
            raise
    summary: dict[str, Any] = {
        "statuses": {k[len("status."):]: int(v) for k, v in stats.metrics.items()
                     if k.startswith("status.")},
        "pass_rate": stats.metrics.get("pass_rate", 0.0), "dropped": dict(stats.dropped),
        "complete": stats.complete, "elapsed_s": stats.elapsed_s,
        "isolation": isolation,
    }
    if output_path is not None:
        summary["written_to"] = str(output_path)
        if stats.complete:
            summary.update(filemode.finish(Path(output_path)))
    else:
        assert store is not None
        store.end("ok")
        summary["written_to"] = str(store.stage_dir("execute"))
    return summary

