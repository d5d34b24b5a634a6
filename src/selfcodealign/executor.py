"""Where the work runs: the one object every stage asks for its model, sandbox and scale-out.

`for_config(config)` returns the configured executor. Both kinds answer the same questions:

- `llm_backend()`: the model the LLM stages call (the configured backend here; engine actors on
  a cluster);
- `sandbox(limits)`: what runs the untrusted programs of execute, select and evaluate;
- `shard_map(fn, *shared)`: a per-shard map for pure batch work (`fn(items, *shared)` on shards
  of a batch, results in input order), or None where the stage should do it in its own loop;
- `near_index(threshold, perms, shingle)`: a near-dedup index, or None for the stage's
  in-process one.

The local executor is this module; the Ray one lives in `distributed/` and is imported only
when chosen. Stages and their steps never test which one they got: they use what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from selfcodealign.backends.base import LLMBackend
from selfcodealign.config import Config
from selfcodealign.execution.base import Limits
from selfcodealign.execution.sandbox import LocalSandbox, SandboxFront

ShardMap = Callable[[list[Any]], list[Any]]


class Executor(Protocol):
    """What a stage may ask of where it runs."""

    name: str

    def llm_backend(self) -> LLMBackend: ...

    def sandbox(self, limits: Limits, *, oracle: bool = True) -> SandboxFront: ...

    def shard_map(self, fn: Callable[..., Any], *shared: Any) -> ShardMap | None: ...

    def near_index(self, threshold: float, perms: int, shingle: int) -> Any | None: ...


class LocalExecutor:
    """Everything on this machine: the configured backend, a LocalSandbox with one zygote per
    worker, batch work and dedup in the stage's own process."""

    name = "local"

    def __init__(self, config: Config) -> None:
        self.config = config

    def llm_backend(self) -> LLMBackend:
        from selfcodealign.backends import create_backend

        return create_backend(self.config.backend, self.config.run.seed)

    def sandbox(self, limits: Limits, *, oracle: bool = True) -> SandboxFront:
        ex = self.config.execute
        return LocalSandbox(workers=ex.workers, limits=limits, oracle=oracle,
                            base_uid=ex.base_uid, preload=tuple(ex.preload),
                            disable_layers=tuple(ex.disable_layers))

    def shard_map(self, fn: Callable[..., Any], *shared: Any) -> ShardMap | None:
        return None  # the stage's own loop is the fastest place for it here

    def near_index(self, threshold: float, perms: int, shingle: int) -> Any | None:
        return None


def for_config(config: Config) -> Executor:
    """The executor `config.executor` names."""
    if config.executor.name == "ray":
        from selfcodealign.distributed.executor import RayExecutor

        return RayExecutor(config)
    return LocalExecutor(config)
