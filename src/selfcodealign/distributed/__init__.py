"""Scale-out on Ray (`executor.name: ray`): the same stages, their work spread over a cluster.

The design keeps one writer: every stage still runs in the driver process, skips finished
inputs and writes to the run store exactly as it does locally. What moves to the cluster is
the expensive part behind two small interfaces:

- `RayBackend` (an LLMBackend): one engine per GPU group as Ray actors; a batch of prompts is
  split across them (data parallel) and the answers come back in order. The driver's LLM cache
  and the stage writer see only whole answers, so an actor that dies loses only the requests in
  flight, which go to the others (or to the restarted actor); nothing answered is asked again.
- `RaySandbox` (a SandboxFront): one sandbox actor per node, each a LocalSandbox with one
  zygote per core; the driver keeps linting, oracle mode and the result cache keyed by program
  hash, and sends jobs to the actors. Only infrastructure errors (an actor lost) are retried.

`connect(config)` joins the cluster at `executor.address` or starts a Ray instance here.
"""

from __future__ import annotations

from selfcodealign.distributed.cluster import connect, describe_cluster

__all__ = ["connect", "describe_cluster"]
