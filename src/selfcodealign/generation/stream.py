"""The streaming path of an LLM stage: requests in flight without batch boundaries.

`drive(stage, streamer, records)` keeps the backend's `capacity` requests in flight: as soon as one
answer comes back, the next request goes out (to whichever engine or connection is free), so a long
completion never holds the others up. Records are still rendered in windows of the stage's
`batch_size`, sent in shot-group order within a window (for the prefix cache, as the batch path
does), and the outcomes are yielded in input order: a reorder buffer holds the answers that came
back early, and renders no new window that would take it past `4 x capacity + batch_size` records,
so memory stays bounded behind one very slow request. Seeds are per item, so which engine answered,
and when, does not change an answer, and the stage's files are the same as the batch path's.

Failures are per request, as in the batch path: a rejected request is its item's drop, a
transient one defers its item, an unexpected error is the item's `request_rejected` drop,
unless every request of a window (two or more) failed that way: then it is raised, and none of
that window's failures is written (they wait for their window's last answer), so a rerun asks
them again.
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
        self.of: dict[int, int] = {}  # key -> window, until the key's outcome is yielded
        self.left: dict[int, int] = {}
        self.size: dict[int, int] = {}
        self.members: dict[int, int] = {}  # keys of the window not yielded yet
        self.causes: dict[int, list[BaseException]] = {}

    def open(self, window: int, keys: list[int]) -> None:
        self.left[window] = self.size[window] = self.members[window] = len(keys)
        self.causes[window] = []
        for key in keys:
            self.of[key] = window

    def settle(self, key: int, result: Result) -> None:
        window = self.of[key]
        cause = _unexpected(result)
        if cause is not None:
            self.causes[window].append(cause)
        self.left[window] -= 1
        if self.left[window] == 0:
            causes, size = self.causes[window], self.size[window]
            if size > 1 and len(causes) == size:
                raise causes[0]  # every request failed on its own: the engine is at fault

    def undecided(self, key: int, result: Result) -> bool:
        """Whether `result` is an unexpected failure whose window still waits for answers:
        held back, since the whole window failing that way is raised, not written."""
        return _unexpected(result) is not None and self.left[self.of[key]] > 0

    def forget(self, key: int) -> None:
        window = self.of.pop(key)
        self.members[window] -= 1
        if self.members[window] == 0:  # every outcome of the window is out
            for table in (self.left, self.size, self.members, self.causes):
                del table[window]


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
                if exhausted or len(order) + stage.batch_size > ahead:
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
        while order and order[0] in answers and not windows.undecided(order[0],
                                                                     answers[order[0]]):
            key = order.popleft()
            windows.forget(key)
            record, meta = items.pop(key)
            stage._count("requests")
            if isinstance(asked, int):
                now = int(getattr(stage.backend, "misses", 0))
                stage._count("model_requests", now - asked)
                asked = now
            yield stage._settle(record, meta, answers.pop(key))
