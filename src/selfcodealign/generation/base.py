"""LLMStage: one prompt per input, `n` completions, each parsed into a record or a drop reason.

A stage implements `prompt(record, rng)` (the prompt text and what it chose: shot ids, category,
difficulty) and `parse(record, text, meta)` (a record's fields, or a snake_case reason). The base
class does the rest: a per-item RNG from (global seed, item id), so reruns make the same choices;
one batched backend call with per-item seeds; completions cut by the token limit dropped as
`repetition` (a loop) or `truncated`, as the method drops them; the answer trimmed where the model
ran on into a new example before stopping (`trim`); every choice and the raw completion kept in the
record's `meta`; requests (`model_requests`: those the LLM cache could not answer), tokens and
parse failures counted in the stage stats.

Prefix-cache-aware layout (`prefix_groups > 0`): shots come from a few fixed groups instead of a
fresh sample per item, and each batch is sent ordered by group, so consecutive prompts share
long prefixes that vLLM's prefix cache (or any server's) reuses. The share of each batch's prompt
tokens (characters when the backend has no tokenizer) covered by the prefix shared with the
previous prompt is recorded in the stage stats.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from itertools import pairwise
from typing import Any, ClassVar

from selfcodealign.backends import Completion, LLMBackend, SamplingParams
from selfcodealign.backends.base import (
    PromptTooLong,
    RequestRejected,
    answer_each,
    can_stream,
)
from selfcodealign.generation.stream import drive
from selfcodealign.generation.text import is_looping, trim_runon
from selfcodealign.records import make_id
from selfcodealign.runner import Outcome, Rec, Stage
from selfcodealign.store.stage import StageStats

log = logging.getLogger(__name__)


def item_rng(seed: int, item_id: str) -> random.Random:
    return random.Random(f"{seed}:{item_id}")


def item_seed(seed: int, item_id: str) -> int:
    return int(make_id("sampling", seed, item_id), 16) % (2 ** 31)


def shared_prefix(prompts: Sequence[Sequence[Any]]) -> tuple[int, int]:
    """(units shared with the previous prompt, total units) over a batch: characters for
    strings, tokens for token-id lists."""
    shared = 0
    for before, now in pairwise(prompts):
        limit = min(len(before), len(now))
        i = 0
        while i < limit and before[i] == now[i]:
            i += 1
        shared += i
    return shared, sum(len(p) for p in prompts)


def _raise_if_systemic(answers: list[list[Completion] | BaseException]) -> None:
    """When every prompt of a batch (two or more) failed on its own with an unexpected error
    that is not about its length, the fault is the backend's (a bug, a broken install), not
    the items': it is raised rather than turned into drops that a rerun would never retry."""
    causes = [a.__cause__ for a in answers
              if isinstance(a, RequestRejected) and not isinstance(a, PromptTooLong)
              and a.__cause__ is not None]
    if len(answers) > 1 and len(causes) == len(answers) and causes[0] is not None:
        raise causes[0]


class LLMStage(Stage):
    """Prompts the base model once per input; subclasses define prompt() and parse()."""

    rate_label: ClassVar[str] = "parsed"

    def __init__(self, backend: LLMBackend, params: SamplingParams, *, seed: int,
                 batch_size: int = 64, prefix_groups: int = 0, early_stop: bool = False,
                 stream: bool = True) -> None:
        self.backend, self.seed = backend, seed
        # requests stream (generation/stream.py) when the backend can keep them in flight
        self.streaming = stream and backend is not None and can_stream(backend)
        # `early_stop` (off by default, as in the paper): the backend may end a completion
        # once its answer is complete or it loops (`generation.early_stop`).
        self.params = (dataclasses.replace(params, answer_done=type(self).answer_done,
                                           end_loops=True) if early_stop else params)
        self.batch_size, self.prefix_groups = batch_size, prefix_groups
        self.stats = StageStats()
        self._before: dict[str, float] = {}

    def begin(self, stats: StageStats) -> None:
        self.stats = stats
        self._before = dict(stats.metrics)  # rates in progress count this session only

    def main_rate(self, stats: StageStats) -> float | None:
        tried = stats.metrics.get("completions", 0.0)
        return stats.metrics.get("parsed", 0.0) / tried if tried else None

    def _measure_prefix(self, prompts: list[str]) -> None:
        """Shared-prefix share of the batch, in tokens when the backend has a tokenizer."""
        tokenizer = getattr(self.backend, "tokenizer", None)
        unit = "chars"
        sequences: Sequence[Sequence[Any]] = prompts
        if tokenizer is not None and callable(getattr(tokenizer, "encode", None)):
            sequences, unit = [tokenizer.encode(p) for p in prompts], "tokens"
        shared, total = shared_prefix(sequences)
        self._count(f"prefix_shared_{unit}", shared)
        self._count(f"prefix_total_{unit}", total)
        self.stats.metrics["prefix_share_last_batch"] = shared / total if total else 0.0

    def progress_note(self, stats: StageStats, elapsed_s: float) -> str:
        if elapsed_s <= 0:
            return ""
        def rate(key: str) -> float:
            return (stats.metrics.get(key, 0.0) - self._before.get(key, 0.0)) / elapsed_s

        return f"{rate('requests'):.1f} req/s | {rate('completion_tokens'):.0f} tok/s"

    @abstractmethod
    def prompt(self, record: Rec, rng: random.Random) -> tuple[str, dict[str, Any]]:
        """The prompt for `record` and the choices made for it (persisted in `meta`)."""

    @abstractmethod
    def parse(self, record: Rec, text: str, meta: dict[str, Any]) -> dict[str, Any] | str:
        """The new record's fields from one completion, or the reason it is unusable."""

    @staticmethod
    def answer_done(text: str) -> bool:
        """Whether a completion so far already holds the whole answer (nothing after it would
        be read); a backend may end it there (`SamplingParams.answer_done`)."""
        return trim_runon(text)[1]

    def trim(self, text: str) -> str:
        """The part of a completion that is the answer (`generation/text.py`). By default: up
        to a line that opens a new example or prompt section."""
        return trim_runon(text)[0]

    def output_id(self, record: Rec, index: int) -> str:
        return make_id(record["id"], self.name, index)

    def _count(self, key: str, amount: float = 1.0) -> None:
        self.stats.metrics[key] = self.stats.metrics.get(key, 0.0) + amount

    def item_seed(self, item_id: str) -> int:
        return item_seed(self.seed, item_id)

    def process_stream(self, records: Iterator[Rec]) -> Iterator[Outcome]:
        """One outcome per record, in input order, with requests streamed to the backend
        (`generation/stream.py`); used by `run_stage` when `streaming` is set."""
        streamer = self.backend.streamer(self.params)  # type: ignore[attr-defined]
        try:
            yield from drive(self, streamer, records)
        finally:
            streamer.close()

    def render_all(self, batch: list[Rec]) -> list[tuple[str, dict[str, Any]]]:
        return [self.prompt(record, item_rng(self.seed, record["id"])) for record in batch]

    def process(self, batch: list[Rec]) -> list[Outcome]:
        rendered = self.render_all(batch)
        order = sorted(range(len(batch)), key=lambda i: rendered[i][1].get("shot_group", 0))
        prompts = [rendered[i][0] for i in order]
        seeds = [item_seed(self.seed, batch[i]["id"]) for i in order]
        asked = getattr(self.backend, "misses", None)  # a CachedBackend counts what it sends
        answers = self._ask(prompts, seeds)
        _raise_if_systemic(answers)
        self._measure_prefix(prompts)
        self._count("requests", len(prompts))
        if isinstance(asked, int):
            self._count("model_requests", int(getattr(self.backend, "misses", 0)) - asked)
        by_item = dict(zip(order, answers, strict=True))
        return [self._settle(batch[i], rendered[i][1], by_item[i]) for i in range(len(batch))]

    def _ask(self, prompts: list[str], seeds: list[int]
             ) -> list[list[Completion] | BaseException]:
        """Each prompt's completions, or what ended its request (`answer_each`)."""
        return answer_each(self.backend, prompts, self.params, seeds,
                           on_split=lambda: self._count("batch_splits"))

    def _settle(self, record: Rec, meta: dict[str, Any],
                answer: list[Completion] | BaseException) -> Outcome:
        if not isinstance(answer, BaseException):
            return self._outcome(record, meta, answer)
        if isinstance(answer, RequestRejected):  # for good: this item's counted drop
            self._count("requests_rejected")
            drop = {"id": self.output_id(record, 0), "parent": record["id"],
                    "detail": str(answer), "meta": meta}
            return Outcome(record["id"], dropped=[(drop, answer.reason)])
        self._count("deferred")  # transient: nothing written, the next run asks again
        log.warning("%s: request for %s deferred after %s", self.name, record["id"], answer)
        return Outcome(record["id"], deferred=True)

    def _outcome(self, record: Rec, meta: dict[str, Any], completions: list[Completion]
                 ) -> Outcome:
        outcome = Outcome(record["id"])
        for index, completion in enumerate(completions):
            self._count("completions")
            self._count("prompt_tokens", completion.prompt_tokens)
            self._count("completion_tokens", completion.completion_tokens)
            info = {**meta, "sample": index, "finish_reason": completion.finish_reason,
                    "raw": completion.text, "prompt_tokens": completion.prompt_tokens,
                    "completion_tokens": completion.completion_tokens}
            if completion.meta.get("tokens_estimated"):
                info["tokens_estimated"] = True  # the request's total split over its samples
            rid = self.output_id(record, index)
            text = self.trim(completion.text)
            if text.strip() != completion.text.strip():
                info["trimmed"] = True  # parsed from the answer's part of `raw` only
                self._count("trimmed")
            if completion.finish_reason in ("length", "repetition", "unknown"):
                # The method drops every completion that reached max_tokens, even one whose
                # answer came before it; a loop is told apart from a long answer. A backend
                # that does not say why it stopped may have been cut off: treated the same.
                reason = ("repetition" if completion.finish_reason == "repetition"
                          or is_looping(completion.text) else
                          "finish_unknown" if completion.finish_reason == "unknown"
                          else "truncated")
                outcome.dropped.append(({"id": rid, "parent": record["id"], "meta": info},
                                        reason))
                continue
            fields = self.parse(record, text, meta)
            if isinstance(fields, str):
                outcome.dropped.append(({"id": rid, "parent": record["id"], "meta": info},
                                        fields))
                continue
            self._count("parsed")
            outcome.kept.append({"id": rid, "parent": record["id"], **fields, "meta": info})
        if not completions:
            outcome.dropped.append(({"id": self.output_id(record, 0), "parent": record["id"]},
                                    "no_completion"))
        return outcome
