"""LLM engines as Ray actors: one per GPU group, fed data-parallel from the driver.

`RayBackend.generate` splits a batch of prompts into one contiguous chunk per engine, runs the
chunks at once and returns the answers in the original order. Each engine is the configured
backend (vLLM on GPUs, transformers, an OpenAI client, the fake one) built inside its actor with
`backend.tensor_parallel_size` GPUs. Per-request seeds travel with the prompts, so which engine
answers does not change the answer. An engine that dies is restarted by Ray (up to
`executor.max_restarts`) and its chunk goes to the next engine that answers; the driver only ever
sees whole answers, so its LLM cache and the stage writer never see a request twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from selfcodealign.backends.base import Completion, LLMBackend, SamplingParams
from selfcodealign.config import Config
from selfcodealign.distributed.cluster import connect, get_when_ready
from selfcodealign.errors import BackendError

log = logging.getLogger(__name__)


class EngineActor:
    """Runs inside a Ray worker: the configured backend and a generate entry point."""

    def __init__(self, backend_config: dict[str, Any], seed: int) -> None:
        from selfcodealign.backends import create_backend
        from selfcodealign.config.schema import BackendConfig

        config = BackendConfig(**backend_config)
        self.backend: LLMBackend
        if config.name == "vllm" and config.model:
            from selfcodealign.backends.vllm import VLLMBackend

            # the actor holds tensor_parallel_size GPUs; vLLM's workers are its subprocesses
            self.backend = VLLMBackend(
                config.model, revision=config.revision, dtype=config.dtype,
                tensor_parallel_size=config.tensor_parallel_size,
                gpu_memory_utilization=config.gpu_memory_utilization,
                max_model_len=config.max_model_len, seed=seed, executor_backend="mp",
                gguf_file=config.gguf_file)
        else:
            self.backend = create_backend(config, seed)

    def generate(self, prompts: list[str], params: SamplingParams,
                 seeds: list[int] | None) -> list[list[Completion]]:
        return self.backend.generate(prompts, params, seeds)

    def pid(self) -> int:
        return os.getpid()


class RayBackend:
    """An LLMBackend whose engines are Ray actors (see the module docstring)."""

    def __init__(self, config: Config) -> None:
        cfg = config.executor
        self.ray = connect(cfg)
        backend = config.backend
        self.name: str = backend.name
        self.model: str = backend.model or backend.name
        self.revision = backend.revision
        self.restart_wait_s = cfg.restart_wait_s
        gpus = int(self.ray.cluster_resources().get("GPU", 0))
        group = max(1, backend.tensor_parallel_size)
        use_gpus = gpus >= group and backend.name in ("vllm", "transformers")
        # replicas: as many as asked (backend.data_parallel_size), else one per GPU group
        replicas = backend.data_parallel_size if backend.data_parallel_size > 1 else 0
        count = cfg.engines or replicas or (gpus // group if use_gpus else 1)
        # each engine is one data-parallel replica; Ray does the data parallelism
        inner = backend.model_dump(mode="json") | {"data_parallel_size": 1}
        remote = self.ray.remote(EngineActor)
        # a GPU engine or a CPU model needs its core; an API client or the fake one does not
        cpus = 1 if use_gpus or backend.name in ("vllm", "transformers") else 0
        self.engines = [remote.options(num_gpus=group if use_gpus else 0, num_cpus=cpus,
                                       max_restarts=cfg.max_restarts, max_task_retries=0)
                        .remote(inner, config.run.seed) for _ in range(max(1, count))]
        log.info("ray backend: %d %s engines (%s GPU each)", len(self.engines), self.name,
                 group if use_gpus else 0)

    def engine_pids(self) -> list[int]:
        """The worker process of each engine now (waits for one that is restarting)."""
        pids = get_when_ready(self.ray, lambda: [e.pid.remote() for e in self.engines],
                              self.restart_wait_s)
        return [int(p) for p in pids]

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        from ray.exceptions import RayActorError, RayError

        prompts = list(prompts)
        if not prompts:
            return []
        size = -(-len(prompts) // len(self.engines))
        chunks = [(start, min(start + size, len(prompts)))
                  for start in range(0, len(prompts), size)]
        answers: dict[int, list[list[Completion]]] = {}
        deadline = time.monotonic() + self.restart_wait_s
        pending = {i: i % len(self.engines) for i in range(len(chunks))}  # chunk -> engine
        attempt = 0
        while pending:
            futures = {i: self.engines[e].generate.remote(
                prompts[chunks[i][0]:chunks[i][1]], params,
                None if seeds is None else list(seeds[chunks[i][0]:chunks[i][1]]))
                for i, e in pending.items()}
            failed: dict[int, int] = {}
            for i, future in futures.items():
                try:
                    answers[i] = self.ray.get(future)
                except RayActorError as exc:  # the engine died: another one takes the chunk
                    log.warning("engine %d failed (%s); its %d prompts go to another engine",
                                pending[i], type(exc).__name__, chunks[i][1] - chunks[i][0])
                    failed[i] = (pending[i] + 1) % len(self.engines)
                except RayError as exc:  # the backend itself failed: same error as locally
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, Exception):
                        raise cause from None
                    raise BackendError(f"engine error: {str(exc).splitlines()[0]}") from None
            pending = failed
            if pending:
                attempt += 1
                if time.monotonic() > deadline:
                    raise BackendError(f"no engine answered within {self.restart_wait_s:.0f} s "
                                       "(executor.restart_wait_s)")
                time.sleep(min(2.0, 0.1 * attempt))
        return [a for i in range(len(chunks)) for a in answers[i]]

    def close(self) -> None:
        for engine in self.engines:
            with contextlib.suppress(Exception):
                self.ray.kill(engine)
        self.engines = []
