"""The streaming path of an LLM stage: requests in flight without batch boundaries.

`drive(stage, streamer, records)` keeps the backend's `capacity` requests in flight: as soon as
one answer comes back, the next request goes out (to whichever engine or connection is free),
so a long completion never holds the others up. Records are still rendered in windows of the
stage's `batch_size`, sent in shot-group order within a window (for the prefix cache, as the
batch path does), and the outcomes are yielded in input order: a reorder buffer holds the
answers that came back early, and stops new requests when it holds `4 x capacity + batch_size`
records, so memory stays bounded behind one very slow request. Seeds are per item, so which
engine answered, and when, does not change an answer, and the stage's files are the same as
the batch path's.

Failures are per request, as in the batch path: a rejected request is its item's drop, a
transient one defers its item, an unexpected error is the item's `request_rejected` drop,
unless every request of a window (two or more) failed that way: then it is raised.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from selfcodealign.backends.base import (
    PromptTooLong,
    RequestRejected,
    Result,
    Streamer,
    is_too_long,
)
from selfcodealign.errors import BackendError
from selfcodealign.runner import Outcome, Rec

if TYPE_CHECKING:
    from selfcodealign.generation.base import LLMStage


def as_failure(result: Result) -> Result:
    """A request's unexpected exception as its `request_rejected` (or `prompt_too_long`)
    failure, the original kept as the cause; anything else as it is."""
    if not isinstance(result, Exception) or isinstance(result, BackendError):
        return result
    message = f"{type(result).__name__}: {str(result)[:300]}"
    refused = (PromptTooLong if is_too_long(message) else RequestRejected)(message)
    refused.__cause__ = result
    return refused


def _unexpected(result: Result) -> BaseException | None:
    if isinstance(result, RequestRejected) and not isinstance(result, PromptTooLong):
        return result.__cause__
    return None


class _Windows:
    """Which window each request belongs to, to tell a broken engine from guilty items."""

    def __init__(self) -> None:
        self.of: dict[int, int] = {}
        self.left: dict[int, int] = {}
        self.size: dict[int, int] = {}
        self.causes: dict[int, list[BaseException]] = {}

    def open(self, window: int, keys: list[int]) -> None:
        self.left[window] = self.size[window] = len(keys)
        self.causes[window] = []
        for key in keys:
            self.of[key] = window

    def settle(self, key: int, result: Result) -> None:
        window = self.of.pop(key)
        cause = _unexpected(result)
        if cause is not None:
            self.causes[window].append(cause)
        self.left[window] -= 1
        if self.left[window] == 0:
            causes, size = self.causes.pop(window), self.size.pop(window)
            del self.left[window]
            if size > 1 and len(causes) == size:
                raise causes[0]  # every request failed on its own: the engine is at fault


def drive(stage: LLMStage, streamer: Streamer, records: Iterator[Rec]) -> Iterator[Outcome]:
    """One outcome per record of `records`, in their order (see the module docstring)."""
    capacity = max(1, int(streamer.capacity))
    ahead = 4 * capacity + stage.batch_size
    items: dict[int, tuple[Rec, dict[str, Any]]] = {}
    order: deque[int] = deque()  # keys rendered and not yet yielded, in input order
    unsent: deque[tuple[int, str, int]] = deque()
    answers: dict[int, Result] = {}
    in_flight: set[int] = set()
    windows = _Windows()
    keys, window_ids = itertools.count(), itertools.count()
    exhausted = False
    asked = getattr(stage.backend, "misses", None)

    def render_window() -> bool:
        batch = list(itertools.islice(records, stage.batch_size))
        if not batch:
            return False
        rendered = stage.render_all(batch)
        chosen = [next(keys) for _ in batch]
        for key, record, (_, meta) in zip(chosen, batch, rendered, strict=True):
            items[key] = (record, meta)
            order.append(key)
        send = sorted(range(len(batch)), key=lambda i: rendered[i][1].get("shot_group", 0))
        stage._measure_prefix([rendered[i][0] for i in send])
        for i in send:
            unsent.append((chosen[i], rendered[i][0], stage.item_seed(batch[i]["id"])))
        windows.open(next(window_ids), chosen)
        return True

    while True:
        while len(in_flight) < capacity:
            if not unsent:
                if exhausted or len(order) >= ahead:
                    break
                if not render_window():
                    exhausted = True
                    break
            key, prompt, seed = unsent.popleft()
            streamer.submit(key, prompt, seed)
            in_flight.add(key)
        if not order:
            return
        try:
            done = streamer.finished(wait=True)
        except BackendError as error:  # the backend as a whole: every request in flight
            done = [(key, error) for key in in_flight]
        if not done and not in_flight:
            raise RuntimeError("the stream has nothing in flight and no answer for "
                               f"{len(order)} records")  # a streamer that lost requests
        for key, result in done:
            if key not in in_flight:  # a late answer to a request already given up
                continue
            in_flight.discard(key)
            answers[key] = as_failure(result)
            windows.settle(key, answers[key])
        while order and order[0] in answers:
            key = order.popleft()
            record, meta = items.pop(key)
            stage._count("requests")
            if isinstance(asked, int):
                now = int(getattr(stage.backend, "misses", 0))
                stage._count("model_requests", now - asked)
                asked = now
            yield stage._settle(record, meta, answers.pop(key))
