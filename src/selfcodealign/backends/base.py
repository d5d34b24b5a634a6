"""The one interface every inference backend implements, and what goes in and out of it.

A backend takes a batch of prompts (raw text: base models are prompted in completion mode) and
returns, for each prompt, `params.n` completions, each with its text, finish reason and token
counts. Per-prompt seeds make sampling reproducible where the backend supports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
