"""The seeds stage's per-file work as Ray tasks over shards of each batch.

Decoding, parsing, extraction, the filters, benchmark decontamination, the normalised-source
digests and the MinHash sketches of a batch of files are split into one shard per CPU of the
cluster and computed by Ray tasks (retried by Ray if a worker dies: they are pure). The
decontamination automaton goes to the object store once. What depends on order (exact and
near dedup against everything kept so far, the type check, the judge) stays in the driver, with
one global index, so the seeds are the ones the local executor keeps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from selfcodealign.config import Config
from selfcodealign.distributed.cluster import connect
from selfcodealign.overlap.decontam import Decontaminator
from selfcodealign.runner import Rec
from selfcodealign.seeds.stage import Prepared


def _prepare_shard(batch: list[Rec], cfg: Any, decontaminator: Decontaminator | None,
                   sketch: tuple[float, int, int]) -> Prepared:
    from selfcodealign.overlap.minhash import Deduper
    from selfcodealign.seeds.stage import prepare

    return prepare(batch, cfg, decontaminator, Deduper(*sketch))


class RayPreparer:
    """`prepare` for a SeedMiner, spread over the cluster's CPUs."""

    def __init__(self, config: Config, decontaminator: Decontaminator | None) -> None:
        self.ray = connect(config.executor)
        self.cfg = config.seeds
        self.sketch = (self.cfg.dedup_threshold, self.cfg.minhash_perms, self.cfg.shingle_size)
        self.decontaminator = self.ray.put(decontaminator)  # shipped once, shared by tasks
        self.task = self.ray.remote(_prepare_shard).options(num_cpus=1, max_retries=3)
        self.shards = max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def __call__(self, batch: list[Rec]) -> Prepared:
        size = -(-len(batch) // self.shards)
        parts = self.ray.get([
            self.task.remote(batch[start:start + size], self.cfg, self.decontaminator,
                             self.sketch)
            for start in range(0, len(batch), size)])
        merged = Prepared({}, [], [], [], [])
        for part in parts:  # in input order
            merged.drops.update(part.drops)
            merged.candidates += part.candidates
            merged.hits += part.hits
            merged.digests += part.digests
            assert part.sketches is not None and merged.sketches is not None
            merged.sketches += part.sketches
        return merged


def _typecheck_shard(snippets: dict[str, str], batch_size: int) -> tuple[dict[str, list[str]],
                                                                          int]:
    from selfcodealign.seeds.typecheck import TypeChecker

    checker = TypeChecker(batch_size=batch_size)
    return checker.check(snippets), checker.calls


class RayTypeChecker:
    """The seeds' type check (basedpyright) as Ray tasks, one shard of snippets per CPU."""

    def __init__(self, preparer: RayPreparer, batch_size: int) -> None:
        self.ray, self.shards, self.batch_size = preparer.ray, preparer.shards, batch_size
        self.task = self.ray.remote(_typecheck_shard).options(num_cpus=1, max_retries=3)
        self.calls = 0

    def check(self, snippets: Mapping[str, str]) -> dict[str, list[str]]:
        items = list(snippets.items())
        size = max(1, -(-len(items) // self.shards))
        errors: dict[str, list[str]] = {}
        for found, calls in self.ray.get([
                self.task.remote(dict(items[start:start + size]), self.batch_size)
                for start in range(0, len(items), size)]):
            errors.update(found)
            self.calls += calls
        return errors
