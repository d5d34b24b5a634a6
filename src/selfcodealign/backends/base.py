"""The one interface every inference backend implements, and what goes in and out of it.

A backend takes a batch of prompts (raw text: base models are prompted in completion mode) and
returns, for each prompt, `params.n` completions, each with its text, finish reason and token
counts. Per-prompt seeds make sampling reproducible where the backend supports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from selfcodealign.errors import BackendError


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 1536
    n: int = 1
    stop: tuple[str, ...] = ()
    # An optional hint, not part of the request: says when a completion already holds a
    # complete answer (the stage reads nothing after it), so a backend that generates token by
    # token may end it there. A module-level function (it travels to Ray workers); left out of
    # repr, so cache keys do not depend on it.
    answer_done: Callable[[str], bool] | None = field(default=None, repr=False, compare=False)
    # Also a hint: a completion caught in a loop may be ended early (reported as `repetition`).
    # The generation stages drop such text either way; evaluation leaves it off.
    end_loops: bool = field(default=False, repr=False, compare=False)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass
class Completion:
    text: str
    finish_reason: str = "stop"  # "stop", "length", or what the backend reports
    prompt_tokens: int = 0
    completion_tokens: int = 0
    meta: dict[str, object] = field(default_factory=dict)


class RequestRejected(BackendError):
    """The server or engine refused one request for good (HTTP 4xx other than 429, an input
    the engine will not take): asking again gives the same answer. That item is dropped as
    `request_rejected`, with the message kept; the rest of the batch goes on."""

    reason = "request_rejected"


class PromptTooLong(RequestRejected):
    """The prompt (plus max_tokens) does not fit the model's context."""

    reason = "prompt_too_long"


class PartialFailure(BackendError):
    """Some requests of a batch failed: `results` holds, in prompt order, each prompt's
    completions or the exception that ended it (RequestRejected: for good; any other
    BackendError: transient, to retry on the next run)."""

    def __init__(self, results: list[list[Completion] | BaseException]) -> None:
        failed = [r for r in results if isinstance(r, BaseException)]
        super().__init__(f"{len(failed)} of {len(results)} requests failed; first: "
                         f"{failed[0] if failed else ''}")
        self.results = results


_TOO_LONG = ("context length", "maximum context", "max_model_len", "too long", "longer than",
             "exceeds the maximum", "prompt is too", "context window", "maximum model length")


def is_too_long(message: str) -> bool:
    """Whether an engine's or server's refusal says the prompt does not fit the context."""
    text = message.lower()
    return any(marker in text for marker in _TOO_LONG)


def split_too_long(lengths: Sequence[int], context: int | None, model: str
                   ) -> dict[int, PromptTooLong]:
    """The prompts (by index) whose token count alone fills the model's context: they are
    dropped before they are sent (`prompt_too_long`, the limit in the message)."""
    if not isinstance(context, int) or context <= 0:
        return {}
    return {i: PromptTooLong(f"a prompt of {n:,} tokens does not fit the context of {model} "
                             f"({context:,} tokens)") for i, n in enumerate(lengths)
            if n >= context}


def with_failures(answers: Sequence[list[Completion]], failed: dict[int, BaseException],
                  total: int) -> list[list[Completion]]:
    """`answers` (for the prompts not in `failed`, in order) back in prompt order; raises
    PartialFailure when some failed."""
    if not failed:
        return list(answers)
    it = iter(answers)
    raise PartialFailure([failed[i] if i in failed else next(it) for i in range(total)])


Result = list[Completion] | BaseException  # one request's completions, or what ended it


class Streamer(Protocol):
    """Requests in flight on a backend, answered as they finish (`LLMBackend.streamer`).

    The caller keeps at most `capacity` requests submitted and not yet returned by `finished`;
    which engine or connection serves each one is the streamer's business (work-stealing: a
    free slot takes the next request). Each answer comes back once, under the caller's key, in
    the order the requests finish: completions, or the exception that ended that request
    (RequestRejected: for good; another BackendError: transient; anything else: the engine's
    fault). An exception raised by `finished` itself is every request's in flight."""

    capacity: int

    def submit(self, key: int, prompt: str, seed: int | None) -> None: ...

    def finished(self, wait: bool) -> list[tuple[int, Result]]:
        """The requests finished since the last call; with `wait`, blocks until at least one
        has, when any is in flight."""
        ...

    def close(self) -> None:
        """Abandons what is still in flight."""
        ...


def can_stream(backend: object) -> bool:
    """Whether `backend` offers a Streamer (`backend.streamer(params)`)."""
    return callable(getattr(backend, "streamer", None)) and bool(
        getattr(backend, "streams", True))


class FutureStreamer:
    """A Streamer over a thread pool: each request is one call of `call(prompt, params, seed)`
    (the openai backend's HTTP request with its retries); `capacity` threads at most."""

    def __init__(self, pool: object, call: Callable[[str, SamplingParams, int | None], Result],
                 params: SamplingParams, capacity: int) -> None:
        self.pool, self.call, self.params, self.capacity = pool, call, params, capacity
        self.futures: dict[Future[list[Completion]], int] = {}

    def submit(self, key: int, prompt: str, seed: int | None) -> None:
        future = self.pool.submit(self.call, prompt, self.params, seed)  # type: ignore[attr-defined]
        self.futures[future] = key

    def finished(self, wait: bool) -> list[tuple[int, Result]]:
        if not self.futures:
            return []
        done, _ = wait_for(self.futures, timeout=None if wait else 0,
                           return_when=FIRST_COMPLETED)
        out: list[tuple[int, Result]] = []
        for future in done:
            key = self.futures.pop(future)
            error = future.exception()
            if error is not None and not isinstance(error, Exception):
                raise error  # KeyboardInterrupt and the like are not a request's failure
            out.append((key, error if error is not None else future.result()))
        return out

    def close(self) -> None:
        for future in self.futures:
            future.cancel()
        self.futures.clear()


@runtime_checkable
class LLMBackend(Protocol):
    name: str
    model: str

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        """`params.n` completions for each prompt, in order. When only some requests fail,
        raises PartialFailure carrying the others' answers."""
        ...

    def close(self) -> None: ...


def answer_each(backend: LLMBackend, prompts: list[str], params: SamplingParams,
                seeds: list[int] | None, on_split: Callable[[], None] | None = None
                ) -> list[Result]:
    """Each prompt's completions, or what ended its request. A failure belongs to the
    requests it hit: a partial failure keeps the other answers; a batch that fails as a
    whole for a reason other than the backend's own (an engine's length check, out of
    memory) is split in halves (`on_split` is told) until the guilty prompts stand alone; a
    backend error for the whole batch (a server gone after its retries) is every request's,
    transient. An unexpected error of one prompt alone becomes its RequestRejected (or
    PromptTooLong), with the error as the cause."""
    if not prompts:
        return []
    try:
        return list(backend.generate(prompts, params, seeds))
    except PartialFailure as partial:
        return list(partial.results)
    except RequestRejected as rejected:
        if len(prompts) == 1:
            return [rejected]
    except BackendError as error:
        return [error] * len(prompts)
    except Exception as error:
        if len(prompts) == 1:
            message = f"{type(error).__name__}: {str(error)[:300]}"
            refused = (PromptTooLong if is_too_long(message) else RequestRejected)(message)
            refused.__cause__ = error  # kept: a failure of every item is re-raised
            return [refused]
    half = len(prompts) // 2
    if on_split is not None:
        on_split()
    return (answer_each(backend, prompts[:half], params, None if seeds is None else seeds[:half],
                        on_split)
            + answer_each(backend, prompts[half:], params,
                          None if seeds is None else seeds[half:], on_split))
