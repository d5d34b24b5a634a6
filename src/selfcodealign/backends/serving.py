"""How an engine answers requests, shared by engine processes (backends/pool.py) and Ray engine
actors (distributed/backend.py): a stepping engine (vLLM) through `Stepper`, requests joining
its running batch between steps; any other as one batch of what it holds (`answer_batch`).
Answers cross process boundaries encoded (`encode_result` / `decode_result`), failures
included, whatever exception ended a request.
"""

from __future__ import annotations

from typing import Any

from selfcodealign.backends.base import (
    PromptTooLong,
    RequestRejected,
    Result,
    SamplingParams,
    answer_each,
    can_stream,
)
from selfcodealign.errors import BackendError

# what an engine process sends back for a failed request: (kind, message)
_KINDS: dict[str, type[BaseException]] = {"too_long": PromptTooLong,
                                          "rejected": RequestRejected,
                                          "transient": BackendError}


def encode_result(result: Result) -> Any:
    """A request's answer in a form that crosses processes whatever the exception was."""
    if not isinstance(result, BaseException):
        return result
    if isinstance(result, PromptTooLong):
        return ("too_long", str(result))
    if isinstance(result, RequestRejected):
        cause = result.__cause__
        if cause is not None:  # the engine's unexpected error, kept as the cause
            return ("unexpected", f"{type(cause).__name__}: {str(cause)[:300]}")
        return ("rejected", str(result))
    if isinstance(result, BackendError):
        return ("transient", str(result))
    return ("unexpected", f"{type(result).__name__}: {str(result)[:300]}")


def decode_result(value: Any) -> Result:
    if isinstance(value, list):
        return value
    kind, message = value
    if kind == "unexpected":
        refused = RequestRejected(message)
        refused.__cause__ = RuntimeError(f"in an engine process: {message}")
        return refused
    return _KINDS[kind](message)


Request = tuple[int, str, "int | None", SamplingParams]  # (id, prompt, seed, params)


def answer_batch(backend: Any, requests: list[Request]) -> list[tuple[int, Any]]:
    """An engine without steps: every request it holds answered as one batch per sampling
    setting, each answer encoded (`encode_result`). Shared by engine processes and Ray
    engine actors."""
    groups: dict[SamplingParams, list[tuple[int, str, int | None]]] = {}
    for rid, prompt, seed, params in requests:
        groups.setdefault(params, []).append((rid, prompt, seed))
    out: list[tuple[int, Any]] = []
    for params, group in groups.items():
        seeds = [seed for _, _, seed in group]
        answers = answer_each(backend, [p for _, p, _ in group], params,
                              None if None in seeds else seeds)  # type: ignore[arg-type]
        out += [(rid, encode_result(a)) for (rid, _, _), a in zip(group, answers, strict=True)]
    return out


class Stepper:
    """A stepping engine (vLLM): requests join its running batch; `step` advances it once
    and returns what finished, encoded. Shared by engine processes and Ray engine actors."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.streams: dict[SamplingParams, Any] = {}
        self.running = 0

    @staticmethod
    def fits(backend: Any) -> bool:
        return bool(getattr(backend, "steps", False)) and can_stream(backend)

    def add(self, requests: list[Request]) -> None:
        for rid, prompt, seed, params in requests:
            if params not in self.streams:
                self.streams[params] = self.backend.streamer(params)
            self.streams[params].submit(rid, prompt, seed)
            self.running += 1

    def step(self) -> list[tuple[int, Any]]:
        done: list[tuple[int, Any]] = []
        for stream in self.streams.values():
            done += [(rid, encode_result(a)) for rid, a in stream.finished(wait=False)]
        self.running -= len(done)
        return done
