"""A persistent cache of LLM calls: the same request is never sent to the model twice.

`CachedBackend` wraps any backend. A request is keyed by (backend, model, prompt, sampling
parameters, seed); hits come from a SQLite file, only misses go to the model (in one call), and
their completions are stored before they are returned. A rerun with unchanged inputs (into a new
output, after `--force`, after a crash between the model's answer and the stage's write) sends
nothing. A streamed request (`streamer`) is looked up on its own and its answer stored the moment
it arrives, so a crash loses no answer the model gave. What changed when a stage's prompts or
parameters change is reported by the stage's settings guard; the cache simply misses.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import orjson

from selfcodealign.backends.base import (
    Completion,
    LLMBackend,
    PartialFailure,
    Result,
    SamplingParams,
    Streamer,
    can_stream,
)


class CachedBackend:
    def __init__(self, inner: LLMBackend, path: str | Path) -> None:
        self.inner = inner
        self.name, self.model = inner.name, inner.model
        self.db = sqlite3.connect(str(path))
        self.db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, value BLOB)")
        self.hits = self.misses = 0
        self.streams = can_stream(inner)

    def _key(self, prompt: str, params: SamplingParams, seed: int | None) -> str:
        h = hashlib.sha256()
        for part in (self.inner.name, self.inner.model, prompt, repr(params), repr(seed)):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\x00")
        revision = getattr(self.inner, "revision", None)
        if isinstance(revision, str) and revision:  # (absent: keys as before revisions counted)
            h.update(b"revision\x00" + revision.encode())
        return h.hexdigest()

    def _lookup(self, key: str) -> list[Completion] | None:
        row = self.db.execute("SELECT value FROM calls WHERE key = ?", (key,)).fetchone()
        return None if row is None else [Completion(**c) for c in orjson.loads(row[0])]

    def _store(self, rows: list[tuple[str, list[Completion]]]) -> None:
        with self.db:  # committed before the answers go on: a crash after it asks nothing again
            self.db.executemany("INSERT OR REPLACE INTO calls VALUES (?, ?)",
                                [(key, orjson.dumps([c.__dict__ for c in completions]))
                                 for key, completions in rows])

    def streamer(self, params: SamplingParams) -> CachedStreamer:
        inner = self.inner.streamer(params)  # type: ignore[attr-defined]
        return CachedStreamer(self, inner, params)

    def generate(self, prompts: Sequence[str], params: SamplingParams,
                 seeds: Sequence[int] | None = None) -> list[list[Completion]]:
        seed_list: list[int | None] = list(seeds) if seeds is not None else [None] * len(prompts)
        keys = [self._key(p, params, s) for p, s in zip(prompts, seed_list, strict=True)]
        found: dict[str, list[Completion]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for key, value in self.db.execute(
                    f"SELECT key, value FROM calls WHERE key IN ({marks})", chunk):
                found[key] = [Completion(**c) for c in orjson.loads(value)]
        missing = [i for i, key in enumerate(keys) if key not in found]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        failed: dict[str, BaseException] = {}
        if missing:
            try:
                answers: list[list[Completion] | BaseException] = list(self.inner.generate(
                    [prompts[i] for i in missing], params,
                    None if seeds is None else [seeds[i] for i in missing]))
            except PartialFailure as partial:  # keep every answer that did come back
                answers = partial.results
            rows = []
            for i, completions in zip(missing, answers, strict=True):
                if isinstance(completions, BaseException):
                    failed[keys[i]] = completions
                    continue
                found[keys[i]] = completions
                rows.append((keys[i], completions))
            self._store(rows)
        if failed:
            raise PartialFailure([failed.get(key) or found[key] for key in keys])
        return [found[key] for key in keys]

    def close_cache(self) -> None:
        """Close the cache file only (the model may serve other stages)."""
        self.db.close()

    def close(self) -> None:
        self.db.close()
        self.inner.close()


class CachedStreamer:
    """A stream through the cache: a request it has answered comes back at once, without the
    model; each answer from the model is stored as it arrives, before the caller sees it."""

    def __init__(self, cache: CachedBackend, inner: Streamer, params: SamplingParams) -> None:
        self.cache, self.inner, self.params = cache, inner, params
        self.capacity = inner.capacity
        self.ready: list[tuple[int, Result]] = []
        self.sent: dict[int, str] = {}  # caller's key -> cache key, for requests at the model

    def submit(self, key: int, prompt: str, seed: int | None) -> None:
        cache_key = self.cache._key(prompt, self.params, seed)
        known = self.cache._lookup(cache_key)
        if known is not None:
            self.cache.hits += 1
            self.ready.append((key, known))
            return
        self.cache.misses += 1
        self.sent[key] = cache_key
        self.inner.submit(key, prompt, seed)

    def finished(self, wait: bool) -> list[tuple[int, Result]]:
        out, self.ready = self.ready, []
        if not self.sent:
            return out
        answers = self.inner.finished(wait and not out)
        rows = []
        for key, result in answers:
            cache_key = self.sent.pop(key)
            if not isinstance(result, BaseException):
                rows.append((cache_key, result))
        self.cache._store(rows)
        return out + answers

    def close(self) -> None:
        self.inner.close()
