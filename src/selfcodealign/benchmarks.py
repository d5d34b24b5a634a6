"""HumanEval+ and MBPP+ (EvalPlus releases): finding, downloading and reading them.

An explicit path may be the release file itself (`HumanEvalPlus.jsonl.gz`, a versioned
`HumanEvalPlus-v0.1.10.jsonl`, `MbppPlus-v0.2.0.jsonl.gz`, any name: its first task id says which
benchmark it holds) or a folder. Folders are looked up in order: the explicit one,
`$SELFCODEALIGN_BENCHMARKS`, the cache folder `~/.cache/selfcodealign/evalplus`, each for the
release name first, then versioned names (newest first); when none has a file, it is downloaded
into the cache from the EvalPlus release (when online). The package ships no copy of the data.
"""

from __future__ import annotations

import gzip
import json
import os
import re
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
_VERSIONED = r"(?:-Mini)?(?:-(v\d+(?:\.\d+)*))?\.jsonl(?:\.gz)?$"
NAMES = {"humaneval": re.compile(r"^HumanEvalPlus" + _VERSIONED),
         "mbpp": re.compile(r"^MbppPlus" + _VERSIONED)}
TASK_PREFIX = {"humaneval": "HumanEval/", "mbpp": "Mbpp/"}


def version_of(name: str, path: Path) -> str:
    """The release version a file name says (`-v0.2.0`), the pinned one for the plain release
    name, else "unknown"."""
    match = NAMES[name].match(path.name)
    if match and match.group(1):
        return match.group(1)
    return RELEASES[name][2] if path.name == RELEASES[name][0] else "unknown"


def _key(version: str | None) -> tuple[int, ...]:
    return tuple(int(part) for part in (version or "v0")[1:].split("."))


def _in_folder(name: str, folder: Path) -> Path | None:
    exact = folder / RELEASES[name][0]
    if exact.is_file():
        return exact
    try:
        found = [(match, entry) for entry in folder.iterdir()
                 if (match := NAMES[name].match(entry.name)) and entry.is_file()]
    except OSError:
        return None
    full = [item for item in found if "-Mini" not in item[1].name] or found
    if not full:
        return None
    return max(full, key=lambda item: _key(item[0].group(1)))[1]


def _first_task(path: Path) -> str:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    return str(json.loads(line).get("task_id", ""))
    except (OSError, ValueError, AttributeError, EOFError) as exc:
        raise InputError(f"cannot read {path} as an EvalPlus JSONL file: {exc}") from None
    return ""


def _check_file(name: str, path: Path) -> Path:
    task = _first_task(path)
    if task.startswith(TASK_PREFIX[name]):
        return path
    other = next((b for b, prefix in TASK_PREFIX.items() if task.startswith(prefix)), None)
    what = f"{other} tasks ({task})" if other else f"no {name} task (first task id: {task!r})"
    raise InputError(f"{path} holds {what}, not {name}: give the {RELEASES[name][0]} file or "
                     "the folder that holds it")


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
    if folder is not None and Path(folder).expanduser().is_file():
        return _check_file(name, Path(folder).expanduser())
    if folder is not None and not Path(folder).expanduser().exists():
        raise InputError(f"benchmark path not found: {folder} (give a folder holding "
                         f"{filename} or a versioned {filename.split('.')[0]}-vX.Y.Z.jsonl[.gz], "
                         "or the file itself)")
    for candidate in _folders(folder):
        found = _in_folder(name, candidate)
        if found is not None:
            return found
    if not download:
        raise InputError(f"{filename} (or a versioned {filename.split('.')[0]}-vX.Y.Z.jsonl"
                         f"[.gz]) not found in {', '.join(map(str, _folders(folder)))}")
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
