"""HumanEval+ and MBPP+ (EvalPlus releases): finding, downloading and reading them.

Looked up in order: an explicit folder, `$SELFCODEALIGN_BENCHMARKS`, the cache folder
`~/.cache/selfcodealign/evalplus`; when none has the file, it is downloaded there from the
EvalPlus release (when online). The package ships no copy of the data.
"""

from __future__ import annotations

import gzip
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

from selfcodealign.errors import InputError

RELEASES = {
    "humaneval": ("HumanEvalPlus.jsonl.gz", "https://github.com/evalplus/humanevalplus_release/"
                  "releases/download/v0.1.10/HumanEvalPlus.jsonl.gz", "v0.1.10"),
    "mbpp": ("MbppPlus.jsonl.gz", "https://github.com/evalplus/mbppplus_release/releases/"
             "download/v0.2.0/MbppPlus.jsonl.gz", "v0.2.0"),
}
CACHE = Path("~/.cache/selfcodealign/evalplus").expanduser()


def _folders(explicit: str | Path | None) -> list[Path]:
    found = [Path(explicit).expanduser()] if explicit else []
    if env := os.environ.get("SELFCODEALIGN_BENCHMARKS"):
        found.append(Path(env).expanduser())
    found.append(CACHE)
    return found


def locate(name: str, folder: str | Path | None = None, *, download: bool = True) -> Path:
    """The path of a benchmark's release file, downloading it into the cache if needed."""
    if name not in RELEASES:
        raise InputError(f"unknown benchmark {name!r}; known: {', '.join(RELEASES)}")
    filename, url, _ = RELEASES[name]
    for candidate in _folders(folder):
        if (candidate / filename).is_file():
            return candidate / filename
    if not download:
        raise InputError(f"{filename} not found in {', '.join(map(str, _folders(folder)))}")
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / filename
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
    except OSError as exc:
        raise InputError(f"{filename} is not available locally and the download from the "
                         f"EvalPlus release failed ({exc}); pass the folder that holds it"
                         ) from None
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def load(name_or_path: str, folder: str | Path | None = None) -> list[dict[str, Any]]:
    """Tasks of `humaneval`, `mbpp`, or a user JSONL file (plain or gzip)."""
    path = Path(name_or_path)
    if name_or_path not in RELEASES:
        if not path.is_file():
            raise InputError(f"benchmark file not found: {name_or_path}")
    else:
        path = locate(name_or_path, folder)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:  # json, not orjson: the data has NaN/Infinity
        return [row for line in fh if line.strip() and isinstance(row := json.loads(line), dict)]
