"""Writing and reading one stage's records: batched appends, commits, resume, stats.

`StageWriter` is the only way a stage writes. Each call to `write(src, kept, dropped)` hands over
*every* output of one input (kept records and dropped ones with a reason), so an input is either
wholly on disk or not at all. Groups are buffered and appended in batches; after each append the
writer commits by appending the open shards' sizes to `commits.log`. Recovery after a crash
(SIGKILL included) truncates open shards to their committed sizes, so a half-written batch,
which may hold half a group, is dropped as a whole and redone. Finished work is never lost; a
rerun skips every input and id already written. Counts are rebuilt from disk (from each finished
shard's index, so a resume does not reparse gigabytes), and `stats.json` is rewritten every few
seconds and on close.
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
    CommitLog,
    Entry,
    ShardName,
    atomic_write,
    dumps,
    entry_of,
    finish_shard,
    list_shards,
    read_index,
    read_lines,
    write_index,
)

log = logging.getLogger(__name__)

STATS_FILE = "stats.json"
COMMITS_FILE = "commits.log"
STATS_EVERY_S = 2.0


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
    info: dict[str, Any] = field(default_factory=dict)  # e.g. the sandbox's isolation level

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
            "info": self.info,
        }


@dataclass
class _OpenShard:
    name: ShardName
    path: Path
    fh: IO[bytes]
    entries: list[Entry]
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


def _recover_part(path: Path, committed: int | None) -> list[Entry]:
    """Cut an open shard back to its last commit, then to its last whole valid line."""
    size = path.stat().st_size
    if committed is not None and size > committed:
        log.info("%s: discarding %d bytes of an uncommitted batch", path.name, size - committed)
        os.truncate(path, committed)
    valid_end, damaged, good = 0, False, []
    for start, end, record in read_lines(path):
        good.append(record)
        damaged |= start != valid_end  # a skipped damaged line sits before this one
        valid_end = end
    if damaged:  # damage in the middle: rewrite the valid lines only
        atomic_write(path, b"".join(dumps(r) for r in good))
    elif path.stat().st_size > valid_end:  # damaged tail only
        os.truncate(path, valid_end)
    return [entry_of(r) for r in good]


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
        self._pending: dict[str, list[Entry]] = {kind: [] for kind in KINDS}
        self._buffered = 0
        self._buffer_since = 0.0
        self._closed = False
        directory.mkdir(parents=True, exist_ok=True)
        self._commits = CommitLog(directory / COMMITS_FILE, fsync=self.options.fsync)
        self._recover()
        self._session_start = self._stats_written = time.monotonic()
        self.stats.sessions += 1
        self.stats.started_at = self.stats.started_at or now_iso()

    # -- recovery ----------------------------------------------------------------------------

    def _recover(self) -> None:
        previous = _read_stats(self.directory)
        commit = self._commits.last()
        for stray in self.directory.glob(".*.tmp"):
            stray.unlink()
        for kind in KINDS:
            shards = list_shards(self.directory, kind)
            finished = {name.seq for name, _ in shards if name.state != "part"}
            for name, path in shards:
                self._next_seq[kind] = max(self._next_seq[kind], name.seq + 1)
                if name.state != "part":
                    index = read_index(path.with_name(name.index_filename()))
                    entries = index if index is not None else [
                        entry_of(r) for _, _, r in read_lines(path)]
                    self._count_all(kind, entries)
                elif name.seq in finished:  # crashed between finishing and removing the part
                    path.unlink()
                else:
                    self._reopen(kind, name, path, commit)
        self._commits.reset(self._sizes())
        self.stats.elapsed_s = float(previous.get("elapsed_s", 0.0))
        self.stats.sessions = int(previous.get("sessions", 0))
        self.stats.started_at = previous.get("started_at")
        self.stats.complete = bool(previous.get("complete", False))
        self.stats.metrics = dict(previous.get("metrics", {}))
        self.stats.info = dict(previous.get("info", {}))

    def _reopen(self, kind: str, name: ShardName, path: Path,
                commit: dict[str, int] | None) -> None:
        committed = None if commit is None else commit.get(path.name, 0)
        entries = _recover_part(path, committed)
        if not entries:
            path.unlink()
            return
        self._count_all(kind, entries)
        fh = open(path, "ab")  # noqa: SIM115 - held open across appends
        self._open[kind] = _OpenShard(name, path, fh, entries, path.stat().st_size)

    def _count_all(self, kind: str, entries: Iterable[Entry]) -> None:
        for entry in entries:
            self._count(kind, entry)

    def _count(self, kind: str, entry: Entry) -> None:
        rid, input_id, reason = entry
        src = input_id or rid
        self.ids.add(rid)
        if src not in self.done:
            self.done.add(src)
            self.stats.inputs_done += 1
        if kind == "shard":
            self.stats.kept += 1
        else:
            self.stats.dropped[reason or "unknown"] += 1

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
            entry = entry_of(line)
            if entry[0] in self.ids:
                self.stats.duplicates_skipped += 1
                continue
            self._buffer[kind].append(dumps(line))
            self._pending[kind].append(entry)
            self._count(kind, entry)
            self._buffered += 1
        self.done.add(src)  # a group of duplicates only still settles its input
        if self.stats.complete and self._buffered:
            self.stats.complete = False  # new records: say so before anything else happens
            self._write_stats()
        if self._buffered and not self._buffer_since:
            self._buffer_since = time.monotonic()
        if self._buffered >= self.options.flush_every or (
            self._buffered and time.monotonic() - self._buffer_since >= self.options.flush_seconds
        ):
            self.flush()

    @staticmethod
    def _line(src: str, rec: Mapping[str, Any], reason: str | None) -> Mapping[str, Any]:
        rid = rec.get("id")
        if not isinstance(rid, str) or not rid:
            raise ValueError(f"record from input {src!r} has no string 'id': {dict(rec)!r:.200}")
        if reason is not None and (not isinstance(reason, str) or not reason):
            raise ValueError(f"drop reason for {rid!r} must be a non-empty string")
        if src == rid and reason is None and "input_id" not in rec and "reason" not in rec:
            return rec  # the common case for filters: write the record as it is
        line = {k: v for k, v in rec.items() if k not in ("input_id", "reason")}
        if src != rid:
            line["input_id"] = src
        if reason is not None:
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
            shard.entries += self._pending[kind]
            lines.clear()
            self._pending[kind] = []
        self._buffered, self._buffer_since = 0, 0.0
        self._commits.append(self._sizes())
        full = [k for k, s in self._open.items() if len(s.entries) >= self.options.shard_size]
        for kind in full:
            self._finish(kind)
        if full:
            self._commits.reset(self._sizes())
        if time.monotonic() - self._stats_written >= STATS_EVERY_S:
            self._write_stats()

    def _sizes(self) -> dict[str, int]:
        return {s.path.name: s.size for s in self._open.values()}

    def _new_shard(self, kind: str) -> _OpenShard:
        name = ShardName(kind, self._next_seq[kind], "part")
        self._next_seq[kind] += 1
        path = self.directory / name.filename()
        fh = open(path, "ab")  # noqa: SIM115 - held open across appends
        shard = _OpenShard(name, path, fh, [], 0)
        self._open[kind] = shard
        return shard

    def _finish(self, kind: str) -> None:
        shard = self._open.pop(kind)
        shard.fh.close()
        write_index(shard.path.with_name(shard.name.index_filename()), shard.entries)
        finish_shard(shard.path, shard.name, compress=self.options.compress,
                     fsync=self.options.fsync)

    def _write_stats(self) -> None:
        self.stats.updated_at = now_iso()
        data = self.stats.to_dict(elapsed_s=self._elapsed())
        atomic_write(self.directory / STATS_FILE, orjson.dumps(data, option=orjson.OPT_INDENT_2),
                     fsync=self.options.fsync)
        self._stats_written = time.monotonic()

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
            self._commits.reset(self._sizes())
        for shard in self._open.values():
            shard.fh.close()
        self._commits.close()
        if complete is not None:
            self.stats.complete = complete
        self._write_stats()
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
