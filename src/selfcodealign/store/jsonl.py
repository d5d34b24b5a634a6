"""Reading user-supplied JSONL (plain or gzip) as stage input, one bad line never fatal.

Each valid line yields its object; a record without an `id` gets one derived from its content
(stable across reruns). A line that is not a JSON object yields a stand-in record holding the
reason under `INVALID`; the stage runner drops it with that reason, so the drop is counted in
the stage's rejects instead of stopping the run.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from selfcodealign.errors import InputError
from selfcodealign.records import make_id

INVALID = "_invalid"


def _open(path: Path) -> IO[bytes]:
    try:
        if path.name.endswith(".gz"):
            return gzip.open(path, "rb")  # type: ignore[return-value]
        return open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"input file not found: {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Stream the records of a JSONL file; see the module docstring for bad lines."""
    path = Path(path)
    with _open(path) as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError:
                record = None
            if not isinstance(record, dict):
                yield {"id": make_id(path.name, number, raw), INVALID: "invalid_json_line",
                       "line": number}
                continue
            if not isinstance(record.get("id"), str) or not record["id"]:
                record["id"] = make_id(raw.strip())
            yield record


def count_lines(path: str | Path) -> int:
    """Number of non-empty lines (for progress totals); cheap on plain files."""
    count = 0
    with _open(Path(path)) as fh:
        for raw in fh:
            count += bool(raw.strip())
    return count
