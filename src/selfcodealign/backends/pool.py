"""Data parallelism on one machine: one engine process per GPU group, fed by work-stealing.

`EnginePool` starts `backend.data_parallel_size` engine processes (spawned: no CUDA state is
inherited), each pinned with `CUDA_VISIBLE_DEVICES` to its own group of `tensor_parallel_size`
GPUs and holding the configured backend (`vllm`, `transformers`, or the scripted `fake` one as a
cheap stand-in). Without GPUs the engines run unpinned, on the CPU.

Requests are dealt one at a time to the engine with the fewest in flight, never more than
`in_flight` each: an engine that finishes early takes the next request at once (no equal chunks,
no waiting for the slowest engine). A vLLM engine adds requests to its running batch between
steps (continuous batching); an engine without that answers what it holds as one batch. Seeds
travel with the requests, so which engine answers does not change the answer.

Each engine is a plain child process (`python -m selfcodealign.backends.pool`) talking over two
pipes, so the caller's main module is never imported again and nothing about the caller's process
(CUDA state, threads) is inherited. An engine process that dies has its requests dealt to the
others and is started again (up to `max_restarts` times per engine); the caller only ever sees one
answer per request.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from selfcodealign.backends.base import Completion, Result, SamplingParams, with_failures
from selfcodealign.backends.serving import (
    Stepper,
    answer_batch,
    decode_result,
)
from selfcodealign.config.schema import BackendConfig
from selfcodealign.errors import BackendError, ConfigError

log = logging.getLogger(__name__)


def default_in_flight(config: BackendConfig) -> int:
    """Requests kept in flight per engine when `backend.in_flight` is not set."""
    if config.in_flight is not None:
        return config.in_flight
    return {"openai": config.max_concurrency, "vllm": 256,
            "transformers": 2 * config.batch_size}.get(config.name, 64)


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as CUDA_VISIBLE_DEVICES names them."""
    named = os.environ.get("CUDA_VISIBLE_DEVICES")
    if named is not None:
        return [d.strip() for d in named.split(",") if d.strip() and d.strip() != "-1"]
    try:
        import torch
    except ImportError:
        return []
    return [str(i) for i in range(torch.cuda.device_count())]


def engine_devices(config: BackendConfig, engines: int, gpus: Sequence[str]
                   ) -> list[str | None]:
    """Each engine's CUDA_VISIBLE_DEVICES: consecutive groups of `tensor_parallel_size`
    GPUs, dealt in turn when there are more engines than groups; None (unpinned) without
    GPUs or for the scripted backend."""
    if config.name == "fake" or not gpus:
        if config.name == "vllm":
            raise ConfigError("the vllm backend needs a GPU; none is visible here")
        return [None] * engines
    size = config.tensor_parallel_size
    groups = [list(gpus[i:i + size]) for i in range(0, len(gpus) - size + 1, size)]
    if not groups:
        raise ConfigError(f"backend.tensor_parallel_size {size} needs {size} GPUs; "
                          f"{len(gpus)} visible")
    sharing = -(-engines // len(groups))
    if config.name == "vllm" and sharing * config.gpu_memory_utilization > 1:
        raise ConfigError(
            f"{engines} vLLM engines on {len(groups)} GPU group(s) of {size}: {sharing} share "
            f"each group, so backend.gpu_memory_utilization must be at most "
            f"{1 / sharing:.2f} (it is {config.gpu_memory_utilization})")
    return [",".join(groups[i % len(groups)]) for i in range(engines)]


def engine_main(read_fd: int, write_fd: int) -> None:
    """An engine process: reads its settings, builds the backend on the GPUs that
    CUDA_VISIBLE_DEVICES names, then answers requests until told to stop (None) or its pool
    goes away."""
    from multiprocessing.connection import Connection

    inbox = _Inbox(Connection(read_fd, writable=False))
    outbox = Connection(write_fd, readable=False)
    settings, seed, hold = inbox.first()
    try:
        from selfcodealign.backends import create_backend

        backend = create_backend(BackendConfig(**settings), seed)
    except BaseException as exc:
        outbox.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    outbox.send(("ready", os.getpid()))
    try:
        if Stepper.fits(backend):
            _serve_streaming(backend, inbox, outbox)
        else:
            _serve_batches(backend, inbox, outbox, hold)
    finally:
        backend.close()


class _Inbox:
    """The engine's requests, read from the pool's pipe by a thread, so that the pool never
    waits on a full pipe while the engine computes."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.items: queue.Queue[Any] = queue.Queue()

    def first(self) -> Any:
        item = self.connection.recv()
        threading.Thread(target=self._read, daemon=True).start()
        return item

    def _read(self) -> None:
        while True:
            try:
                item = self.connection.recv()
            except (EOFError, OSError):
                item = None  # the pool is gone: stop
            self.items.put(item)
            if item is None:
                return

    def take(self, block: bool, most: int, fill_s: float = 0.0) -> tuple[list[Any], bool]:
        """Up to `most` requests (waiting for the first when `block`), and whether the pool
        said stop. With `fill_s`, after the first request it waits up to that long for the
        rest of a batch: the pool refills a freed engine request by request."""
        taken: list[Any] = []
        deadline = 0.0
        while len(taken) < most:
            try:
                if not taken:
                    item = self.items.get(block=block)
                    deadline = time.monotonic() + fill_s
                else:
                    left = deadline - time.monotonic()
                    item = (self.items.get(timeout=left) if left > 0
                            else self.items.get(block=False))
            except queue.Empty:
                break
            if item is None:
                return taken, True
            taken.append(item)
        return taken, False


# How long an engine without steps waits, after the first request of a batch, for the rest:
# a freed engine is refilled request by request, and a batch of one would hold the engine as
# long as a full one (a static batch lasts as long as its longest member).
FILL_WINDOW_S = 0.05


def _serve_batches(backend: Any, inbox: _Inbox, outbox: Any, hold: int) -> None:
    """An engine without steps: what it holds (up to `hold`) is answered as one batch."""
    stop = False
    while not stop:
        taken, stop = inbox.take(True, hold, FILL_WINDOW_S)
        if taken:
            outbox.send(("done", answer_batch(backend, taken)))


def _serve_streaming(backend: Any, inbox: _Inbox, outbox: Any) -> None:
    """A stepping engine (vLLM): new requests join the running batch between steps."""
    stepper, stop = Stepper(backend), False
    while not stop or stepper.running:
        taken, stop_now = inbox.take(stepper.running == 0 and not stop, 1 << 16)
        stop = stop or stop_now
        stepper.add(taken)
        done = stepper.step()
        if done:
            outbox.send(("done", done))


@dataclass
class _Engine:
    devices: str | None
    process: Any = None  # subprocess.Popen
    inbox: Any = None  # Connection: requests to the engine
    answers: Any = None  # Connection: what the engine sends back
    ready: bool = False
    restarts: int = 0
    answered: int = 0  # requests this engine answered (all its lives)
    holding: dict[int, tuple[str, int | None, SamplingParams]] = field(default_factory=dict)


class EnginePool:
    """An LLMBackend whose engines are local processes (see the module docstring)."""

    streams = True

    def __init__(self, config: BackendConfig, seed: int = 0, *, engines: int | None = None,
                 max_restarts: int = 3, start_timeout_s: float = 1800.0) -> None:
        self.name: str = config.name
        self.model: str = config.model or config.name
        self.revision = config.revision
        self.seed, self.max_restarts = seed, max_restarts
        count = engines or config.data_parallel_size
        self.in_flight = default_in_flight(config)
        self.settings = config.model_dump(mode="json") | {"data_parallel_size": 1}
        self.engines = [_Engine(d) for d in engine_devices(config, count, visible_gpus())]
        self.backlog: list[int] = []  # request ids waiting for a free slot
        self.requests: dict[int, tuple[str, int | None, SamplingParams]] = {}
        self.answers: dict[int, Result] = {}
        self.ids = itertools.count()
        try:
            for engine in self.engines:
                self._start(engine)
            deadline = time.monotonic() + start_timeout_s
            while not all(e.ready for e in self.engines):
                if time.monotonic() > deadline:
                    raise BackendError(f"the engines did not start within {start_timeout_s:.0f} s")
                self._receive(timeout=1.0, starting=True)
        except BaseException:
            self.close()
            raise
        log.info("engine pool: %d %s engines, %d requests in flight each (GPUs: %s)",
                 len(self.engines), self.name, self.in_flight,
                 [e.devices for e in self.engines])

    # --- engines -----------------------------------------------------------------------------

    def _start(self, engine: _Engine) -> None:
        from multiprocessing.connection import Connection

        to_engine, from_engine = os.pipe(), os.pipe()
        env = dict(os.environ)
        if engine.devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = engine.devices
        elif self.name == "transformers" and "OMP_NUM_THREADS" not in env:
            # CPU engines share the cores instead of each taking all of them
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // len(self.engines)))
        try:
            engine.process = subprocess.Popen(
                [sys.executable, "-m", "selfcodealign.backends.pool", str(to_engine[0]),
                 str(from_engine[1])], env=env, pass_fds=(to_engine[0], from_engine[1]),
                stdin=subprocess.DEVNULL)
        finally:
            os.close(to_engine[0])
            os.close(from_engine[1])
        engine.inbox = Connection(to_engine[1], readable=False)
        engine.answers = Connection(from_engine[0], writable=False)
        engine.ready = False
        engine.inbox.send((self.settings, self.seed, self.in_flight))

    def engine_pids(self) -> list[int]:
        return [int(e.process.pid) for e in self.engines if e.process is not None]

    def _receive(self, timeout: float, starting: bool = False) -> bool:
        """Handles what the engines sent (False when nothing came within `timeout`), and
        looks after engines that died."""
        from multiprocessing.connection import wait

        live = {e.answers: e for e in self.engines if e.process is not None}
        ready: list[Any] = wait(list(live), timeout=timeout)
        for connection in ready:
            engine = live[connection]
            try:
                message = connection.recv()
            except (EOFError, OSError):  # the engine is gone
                engine.process.wait()
                self._lost(engine, starting)
                continue
            if message[0] == "ready":
                engine.ready = True
            elif message[0] == "failed":
                raise BackendError(f"engine {self.engines.index(engine)} could not start: "
                                   f"{message[1]}")
            else:
                engine.answered += len(message[1])
                for rid, value in message[1]:
                    engine.holding.pop(rid, None)
                    if self.requests.pop(rid, None) is not None:  # else abandoned
                        self.answers[rid] = decode_result(value)
        self._deal()
        return bool(ready)

    def _lost(self, engine: _Engine, starting: bool) -> None:
        """An engine process ended: its requests go to the others, and it starts again."""
        index, code = self.engines.index(engine), engine.process.returncode
        for connection in (engine.inbox, engine.answers):
            connection.close()
        if starting and not engine.ready:
            engine.process = None
            raise BackendError(f"engine {index} exited with code {code} while starting")
        lost = list(engine.holding)
        engine.holding.clear()
        self.backlog[:0] = [rid for rid in lost if rid in self.requests]  # first in line
        if engine.restarts >= self.max_restarts:
            log.warning("engine %d exited (code %s) for the last time; %d requests go to the "
                        "others", index, code, len(lost))
            engine.process, engine.ready = None, False
        else:
            engine.restarts += 1
            log.warning("engine %d exited (code %s); %d requests go to the others; restarting "
                        "it (%d/%d)", index, code, len(lost), engine.restarts, self.max_restarts)
            self._start(engine)
        if not any(e.process is not None for e in self.engines):
            raise BackendError("every engine process died (see the log for their exit codes)")

    def _deal(self) -> None:
        """Requests from the backlog to the ready engine with the fewest in flight."""
        while self.backlog:
            ready = [e for e in self.engines if e.ready and e.process is not None
                     and len(e.holding) < self.in_flight]
            if not ready:
                return
            engine = min(ready, key=lambda e: len(e.holding))
            rid = self.backlog.pop(0)
            prompt, seed, params = self.requests[rid]
            engine.holding[rid] = (prompt, seed, params)
            engine.inbox.send((rid, prompt, seed, params))

    # --- requests ----------------------------------------------------------------------------

    def _submit(self, prompt: str, seed: int | None, params: SamplingParams) -> int:
        rid = next(self.ids)
        self.requests[rid] = (prompt, seed, params)
        self.backlog.append(rid)
        self._deal()
        return rid

    def _collect(self, rids: set[int], wait: bool) -> list[tuple[int, Result]]:
        """The answers among `rids` that have come in; with `wait`, at least one."""
        while True:
            while self._receive(timeout=0):  # everything already there, without waiting
                pass
            got = [(rid, self.answers.pop(rid)) for rid in list(rids) if rid in self.answers]
            if got or not wait or not rids:
                return got
            self._receive(timeout=1.0)

    def streamer(self, params: SamplingParams) -> PoolStreamer:
        return PoolStreamer(self, params)

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        rids = [self._submit(p, None if seeds is None else int(seeds[i]), params)
                for i, p in enumerate(prompts)]
        waiting = set(rids)
        results: dict[int, Result] = {}
        while waiting:
            for rid, result in self._collect(waiting, wait=True):
                waiting.discard(rid)
                results[rid] = result
        failed = {i: r for i, rid in enumerate(rids)
                  if isinstance(r := results[rid], BaseException)}
        answers = [r for rid in rids if not isinstance(r := results[rid], BaseException)]
        return with_failures(answers, failed, len(prompts))

    def close(self) -> None:
        if any(e.answered for e in self.engines):
            log.info("engine pool: requests answered per engine: %s",
                     [e.answered for e in self.engines])
        for engine in self.engines:
            if engine.process is not None:
                with contextlib.suppress(OSError):
                    engine.inbox.send(None)
        for engine in self.engines:
            if engine.process is None:
                continue
            try:
                engine.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                engine.process.kill()
                engine.process.wait()
            for connection in (engine.inbox, engine.answers):
                connection.close()
            engine.process = None


class PoolStreamer:
    """A stream over the pool: its capacity is every engine's `in_flight`."""

    def __init__(self, pool: EnginePool, params: SamplingParams) -> None:
        self.pool, self.params = pool, params
        self.capacity = pool.in_flight * len(pool.engines)
        self.keys: dict[int, int] = {}  # pool request id -> caller's key

    def submit(self, key: int, prompt: str, seed: int | None) -> None:
        self.keys[self.pool._submit(prompt, seed, self.params)] = key

    def finished(self, wait: bool) -> list[tuple[int, Result]]:
        got = self.pool._collect(set(self.keys), wait)
        return [(self.keys.pop(rid), result) for rid, result in got]

    def close(self) -> None:
        for rid in self.keys:  # abandoned: an answer that still comes is dropped
            self.pool.requests.pop(rid, None)
            if rid in self.pool.backlog:
                self.pool.backlog.remove(rid)
        self.keys.clear()


if __name__ == "__main__":
    engine_main(int(sys.argv[1]), int(sys.argv[2]))
