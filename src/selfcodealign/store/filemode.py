"""File mode: a stage run from one JSONL file into another, resumable like any stage.

While it runs, the stage lives in `<output>.parts/` (shards, rejects, stats, settings guard), so
a killed run resumes from there. When the stage completes, its records are written to `<output>`
in one atomic rename, the rejects to `<stem>.rejects.jsonl`, the stats to `<stem>.stats.json`,
and the parts folder is removed.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path
from typing import IO

import orjson

from selfcodealign.errors import AlreadyDoneError, StoreError
from selfcodealign.store.files import atomic_write, dumps
from selfcodealign.store.stage import STATS_FILE, iter_records


def parts_dir(output: Path) -> Path:
    return output.with_name(output.name + ".parts")


def _stem(output: Path) -> Path:
    name = output.name
    for suffix in (".jsonl.gz", ".jsonl", ".json"):
        if name.endswith(suffix):
            return output.with_name(name[: -len(suffix)])
    return output


def companion_paths(output: Path) -> tuple[Path, Path]:
    """Where the rejects and the stats of a file-mode stage go."""
    stem = _stem(output)
    return stem.with_name(stem.name + ".rejects.jsonl"), stem.with_name(stem.name + ".stats.json")


def _made(stats: Path) -> str:
    """' (N records, M dropped)' from a finished stage's stats file, or '' if unreadable."""
    try:
        info = orjson.loads(stats.read_bytes())
        return f" ({int(info['kept']):,} records, {int(info['dropped']):,} dropped)"
    except (OSError, ValueError, TypeError, KeyError):
        return ""


def check_output(output: Path, *, force: bool = False) -> None:
    """A finished output is left alone (AlreadyDoneError: nothing to do) unless `force`, which
    removes it and its companions so the stage runs again; a half-done one resumes from its
    parts."""
    if not output.parent.is_dir():
        raise StoreError(f"output folder does not exist: {output.parent}")
    if output.exists() and not parts_dir(output).exists():
        rejects, stats = companion_paths(output)
        if not force:
            raise AlreadyDoneError(f"{output} is already complete{_made(stats)}; nothing to "
                                   "do (--force makes it again)")
        for path in (output, rejects, stats):
            path.unlink(missing_ok=True)


def _dump(fh: IO[bytes], directory: Path, kind: str) -> int:
    count = 0
    for record in iter_records(directory, kind):
        fh.write(dumps(record))
        count += 1
    return count


def _write_all(path: Path, directory: Path, kind: str) -> int:
    tmp = path.with_name(f".{path.name}.tmp")
    if path.name.endswith(".gz"):
        with gzip.open(tmp, "wb", compresslevel=3) as fh:
            count = _dump(fh, directory, kind)  # type: ignore[arg-type]
    else:
        with open(tmp, "wb") as plain:
            count = _dump(plain, directory, kind)
    os.replace(tmp, path)
    return count


def finish(output: Path) -> dict[str, int]:
    """Publish a completed file-mode stage; returns how many records and rejects were written."""
    directory = parts_dir(output)
    rejects_path, stats_path = companion_paths(output)
    kept = _write_all(output, directory, "shard")
    dropped = _write_all(rejects_path, directory, "rejects")
    stats = orjson.loads((directory / STATS_FILE).read_bytes())
    atomic_write(stats_path, orjson.dumps(stats, option=orjson.OPT_INDENT_2))
    shutil.rmtree(directory)
    return {"records_written": kept, "rejects_written": dropped}
