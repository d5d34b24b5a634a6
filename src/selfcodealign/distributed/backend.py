"""LLM engines as Ray actors: one per GPU group, fed data-parallel from the driver.

`RayBackend.streamer` (the LLM stages' default, `generation.stream`) deals requests one at a
time to the engine with the fewest in flight, at most `backend.in_flight` each: the driver
pushes requests to an engine's queue and pulls its answers (a vLLM engine steps until one
finishes, taking new requests between pulls; another engine answers what it holds as one
batch), so an engine that finishes early takes more work at once. `RayBackend.generate` (the
batch path) splits a batch into one contiguous chunk per engine, runs the chunks at once and
returns the answers in the original order. Each engine is the configured
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
                gguf_file=config.gguf_file, in_flight=config.in_flight or 256)
        else:
            self.backend = create_backend(config, seed)
        self.queued: list[tuple[int, str, int | None, SamplingParams]] = []
        self.stepper: Any = None  # backends.serving.Stepper, for a stepping engine

    def generate(self, prompts: list[str], params: SamplingParams,
                 seeds: list[int] | None) -> list[list[Completion]]:
        return self.backend.generate(prompts, params, seeds)

    def push(self, requests: list[tuple[int, str, int | None]], params: SamplingParams) -> None:
        """Queues requests for the next `pull` (actor calls run in order, one at a time)."""
        self.queued += [(rid, prompt, seed, params) for rid, prompt, seed in requests]

    def pull(self) -> list[tuple[int, Any]]:
        """Answers for what was pushed: a stepping engine (vLLM) takes the queued requests
        into its running batch and steps until at least one finishes; another engine answers
        all it holds as one batch. Failures travel encoded (backends/serving.py)."""
        from selfcodealign.backends.serving import Stepper, answer_batch

        queued, self.queued = self.queued, []
        if not Stepper.fits(self.backend):
            return answer_batch(self.backend, queued)
        if self.stepper is None:
            self.stepper = Stepper(self.backend)
        stepper: Stepper = self.stepper
        stepper.add(queued)
        while True:  # a step at a time, until something finished or nothing runs
            done = stepper.step()
            if done or not stepper.running:
                return done

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
        self.restart_wait_s, self.max_restarts = cfg.restart_wait_s, cfg.max_restarts
        from selfcodealign.backends.pool import default_in_flight

        self.in_flight = default_in_flight(backend)
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

    def streamer(self, params: SamplingParams) -> RayStreamer:
        return RayStreamer(self, params)

    def close(self) -> None:
        for engine in self.engines:
            with contextlib.suppress(Exception):
                self.ray.kill(engine)
        self.engines = []


class RayStreamer:
    """Work-stealing over the engine actors (see the module docstring). An engine that dies
    has its requests dealt to the others; Ray restarts it (`executor.max_restarts`)."""

    def __init__(self, backend: RayBackend, params: SamplingParams) -> None:
        self.backend, self.params = backend, params
        self.capacity = backend.in_flight * len(backend.engines)
        self.holding: list[dict[int, tuple[str, int | None]]] = [{} for _ in backend.engines]
        self.to_push: list[list[tuple[int, str, int | None]]] = [[] for _ in backend.engines]
        self.pulls: dict[Any, int] = {}  # pull in flight -> engine index
        self.pulling: set[int] = set()
        self.failures = [0] * len(backend.engines)
        self.max_failures = backend.max_restarts
        self.backlog: list[tuple[int, str, int | None]] = []  # waiting for a free slot

    def submit(self, key: int, prompt: str, seed: int | None) -> None:
        self.backlog.append((key, prompt, seed))
        self._deal()

    def _deal(self) -> None:
        """Requests from the backlog to the engine with the fewest in flight, at most
        `in_flight` each; an engine that failed more often than Ray restarts it gets none."""
        while self.backlog:
            live = [e for e in range(len(self.holding)) if self.failures[e] <= self.max_failures]
            if not live:
                raise BackendError("every engine actor failed more often than "
                                   "executor.max_restarts allows")
            engine = min(live, key=lambda e: len(self.holding[e]))
            if len(self.holding[engine]) >= self.backend.in_flight:
                return
            key, prompt, seed = self.backlog.pop(0)
            self.holding[engine][key] = (prompt, seed)
            self.to_push[engine].append((key, prompt, seed))

    def _send(self) -> None:
        for index, engine in enumerate(self.backend.engines):
            if self.to_push[index]:
                engine.push.remote(self.to_push[index], self.params)
                self.to_push[index] = []
            if self.holding[index] and index not in self.pulling:
                self.pulls[engine.pull.remote()] = index
                self.pulling.add(index)

    def finished(self, wait: bool) -> list[tuple[int, Any]]:
        from ray.exceptions import RayActorError, RayError

        from selfcodealign.backends.serving import decode_result

        self._send()
        if not self.pulls:
            return []
        ready, _ = self.backend.ray.wait(list(self.pulls), num_returns=1,
                                         timeout=None if wait else 0)
        out: list[tuple[int, Any]] = []
        for ref in ready:
            index = self.pulls.pop(ref)
            self.pulling.discard(index)
            try:
                answers = self.backend.ray.get(ref)
            except RayActorError as exc:  # the engine died: the others take its requests
                lost = self.holding[index]
                self.holding[index], self.to_push[index] = {}, []
                self.failures[index] += 1
                log.warning("engine %d failed (%s); its %d requests go to the others",
                            index, type(exc).__name__, len(lost))
                # first in line; Ray restarts the engine, which then takes work again
                self.backlog[:0] = [(key, prompt, seed) for key, (prompt, seed) in lost.items()]
                continue
            except RayError as exc:
                raise BackendError(f"engine error: {str(exc).splitlines()[0]}") from None
            for key, value in answers:
                if self.holding[index].pop(key, None) is not None:
                    out.append((key, decode_result(value)))
        self._deal()
        return out

    def close(self) -> None:
        self.holding = [{} for _ in self.backend.engines]
        self.backlog.clear()
        self.pulls.clear()
        self.pulling.clear()
