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
OFFLINE_HINT = ("pass --benchmarks DIR (a folder holding the release files) or set "
                "SELFCODEALIGN_BENCHMARKS; `selfcodealign benchmarks download` fetches them once "
                "online, `selfcodealign benchmarks import DIR` copies them into the cache")


def cache_dir() -> Path:
    """Where downloaded or imported release files are kept: `$SELFCODEALIGN_CACHE` when set
    (as for the expected outputs), else ~/.cache/selfcodealign/evalplus."""
    root = os.environ.get("SELFCODEALIGN_CACHE")
    return Path(root).expanduser() if root else CACHE


def describe(path: Path, name: str) -> dict[str, Any]:
    """A release file's version, sha256, size and task count (for `benchmarks list`)."""
    import hashlib

    data = path.read_bytes()
    text = gzip.decompress(data) if path.name.endswith(".gz") else data
    tasks = sum(1 for line in text.splitlines() if line.strip())
    return {"benchmark": name, "path": str(path), "version": version_of(name, path),
            "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "tasks": tasks}


def fetch_release(name: str) -> Path:
    """Fetch a benchmark's pinned EvalPlus release into the cache (again, if it is there)."""
    filename, url, _ = RELEASES[name]
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
    except OSError as exc:
        raise InputError(f"cannot download {filename} from the EvalPlus release ({exc}); "
                         f"{OFFLINE_HINT}") from None
    target = folder / filename
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return _check_file(name, target)


def import_folder(source: str | Path) -> list[Path]:
    """Copy the release files found in `source` (a folder or one file) into the cache, each
    checked to hold the benchmark its name says; returns the copies."""
    import shutil

    source = Path(source).expanduser()
    if not source.exists():
        raise InputError(f"benchmark path not found: {source}")
    copied = []
    folder = cache_dir()
    for name in RELEASES:
        found = (_check_file(name, source) if source.is_file() and NAMES[name].match(source.name)
                 else _in_folder(name, source) if source.is_dir() else None)
        if found is None:
            continue
        _check_file(name, found)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / found.name
        if found.resolve() != target.resolve():
            shutil.copyfile(found, target)
        copied.append(target)
    if not copied:
        raise InputError(f"no HumanEvalPlus/MbppPlus release file in {source}")
    return copied


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
    found.append(cache_dir())
    return found


def locate(name: str, folder: str | Path | None = None, *, download: bool = True) -> Path:
    """The path of a benchmark's release file, downloading it into the cache if needed."""
    if name not in RELEASES:
        raise InputError(f"unknown benchmark {name!r}; known: {', '.join(RELEASES)}")
    filename = RELEASES[name][0]
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
                         f"[.gz]) not found in {', '.join(map(str, _folders(folder)))}; "
                         f"{OFFLINE_HINT}")
    try:
        return fetch_release(name)
    except InputError:
        raise InputError(f"{filename} is not available locally and could not be downloaded "
                         f"from the EvalPlus release; {OFFLINE_HINT}") from None


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
