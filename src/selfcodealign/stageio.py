"""Where a stage command writes: the run directory, or one JSONL file (file mode).

`open_target` gives the stage's writer after the settings guard; `finish` publishes a completed
file-mode stage (or closes the run's manifest entry) and says where the records went.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfcodealign.config import Config, config_hash, stage_settings, to_yaml
from selfcodealign.store import RunStore, StageStats, StageWriter, filemode
from selfcodealign.store.run import guard_settings
from selfcodealign.store.stage import StoreOptions


def run_store(config: Config) -> RunStore:
    """The run directory `run.root/run.name` names."""
    return RunStore(config.run.root / config.run.name)


def begin(store: RunStore, config: Config, command: str) -> None:
    """Record an invocation of `command` in the run, with the resolved config."""
    store.begin(command, config_yaml=to_yaml(config), config_hash=config_hash(config))


def store_options(config: Config) -> StoreOptions:
    """How the run's writers write (`run.*`: compression, shard size, flushing)."""
    run = config.run
    return StoreOptions(compress=run.compress, shard_size=run.shard_size,
                        flush_every=run.flush_every, flush_seconds=run.flush_seconds,
                        fsync=run.fsync)


def stage_writer(store: RunStore, config: Config, stage: str, *,
                 force: bool = False) -> StageWriter:
    """A writer for `stage` of the run: its fingerprint and the store options from `config`."""
    return store.open_stage(stage, stage_settings(config, stage), force=force,
                            options=store_options(config))


@dataclass
class Target:
    writer: StageWriter
    store: RunStore | None  # run mode
    output: Path | None  # file mode
    stage: str

    def finish(self, stats: StageStats) -> dict[str, Any]:
        """Publish what was written; returns where (and, in file mode, how many records)."""
        if self.output is not None:
            info: dict[str, Any] = {"written_to": str(self.output)}
            if stats.complete:
                info.update(filemode.finish(self.output))
            return info
        assert self.store is not None
        self.store.end("ok")
        return {"written_to": str(self.store.stage_dir(self.stage))}

    def fail(self) -> None:
        if self.store is not None:
            self.store.end("interrupted")


def open_target(config: Config, stage: str, output_path: str | None, *,
                force: bool = False, extra_settings: dict[str, Any] | None = None) -> Target:
    """The writer for `stage`: file mode with `output_path`, else the run's stage folder.
    `extra_settings` join the stage's fingerprint (e.g. the prompt templates' hash)."""
    settings = {**stage_settings(config, stage), **(extra_settings or {})}
    if output_path is not None:
        output = Path(output_path)
        filemode.check_output(output)
        parts = filemode.parts_dir(output)
        guard_settings(parts, stage, settings, force=force)
        return Target(StageWriter(parts, store_options(config)), None, output, stage)
    store = run_store(config)
    begin(store, config, stage)
    writer = store.open_stage(stage, settings, force=force, options=store_options(config))
    return Target(writer, store, None, stage)
