"""File primitives of the run store: atomic writes, shard names, tolerant JSONL reading.

A stage folder holds numbered shards of kept records and of rejected ones:

    shard-00000.jsonl[.gz]     finished, never changed again
    shard-00000.idx            its index: (id, input id, reason) per line, for a fast resume
    shard-00001.jsonl.part     open: appended to in flushed batches, always plain JSONL
    rejects-00000.jsonl.part   dropped records, each with its `reason`
    commits.log                committed sizes of the open shards, one line per flush

An open shard becomes a finished one by rename (plain) or by gzip to a temporary file and rename
(compressed), so a reader never sees half a finished shard. Reading tolerates a damaged tail:
a last line cut short (no newline, invalid JSON) is dropped with a warning, never a crash.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

log = logging.getLogger(__name__)

KINDS = ("shard", "rejects")
_NAME = re.compile(r"^(shard|rejects)-(\d{5,})\.jsonl(\.gz|\.part)?$")


def atomic_write(path: Path, data: bytes, *, fsync: bool = False) -> None:
    """Write `data` via a temporary file and a rename: readers see old or new, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def dumps(record: Any) -> bytes:
    """One JSONL line (with its newline)."""
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


@dataclass(frozen=True, order=True)
class ShardName:
    kind: str  # "shard" or "rejects"
    seq: int
    state: str  # "part", "jsonl" or "gz"

    @classmethod
    def parse(cls, name: str) -> ShardName | None:
        m = _NAME.match(name)
        if not m:
            return None
        kind, seq, ext = m.groups()
        state = {".part": "part", ".gz": "gz", None: "jsonl"}[ext]
        return cls(kind, int(seq), state)

    def filename(self, state: str | None = None) -> str:
        state = state or self.state
        ext = {"part": ".jsonl.part", "jsonl": ".jsonl", "gz": ".jsonl.gz"}[state]
        return f"{self.kind}-{self.seq:05d}{ext}"

    def index_filename(self) -> str:
        return f"{self.kind}-{self.seq:05d}.idx"


def list_shards(directory: Path, kind: str) -> list[tuple[ShardName, Path]]:
    """All shards of one kind in a stage folder in sequence order; finished before open."""
    found = []
    if directory.is_dir():
        for path in directory.iterdir():
            name = ShardName.parse(path.name)
            if name is not None and name.kind == kind:
                found.append((name, path))
    return sorted(found, key=lambda item: (item[0].seq, item[0].state == "part"))


def _open_bytes(path: Path) -> Iterator[bytes]:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            yield from fh
    else:
        with open(path, "rb") as fh:
            yield from fh


def read_lines(path: Path) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """Yield (start offset, end offset, record) for each valid line of a shard.

    A damaged line is skipped with a warning; a damaged *last* line is the expected trace of a
    crash mid-write and is reported as such. Offsets are only meaningful for plain files.
    """
    offset = 0
    pending_error: str | None = None
    try:
        for raw in _open_bytes(path):
            if pending_error is not None:
                log.warning("%s: skipping a corrupt line in the middle of the shard (%s)",
                            path, pending_error)
                pending_error = None
            start, offset = offset, offset + len(raw)
            if not raw.endswith(b"\n"):
                pending_error = "line cut short, no newline"
                continue
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                pending_error = f"invalid JSON: {exc}"
                continue
            if not isinstance(record, dict) or not isinstance(record.get("id"), str):
                pending_error = "not a JSON object with a string 'id'"
                continue
            yield start, offset, record
    except (OSError, EOFError) as exc:  # truncated or damaged gzip stream
        log.warning("%s: stopped reading at a damaged block (%s)", path, exc)
    if pending_error is not None:
        log.warning("%s: dropped a corrupt last line (%s); it is redone on resume",
                    path, pending_error)


def finish_shard(part: Path, name: ShardName, *, compress: bool, fsync: bool) -> Path:
    """Turn an open `.part` shard into a finished one; returns the finished path."""
    if not compress:
        final = part.with_name(name.filename("jsonl"))
        if fsync:
            with open(part, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(part, final)
        return final
    final = part.with_name(name.filename("gz"))
    tmp = final.with_name(f".{final.name}.tmp")
    with open(part, "rb") as src, gzip.open(tmp, "wb", compresslevel=3) as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
    if fsync:
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
    os.replace(tmp, final)
    part.unlink()
    return final


# An index entry: (id, input id when it differs from id, drop reason for rejects).
Entry = tuple[str, "str | None", "str | None"]


def entry_of(record: Mapping[str, Any]) -> Entry:
    return (record["id"], record.get("input_id"), record.get("reason"))


def write_index(path: Path, entries: list[Entry]) -> None:
    atomic_write(path, orjson.dumps(entries))


def read_index(path: Path) -> list[Entry] | None:
    """A finished shard's index, or None when it is missing or unreadable (then scan)."""
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(data, list) or not all(isinstance(e, list) and len(e) == 3 for e in data):
        return None
    return [(e[0], e[1], e[2]) for e in data]


class CommitLog:
    """Committed byte sizes of the open shards: one JSON line appended per flush.

    Appending a short line is far cheaper than renaming a file per flush. The last whole line
    is the commit; a line cut short by a crash is ignored, so its batch counts as uncommitted.
    The log is rewritten to a single line whenever a shard is finished, so it stays small.
    """

    def __init__(self, path: Path, *, fsync: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        self._fh: IO[bytes] | None = None

    def last(self) -> dict[str, int] | None:
        """The latest commit; None when there is no log at all (recover by line checks)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        for line in reversed(raw.split(b"\n")):
            try:
                data = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(data, dict):
                return {str(k): int(v) for k, v in data.items()}
        return {}

    def append(self, sizes: dict[str, int]) -> None:
        if self._fh is None:
            self._fh = open(self.path, "ab")  # noqa: SIM115 - held open across commits
        self._fh.write(dumps(sizes))
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())

    def reset(self, sizes: dict[str, int]) -> None:
        self.close()
        atomic_write(self.path, dumps(sizes), fsync=self.fsync)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
