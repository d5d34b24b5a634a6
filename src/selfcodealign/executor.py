"""Where the work runs: the factories every stage uses for its model and its sandbox.

With `executor.name: local` (the default) these are the configured backend and a LocalSandbox;
with `ray` they are their Ray counterparts (distributed/), built lazily so the local path never
imports Ray.
"""

from __future__ import annotations

from selfcodealign.backends.base import LLMBackend
from selfcodealign.config import Config
from selfcodealign.execution.base import Limits
from selfcodealign.execution.sandbox import LocalSandbox, SandboxFront


def llm_backend(config: Config) -> LLMBackend:
    """The model the LLM stages call."""
    if config.executor.name == "ray":
        from selfcodealign.distributed.backend import RayBackend

        return RayBackend(config)
    from selfcodealign.backends import create_backend

    return create_backend(config.backend, config.run.seed)


def sandbox(config: Config, limits: Limits, *, oracle: bool = True) -> SandboxFront:
    """The sandbox that runs the untrusted programs of the execute and select stages."""
    ex = config.execute
    if config.executor.name == "ray":
        from selfcodealign.distributed.sandbox import RaySandbox

        return RaySandbox(config.executor, limits, oracle=oracle, base_uid=ex.base_uid,
                          preload=tuple(ex.preload), disable_layers=tuple(ex.disable_layers))
    return LocalSandbox(workers=ex.workers, limits=limits, oracle=oracle, base_uid=ex.base_uid,
                        preload=tuple(ex.preload), disable_layers=tuple(ex.disable_layers))
