"""The one interface every inference backend implements, and what goes in and out of it.

A backend takes a batch of prompts (raw text: base models are prompted in completion mode) and
returns, for each prompt, `params.n` completions, each with its text, finish reason and token
counts. Per-prompt seeds make sampling reproducible where the backend supports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


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


@runtime_checkable
class LLMBackend(Protocol):
    name: str
    model: str

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        """`params.n` completions for each prompt, in order."""
        ...

    def close(self) -> None: ...
