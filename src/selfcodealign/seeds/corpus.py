"""Corpus readers: stream source files, with provenance, from wherever users keep code.

Every reader yields `SourceFile`s one at a time (constant memory, whatever the corpus size):

- `stdlib`: the running interpreter's standard library (tests and vendored code left out), the
  default, so `selfcodealign seeds` does something real on a fresh machine;
- a directory tree of `.py` files;
- a git repository, its working tree or a revision (`path@rev`), read with `git cat-file --batch`;
- JSONL (optionally gzip) or Parquet files with a content column (The Stack's layout:
  `content`, `path`, `repo` or `max_stars_repo_name`, `license` or `max_stars_repo_licenses`);
- a Hugging Face dataset by name (`hf:bigcode/the-stack-smol`, streamed) or saved on disk; of
  the multi-language Stack datasets only the Python folder (`data/python`, as the paper read
  them), or the folder `seeds.data_dir` names.

Bytes are decoded later (`decode`), so a binary, non-UTF-8 or huge file becomes a counted drop.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from selfcodealign.errors import InputError
from selfcodealign.extras import require
from selfcodealign.records import make_id

STDLIB_SKIP = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__",
               "lib2to3", "ensurepip", "turtledemo", "idlelib", "venv"}


@dataclass
class SourceFile:
    origin: str  # the corpus spec it came from
    path: str  # path inside the corpus
    data: bytes
    repo: str = ""
    license: str = ""

    @property
    def id(self) -> str:
        return make_id("file", self.origin, self.repo, self.path)


def decode(data: bytes, max_bytes: int) -> tuple[str | None, str | None]:
    """(text, None) or (None, drop reason) for a file's bytes."""
    if len(data) > max_bytes:
        return None, "file_too_large"
    if b"\x00" in data:
        return None, "binary_file"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return None, "not_utf8"


def _walk(root: Path, skip: set[str]) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".py"):
                yield Path(dirpath) / name


def read_directory(root: Path, origin: str, skip: set[str] | None = None) -> Iterator[SourceFile]:
    for path in _walk(root, skip or set()):
        try:
            data = path.read_bytes()
        except OSError:
            continue  # vanished or unreadable: nothing to count it against
        yield SourceFile(origin, str(path.relative_to(root)), data, repo=root.name)


def read_stdlib() -> Iterator[SourceFile]:
    return read_directory(Path(sysconfig.get_paths()["stdlib"]), "stdlib", STDLIB_SKIP)


def read_git(repo: Path, revision: str, origin: str) -> Iterator[SourceFile]:
    """Every .py file of `revision`, streamed through one `git cat-file --batch` process."""
    def git(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)

    listing = git("ls-tree", "-r", "-z", "--full-tree", revision)
    if listing.returncode != 0:
        raise InputError(f"cannot read git revision {revision!r} of {repo}: "
                         f"{listing.stderr.decode(errors='replace').strip()}")
    entries = []
    for item in listing.stdout.split(b"\0"):
        if not item:
            continue
        meta, _, raw_name = item.partition(b"\t")
        mode, kind, sha = meta.split()
        if kind == b"blob" and raw_name.endswith(b".py") and mode != b"120000":
            entries.append((sha, raw_name.decode("utf-8", "replace")))
    with subprocess.Popen(["git", "-C", str(repo), "cat-file", "--batch"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        for sha, name in entries:
            proc.stdin.write(sha + b"\n")
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            size = int(header[2]) if len(header) == 3 else 0
            data = proc.stdout.read(size)
            proc.stdout.read(1)  # the newline after each object
            yield SourceFile(origin, name, data, repo=repo.resolve().name)
        proc.stdin.close()


def _first(record: dict[str, Any], *names: str) -> str:
    for name in names:
        value = record.get(name)
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        if value:
            return str(value)
    return ""


def _from_row(row: dict[str, Any], origin: str, index: int, column: str) -> SourceFile | None:
    content = row.get(column)
    if not isinstance(content, str | bytes):
        return None
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    path = _first(row, "path", "max_stars_repo_path", "file_path") or f"row-{index}"
    repo = _first(row, "repo", "repo_name", "max_stars_repo_name", "repository")
    license_ = _first(row, "license", "licenses", "max_stars_repo_licenses")
    return SourceFile(origin, path, data, repo=repo, license=license_)


def read_jsonl(path: Path, origin: str, column: str) -> Iterator[SourceFile]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        for index, line in enumerate(fh):
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(row, dict) and (item := _from_row(row, origin, index, column)):
                yield item


def read_parquet(path: Path, origin: str, column: str) -> Iterator[SourceFile]:
    parquet = require("pyarrow.parquet", extra="seeds", feature="reading Parquet corpora")
    index = 0
    for batch in parquet.ParquetFile(path).iter_batches(batch_size=256):
        for row in batch.to_pylist():
            if item := _from_row(row, origin, index, column):
                yield item
            index += 1


# Multi-language corpora whose Python files live in one folder: read that folder only, as the
# paper read The Stack's Python subset.
PYTHON_DATA_DIRS = {"the-stack": "data/python", "the-stack-dedup": "data/python",
                    "the-stack-smol": "data/python", "the-stack-smol-xl": "data/python"}


def python_data_dir(name: str) -> str | None:
    """The Python folder of a known multi-language dataset (by its last name part), else None."""
    return PYTHON_DATA_DIRS.get(name.rstrip("/").rsplit("/", 1)[-1])


def read_hf(name: str, origin: str, column: str, split: str,
            data_dir: str | None = None) -> Iterator[SourceFile]:
    """A Hugging Face dataset, streamed: a hub name, or a dataset saved with `save_to_disk`,
    or a folder of data files. `data_dir` (default: the Python folder of The Stack datasets)
    reads one folder of it."""
    datasets = require("datasets", extra="train", feature="reading Hugging Face datasets")
    folder = Path(name)
    if folder.is_dir() and ((folder / "dataset_info.json").exists()
                            or (folder / "dataset_dict.json").exists()):
        data = datasets.load_from_disk(name)
        rows = data[split] if isinstance(data, datasets.DatasetDict) else data
    else:
        chosen = data_dir or python_data_dir(name)
        extra = {"data_dir": chosen} if chosen else {}
        rows = datasets.load_dataset(name, split=split, streaming=True, **extra)
    for index, row in enumerate(rows):
        if item := _from_row(dict(row), origin, index, column):
            yield item


def corpus_kind(spec: str) -> str:
    """What a corpus spec names (stdlib, hf, hf_disk, git, directory, jsonl, parquet, python),
    checked without reading it; an InputError for a missing path or an unknown kind."""
    if spec == "stdlib":
        return "stdlib"
    if spec.startswith("hf:"):
        return "hf"
    base, _, revision = spec.partition("@")
    path = Path(base).expanduser()
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            return "hf_disk"
        return "git" if revision else "directory"
    if path.is_file():
        if path.name.endswith((".jsonl", ".jsonl.gz", ".json")):
            return "jsonl"
        if path.name.endswith(".parquet"):
            return "parquet"
        if path.name.endswith(".py"):
            return "python"
    raise InputError(f"corpus not found or of an unknown kind: {spec!r} (expected 'stdlib', a "
                     "directory, a git repo with @revision, .jsonl/.parquet files, or hf:NAME)")


def open_corpus(spec: str, *, column: str = "content", split: str = "train",
                data_dir: str | None = None) -> Iterator[SourceFile]:
    """The reader for a corpus spec (see the module docstring)."""
    kind = corpus_kind(spec)
    path = Path(spec.partition("@")[0]).expanduser()
    if kind == "stdlib":
        return read_stdlib()
    if kind == "hf":
        return read_hf(spec[3:], spec, column, split, data_dir)
    if kind == "hf_disk":
        return read_hf(str(path), spec, column, split)
    if kind == "git":
        return read_git(path, spec.partition("@")[2], spec)
    if kind == "directory":
        return read_directory(path, spec)
    if kind == "jsonl":
        return read_jsonl(path, spec, column)
    if kind == "parquet":
        return read_parquet(path, spec, column)
    return iter([SourceFile(spec, path.name, path.read_bytes())])
