"""Where a stage command writes: the run directory, or one JSONL file (file mode).

`open_target` gives the stage's writer after the settings guard; `finish` publishes a completed
file-mode stage (or closes the run's manifest entry) and says where the records went.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selfcodealign.config import Config, config_hash, stage_settings, to_yaml
from selfcodealign.errors import EmptyInputError, InputError
from selfcodealign.store import RunStore, StageStats, StageWriter, filemode
from selfcodealign.store.run import guard_settings
from selfcodealign.store.stage import StoreOptions


def require_input(path: str | None) -> None:
    """Fail at once, before anything is created, when an input file does not exist."""
    if path is not None and not Path(path).is_file():
        why = " (a folder, not a JSONL file)" if Path(path).is_dir() else ""
        raise InputError(f"input file not found: {path}{why}")


def _unusable(reason: str) -> bool:
    return reason == "invalid_json_line" or reason.startswith(("missing_", "bad_"))


def require_usable(summary: dict[str, Any], source: str) -> None:
    """After a single-stage command: EmptyInputError (exit 4) when its input held no record
    (an empty file or stage) or none the stage could use (every one unparsable or lacking
    what the stage needs). The stage is still complete; the code tells a script that nothing
    was made from nothing."""
    inputs = int(summary.get("inputs", -1))
    if inputs == 0:
        raise EmptyInputError(f"{source} holds no records: nothing was made")
    dropped = summary.get("dropped") or {}
    unusable = {r: int(n) for r, n in dropped.items() if _unusable(str(r))}
    if inputs > 0 and sum(unusable.values()) >= inputs and not int(summary.get("kept", 0) or 0):
        why = ", ".join(f"{n} {r}" for r, n in sorted(unusable.items(), key=lambda x: -x[1]))
        raise EmptyInputError(f"no record of {source} could be used ({why}): nothing was made")


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
        filemode.check_output(output, force=force)
        parts = filemode.parts_dir(output)
        guard_settings(parts, stage, settings, force=force)
        return Target(StageWriter(parts, store_options(config)), None, output, stage)
    store = run_store(config)
    begin(store, config, stage)
    writer = store.open_stage(stage, settings, force=force, options=store_options(config))
    return Target(writer, store, None, stage)
