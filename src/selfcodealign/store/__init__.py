"""The run store: one directory per run, one folder per stage, JSONL shards, resume by id."""

from selfcodealign.store.run import RunStore, settings_diff
from selfcodealign.store.stage import StageStats, StageWriter, StoreOptions, iter_records

__all__ = [
    "RunStore",
    "StageStats",
    "StageWriter",
    "StoreOptions",
    "iter_records",
    "settings_diff",
]
