"""The one interface every inference backend implements, and what goes in and out of it.

A backend takes a batch of prompts (raw text: base models are prompted in completion mode) and
returns, for each prompt, `params.n` completions, each with its text, finish reason and token
counts. Per-prompt seeds make sampling reproducible where the backend supports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.7
    top_p: float = 1.0
    max_tokens: int = 1536
    n: int = 1
    stop: tuple[str, ...] = ()

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
