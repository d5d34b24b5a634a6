"""Sandbox workers as Ray actors: one LocalSandbox (a zygote per core) per node.

The driver's `RaySandbox` is a `SandboxFront`: linting, oracle mode, the result cache keyed by
program hash and batches stay here. Jobs wait in one queue; two feeder threads per actor take
up to twice the actor's workers at a time and send them in one Ray call (so the distribution
layer costs one call per batch, not per program, and a busy actor simply takes less). An actor
that dies (its node lost, its process killed) is restarted by Ray up to
`executor.max_restarts` times; the jobs it held come back as infrastructure errors and are sent
again, to another actor or to the restarted one, until `executor.restart_wait_s` runs out. Only
those are retried: a program's own failure is a result.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from concurrent.futures import Future
from typing import Any

from selfcodealign.config.schema import ExecutorConfig
from selfcodealign.distributed.cluster import alive_nodes, connect, get_when_ready
from selfcodealign.execution.base import ExecResult, Limits, Status
from selfcodealign.execution.sandbox import SandboxError, SandboxFront

log = logging.getLogger(__name__)

_LEVELS = ("none", "partial", "full")


class SandboxActor:
    """Runs inside a Ray worker process: a LocalSandbox and a dispatch entry point."""

    def __init__(self, workers: int, limits: Limits, base_uid: int,
                 preload: tuple[str, ...], disable_layers: tuple[str, ...]) -> None:
        from selfcodealign.execution.sandbox import LocalSandbox

        self.box = LocalSandbox(workers=workers, limits=limits, oracle=False,
                                base_uid=base_uid, preload=preload,
                                disable_layers=disable_layers, cache_size=1)

    def describe(self) -> dict[str, Any]:
        import ray

        return {**self.box.describe(), "node": ray.get_runtime_context().get_node_id(),
                "pid": os.getpid()}

    def dispatch_many(self, jobs: list[dict[str, Any]]) -> list[ExecResult]:
        """Run a batch of jobs on this node's zygotes at once."""
        assert self.box._pool is not None
        return list(self.box._pool.map(self.box._dispatch, jobs))


class RaySandbox(SandboxFront):
    """Sandboxed execution on a Ray cluster (see the module docstring)."""

    def __init__(self, cfg: ExecutorConfig, limits: Limits | None = None, *,
                 oracle: bool = True, base_uid: int = 61000, preload: tuple[str, ...] = (),
                 disable_layers: tuple[str, ...] = (), cache_size: int = 200_000,
                 retries: int = 2) -> None:
        super().__init__(limits, oracle=oracle, retries=retries, cache_size=cache_size)
        self.ray = connect(cfg)
        self.restart_wait_s = cfg.restart_wait_s
        nodes = alive_nodes(self.ray)
        if not nodes:
            raise SandboxError("the Ray cluster has no alive node")
        count = cfg.sandbox_actors or len(nodes)
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        remote = self.ray.remote(SandboxActor)
        self.actors: list[Any] = []
        self._sizes: list[int] = []
        for index in range(count):
            node = nodes[index % len(nodes)]
            share = max(1, node["cpus"] // max(1, -(-count // len(nodes))))
            workers = cfg.sandbox_workers or share
            strategy = NodeAffinitySchedulingStrategy(node["id"], soft=cfg.sandbox_actors > 0)
            self.actors.append(remote.options(
                num_cpus=min(workers, node["cpus"]) or 1, max_restarts=cfg.max_restarts,
                max_task_retries=0, max_concurrency=2 * workers,
                scheduling_strategy=strategy).remote(
                    workers, self.limits, base_uid, tuple(preload), tuple(disable_layers)))
            self._sizes.append(workers)
        try:
            self._described = self.ray.get([a.describe.remote() for a in self.actors],
                                           timeout=cfg.restart_wait_s)
        except Exception as exc:
            self.close()
            wanted = sum(self._sizes)
            raise SandboxError(f"{len(self.actors)} sandbox actors ({wanted} CPUs) could not "
                               f"start within {cfg.restart_wait_s:.0f} s: "
                               f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                               f"; free CPUs: {self.ray.available_resources().get('CPU', 0)}"
                               ) from None
        self._jobs: queue.Queue[Any] = queue.Queue()
        self._feeders = [threading.Thread(target=self._feed, args=(i,), daemon=True,
                                          name=f"ray-sandbox-{i}")
                         for i in range(len(self.actors)) for _ in range(2)]
        for feeder in self._feeders:
            feeder.start()
        self._start_pool()
        log.info("ray sandbox: %d actors, %d workers, isolation %s", len(self.actors),
                 self.workers, self.describe()["level"])

    @property
    def workers(self) -> int:
        return sum(self._sizes)

    def describe(self) -> dict[str, Any]:
        first = self._described[0]
        levels = [d["level"] for d in self._described]
        level = min(levels, key=lambda v: _LEVELS.index(v) if v in _LEVELS else 0)
        missing: dict[str, str] = {}
        for d in self._described:
            missing.update(d.get("missing") or {})
        return {"level": level, "layers": first["layers"], "missing": missing,
                "workers": self.workers, "actors": len(self.actors),
                "nodes": len({d["node"] for d in self._described}), "executor": "ray"}

    def actor_pids(self) -> list[int]:
        """The worker process of each actor now (waits for one that is restarting)."""
        described = get_when_ready(self.ray, lambda: [a.describe.remote() for a in self.actors],
                                   self.restart_wait_s)
        return [int(d["pid"]) for d in described]

    def _dispatch(self, job: dict[str, Any]) -> ExecResult:
        done: Future[ExecResult] = Future()
        self._jobs.put((job, done, time.monotonic() + self.restart_wait_s))
        return done.result()

    def _feed(self, index: int) -> None:
        """Send batches from the queue to actor `index` until the sandbox closes."""
        from ray.exceptions import RayError

        batch_size = 2 * self._sizes[index]
        failures = 0
        while True:
            first = self._jobs.get()
            if first is None:
                self._jobs.put(None)  # for the other feeders
                return
            batch = [first]
            while len(batch) < batch_size:
                try:
                    item = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._jobs.put(None)  # leave the stop signal for the other feeders
                    break
                batch.append(item)
            try:
                results = self.ray.get(self.actors[index].dispatch_many.remote(
                    [job for job, _, _ in batch]))
            except RayError as exc:  # the actor is gone or restarting: the jobs are not lost
                failures += 1
                now = time.monotonic()
                for job, done, deadline in batch:
                    if now > deadline:
                        done.set_result(ExecResult(
                            Status.INFRA_ERROR, detail=f"no sandbox actor answered: "
                            f"{type(exc).__name__}"))
                    else:
                        self._jobs.put((job, done, deadline))
                log.debug("sandbox actor %d failed (%s); %d jobs queued again", index,
                          type(exc).__name__, len(batch))
                time.sleep(min(2.0, 0.05 * failures))
                continue
            failures = 0
            for (_, done, _), result in zip(batch, results, strict=True):
                done.set_result(result)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        if getattr(self, "_feeders", None):
            self._jobs.put(None)
            for feeder in self._feeders:
                feeder.join(timeout=5)
            self._feeders = []
        for actor in getattr(self, "actors", []):
            with contextlib.suppress(Exception):
                self.ray.kill(actor)
        self.actors = []
