"""The Ray executor: the same answers as the local one (`executor.py`), served by a cluster.

Engine actors behind one LLMBackend, a sandbox actor per node, per-shard maps as Ray tasks
(one shard per CPU of the cluster, shared arguments put in the object store once) and the
near-dedup index sharded by band over actors. The driver keeps the writer, resume and caches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from selfcodealign.backends.base import LLMBackend
from selfcodealign.config import Config
from selfcodealign.distributed.cluster import connect
from selfcodealign.execution.base import Limits
from selfcodealign.execution.sandbox import SandboxFront


class RayShardMap:
    """`fn(shard, *shared)` as Ray tasks over one shard per cluster CPU, results in order.
    The tasks are pure, so Ray retries one whose worker died."""

    def __init__(self, ray: Any, fn: Callable[..., Any], shared: tuple[Any, ...]) -> None:
        self.ray = ray
        self.shared = [ray.put(value) for value in shared]  # shipped once, shared by tasks
        self.task = ray.remote(fn).options(num_cpus=1, max_retries=3)
        self.shards = max(1, int(ray.cluster_resources().get("CPU", 1)))

    def __call__(self, items: list[Any]) -> list[Any]:
        size = max(1, -(-len(items) // self.shards))
        return list(self.ray.get([self.task.remote(items[start:start + size], *self.shared)
                                  for start in range(0, len(items), size)]))


class RayExecutor:
    name = "ray"

    def __init__(self, config: Config) -> None:
        self.config = config
        self._ray: Any = None

    @property
    def ray(self) -> Any:
        if self._ray is None:
            self._ray = connect(self.config.executor)
        return self._ray

    def llm_backend(self) -> LLMBackend:
        from selfcodealign.distributed.backend import RayBackend

        return RayBackend(self.config)

    def sandbox(self, limits: Limits, *, oracle: bool = True) -> SandboxFront:
        from selfcodealign.distributed.sandbox import RaySandbox

        ex = self.config.execute
        return RaySandbox(self.config.executor, limits, oracle=oracle, base_uid=ex.base_uid,
                          preload=tuple(ex.preload), disable_layers=tuple(ex.disable_layers))

    def shard_map(self, fn: Callable[..., Any], *shared: Any) -> RayShardMap:
        return RayShardMap(self.ray, fn, shared)

    def near_index(self, threshold: float, perms: int, shingle: int) -> Any:
        from selfcodealign.distributed.lsh import ShardedDeduper

        shards = self.config.executor.lsh_shards or len(self.ray.nodes())
        return ShardedDeduper(self.ray, threshold, perms, shingle, shards)
