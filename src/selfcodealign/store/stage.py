"""Writing and reading one stage's records: batched appends, commits, resume, stats.

`StageWriter` is the only way a stage writes. Each call to `write(src, kept, dropped)` hands over
*every* output of one input (kept records and dropped ones with a reason), so an input is either
wholly on disk or not at all. Groups are buffered and appended in batches; after each append the
writer commits by atomically rewriting `stats.json`, which records how many bytes of each open
shard are committed. Recovery after a crash (SIGKILL included) truncates open shards to their
committed length, so a half-written batch, which may hold half a group, is dropped as a whole
and redone. Finished work is never lost; a rerun skips every input and id already written.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

import orjson

from selfcodealign.errors import StoreError
from selfcodealign.store.files import (
    KINDS,
    ShardName,
    atomic_write,
    dumps,
    finish_shard,
    list_shards,
    read_lines,
)

log = logging.getLogger(__name__)

STATS_FILE = "stats.json"


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class StoreOptions:
    """How a writer batches and lays out its files (none of it changes what is written)."""

    compress: bool = False
    shard_size: int = 10_000
    flush_every: int = 64
    flush_seconds: float = 5.0
    fsync: bool = False


@dataclass
class StageStats:
    """Counts of one stage; rebuilt from disk on open so they always match what is stored."""

    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    inputs_done: int = 0
    duplicates_skipped: int = 0
    elapsed_s: float = 0.0
    sessions: int = 0
    complete: bool = False
    started_at: str | None = None
    updated_at: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def to_dict(self, elapsed_s: float | None = None) -> dict[str, Any]:
        elapsed = self.elapsed_s if elapsed_s is None else elapsed_s

        def rate(n: int) -> float | None:
            return round(n / elapsed, 3) if elapsed > 0 else None

        return {
            "kept": self.kept,
            "dropped": self.dropped_total,
            "dropped_by_reason": dict(self.dropped.most_common()),
            "inputs_done": self.inputs_done,
            "duplicates_skipped": self.duplicates_skipped,
            "elapsed_s": round(elapsed, 3),
            "inputs_per_s": rate(self.inputs_done),
            "kept_per_s": rate(self.kept),
            "sessions": self.sessions,
            "complete": self.complete,
            "started_at": self.started_at,
            "updated_at": self.updated_at,
            "metrics": self.metrics,
        }


@dataclass
class _OpenShard:
    name: ShardName
    path: Path
    fh: IO[bytes]
    lines: int
    size: int


def _read_stats(directory: Path) -> dict[str, Any]:
    path = directory / STATS_FILE
    if not path.exists():
        return {}
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        log.warning("%s is unreadable (%s); recovering from the shards alone", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _recover_part(path: Path, committed: int | None) -> None:
    """Cut an open shard back to its last commit, then to its last whole valid line."""
    size = path.stat().st_size
    if committed is not None and size > committed:
        log.info("%s: discarding %d bytes of an uncommitted batch", path.name, size - committed)
        os.truncate(path, committed)
    valid_end, bad_lines, good = 0, 0, []
    for start, end, record in read_lines(path):
        good.append(record)
        if start != valid_end:
            bad_lines += 1  # a skipped damaged line sits between the last good one and this one
        valid_end = end
    size = path.stat().st_size
    if bad_lines:  # damage in the middle: rewrite the valid lines only
        atomic_write(path, b"".join(dumps(r) for r in good))
    elif size > valid_end:  # damaged tail only
        os.truncate(path, valid_end)


class StageWriter:
    """Appends one stage's kept and dropped records; resumable and crash-safe."""

    def __init__(self, directory: Path, options: StoreOptions | None = None) -> None:
        self.directory = directory
        self.options = options or StoreOptions()
        self.ids: set[str] = set()
        self.done: set[str] = set()
        self.stats = StageStats()
        self._open: dict[str, _OpenShard] = {}
        self._next_seq = dict.fromkeys(KINDS, 0)
        self._buffer: dict[str, list[bytes]] = {kind: [] for kind in KINDS}
        self._buffered = 0
        self._buffer_since = 0.0
        self._closed = False
        directory.mkdir(parents=True, exist_ok=True)
        self._recover()
        self._session_start = time.monotonic()
        self.stats.sessions += 1
        self.stats.started_at = self.stats.started_at or now_iso()

    # -- recovery ----------------------------------------------------------------------------

    def _recover(self) -> None:
        previous = _read_stats(self.directory)
        commits = previous.get("commit") if "commit" in previous else None
        for stray in self.directory.glob(".*.tmp"):
            stray.unlink()
        for kind in KINDS:
            shards = list_shards(self.directory, kind)
            finished = {name.seq for name, _ in shards if name.state != "part"}
            for name, path in shards:
                if name.state == "part":
                    if name.seq in finished:  # crashed between finishing and removing the part
                        path.unlink()
                        continue
                    committed = None if commits is None else int(commits.get(path.name, 0))
                    _recover_part(path, committed)
                    if path.stat().st_size == 0:
                        path.unlink()
                        continue
                self._load(kind, name, path)
        self.stats.elapsed_s = float(previous.get("elapsed_s", 0.0))
        self.stats.sessions = int(previous.get("sessions", 0))
        self.stats.started_at = previous.get("started_at")
        self.stats.complete = bool(previous.get("complete", False))
        self.stats.metrics = dict(previous.get("metrics", {}))

    def _load(self, kind: str, name: ShardName, path: Path) -> None:
        lines = 0
        for _, _, record in read_lines(path):
            lines += 1
            self._count(kind, record)
        self._next_seq[kind] = max(self._next_seq[kind], name.seq + 1)
        if name.state == "part":  # reopen the open shard for appending
            fh = open(path, "ab")  # noqa: SIM115 - held open across appends
            self._open[kind] = _OpenShard(name, path, fh, lines, path.stat().st_size)

    def _count(self, kind: str, record: Mapping[str, Any]) -> None:
        rid = record["id"]
        src = record.get("input_id", rid)
        self.ids.add(rid)
        if src not in self.done:
            self.done.add(src)
            self.stats.inputs_done += 1
        if kind == "shard":
            self.stats.kept += 1
        else:
            self.stats.dropped[str(record.get("reason", "unknown"))] += 1

    # -- writing -----------------------------------------------------------------------------

    def is_done(self, src: str) -> bool:
        """True when every output of input `src` is already stored."""
        return src in self.done

    def write(
        self,
        src: str,
        kept: Iterable[Mapping[str, Any]] = (),
        dropped: Iterable[tuple[Mapping[str, Any], str]] = (),
    ) -> None:
        """Store all outputs of input `src`: kept records and (record, reason) drops."""
        if self._closed:
            raise StoreError(f"writer for {self.directory} is closed")
        group: list[tuple[str, Mapping[str, Any], str | None]] = [
            ("shard", rec, None) for rec in kept
        ]
        group += [("rejects", rec, reason) for rec, reason in dropped]
        if not group:
            raise ValueError(f"input {src!r} produced no record and no drop reason")
        for kind, rec, reason in group:
            line = self._line(src, rec, reason)
            if line["id"] in self.ids:
                self.stats.duplicates_skipped += 1
                continue
            self._buffer[kind].append(dumps(line))
            self.stats.complete = False
            self._count(kind, line)
            self._buffered += 1
        self.done.add(src)  # a group of duplicates only still settles its input
        if self._buffered and not self._buffer_since:
            self._buffer_since = time.monotonic()
        if self._buffered >= self.options.flush_every or (
            self._buffered and time.monotonic() - self._buffer_since >= self.options.flush_seconds
        ):
            self.flush()

    @staticmethod
    def _line(src: str, rec: Mapping[str, Any], reason: str | None) -> dict[str, Any]:
        rid = rec.get("id")
        if not isinstance(rid, str) or not rid:
            raise ValueError(f"record from input {src!r} has no string 'id': {dict(rec)!r:.200}")
        line = {k: v for k, v in rec.items() if k not in ("input_id", "reason")}
        if src != rid:
            line["input_id"] = src
        if reason is not None:
            if not isinstance(reason, str) or not reason:
                raise ValueError(f"drop reason for {rid!r} must be a non-empty string")
            line["reason"] = reason
        return line

    def flush(self) -> None:
        """Append buffered groups to the open shards, then commit."""
        if not self._buffered:
            return
        for kind in KINDS:
            lines = self._buffer[kind]
            if not lines:
                continue
            shard = self._open.get(kind) or self._new_shard(kind)
            data = b"".join(lines)
            shard.fh.write(data)
            shard.fh.flush()
            if self.options.fsync:
                os.fsync(shard.fh.fileno())
            shard.size += len(data)
            shard.lines += len(lines)
            lines.clear()
        self._buffered, self._buffer_since = 0, 0.0
        self._commit()
        full = [k for k, s in self._open.items() if s.lines >= self.options.shard_size]
        for kind in full:
            self._finish(kind)
        if full:
            self._commit()

    def _new_shard(self, kind: str) -> _OpenShard:
        name = ShardName(kind, self._next_seq[kind], "part")
        self._next_seq[kind] += 1
        path = self.directory / name.filename()
        fh = open(path, "ab")  # noqa: SIM115 - held open across appends
        shard = _OpenShard(name, path, fh, 0, 0)
        self._open[kind] = shard
        return shard

    def _finish(self, kind: str) -> None:
        shard = self._open.pop(kind)
        shard.fh.close()
        finish_shard(shard.path, shard.name, compress=self.options.compress,
                     fsync=self.options.fsync)

    def _commit(self) -> None:
        data = self.stats.to_dict(elapsed_s=self._elapsed())
        data["commit"] = {s.path.name: s.size for s in self._open.values()}
        self.stats.updated_at = data["updated_at"] = now_iso()
        atomic_write(self.directory / STATS_FILE, orjson.dumps(data, option=orjson.OPT_INDENT_2),
                     fsync=self.options.fsync)

    def _elapsed(self) -> float:
        return self.stats.elapsed_s + (time.monotonic() - self._session_start)

    def close(self, *, complete: bool | None = None) -> StageStats:
        """Flush and commit; with `complete`, finish every open shard and mark the stage done.

        `complete=None` keeps the stage's previous state unless this session wrote records.
        """
        if self._closed:
            return self.stats
        self.flush()
        if complete:
            for kind in list(self._open):
                self._finish(kind)
        for shard in self._open.values():
            shard.fh.close()
        if complete is not None:
            self.stats.complete = complete
        self._commit()
        self.stats.elapsed_s = self._elapsed()
        self._closed = True
        return self.stats

    def __enter__(self) -> StageWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_records(directory: Path, kind: str = "shard") -> Iterator[dict[str, Any]]:
    """Stream a stage's kept records (or `kind="rejects"`), finished shards first per number."""
    shards = list_shards(directory, kind)
    finished = {name.seq for name, _ in shards if name.state != "part"}
    for name, path in shards:
        if name.state == "part" and name.seq in finished:
            continue
        for _, _, record in read_lines(path):
            yield record
