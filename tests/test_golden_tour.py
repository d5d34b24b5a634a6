"""The fake tour's output is pinned: a refactor must leave every record byte-identical.

The corpus is written by the test (30 small functions in 6 files, relative paths so that no
temporary folder name reaches a record), the run is the whole loop with the scripted fake
backend, and the digests below were taken before the stage registry, the executor seam and the
typed records were introduced. Only `execution.duration_s`, a wall-clock measurement, is left out
of the comparison. If a change alters the data on purpose, the new digests go here with the
reason in the commit message.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest

from selfcodealign.config import load_config
from selfcodealign.pipeline import run_pipeline
from selfcodealign.records import STAGE_RECORDS, DatasetRow, problem
from selfcodealign.store import iter_records

GOLDEN = {
    "seeds": "9a6083b1c2a1fb7d",
    "concepts": "00822df7d29e5fa0",
    "instructions": "ef67fc33fb36713b",
    "responses": "dd4d6a6d028512ed",
    "execute": "004143ec3c5d597d",
    "select": "ce3c37e843d4169b",
    "dataset": "cc57dc2577629333",
}

OPS = (("add", "+"), ("sub", "-"), ("mul", "*"), ("mod", "%"), ("pow", "**"))


def write_corpus(folder: Path) -> None:
    folder.mkdir(parents=True)
    for f in range(6):
        parts = []
        for i, (name, op) in enumerate(OPS):
            k = f * 7 + i
            parts.append(
                f"def {name}_{k}(values, factor):\n"
                f'    """Combine each value with factor using {name}; variant {k}."""\n'
                f"    out = []\n    for v in values:\n        out.append(v {op} factor + {k})\n"
                f"    return out\n\n")
        (folder / f"mod{f}.py").write_text("".join(parts))


def _normal(line: bytes) -> bytes:
    record = orjson.loads(line)
    execution = record.get("execution")
    if isinstance(execution, dict):
        execution.pop("duration_s", None)
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def digests(run: Path) -> dict[str, str]:
    out = {}
    for name in GOLDEN:
        h = hashlib.sha256()
        for path in sorted((run / name).glob("*.jsonl")):
            h.update(path.name.encode())
            for line in path.read_bytes().splitlines():
                h.update(_normal(line))
        out[name] = h.hexdigest()[:16]
    return out


def test_the_fake_tour_is_byte_identical(tmp_path: Path, benchmark_dir: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_corpus(Path("corpus"))
    config = load_config(None, [
        "run.root=runs", "backend.name=fake", "seeds.corpus=[corpus]", "seeds.typecheck=false",
        f"seeds.benchmark_dir={benchmark_dir}", f"select.benchmark_dir={benchmark_dir}"])
    result = run_pipeline(config)
    assert result.complete
    assert [(s.name, s.kept) for s in result.stages] == [
        ("seeds", 30), ("concepts", 30), ("instructions", 30), ("responses", 300),
        ("execute", 300), ("select", 6)]
    assert digests(Path("runs/default")) == GOLDEN
    # every record fits the type docs/records.md gives for its stage
    for stage, record_type in STAGE_RECORDS.items():
        for record in iter_records(Path("runs/default") / stage):
            assert problem(record, record_type) is None, (stage, problem(record, record_type))
    for line in Path("runs/default/dataset/data.jsonl").read_bytes().splitlines():
        assert problem(orjson.loads(line), DatasetRow) is None
