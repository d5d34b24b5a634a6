"""Export of the selected samples: JSONL, a Hugging Face dataset, Parquet, and a dataset card.

Columns: `instruction`, `response`, `messages` (user/assistant), `tests`, and lineage: `id`,
`instruction_id`, `seed_id`, `seed`, `seed_source` (origin, repo, path, license, when the seeds
are known), `concepts`, `category`, `difficulty`, `status`, `passed`, `asserts_executed`,
`passing_samples`, `samples`, `cross_pass`, `cross_tried`, `augmented_asserts`. The card
(README.md) is generated from the run: counts per stage, drop reasons, the contamination
report, model and sampling settings, package version.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from selfcodealign import __version__
from selfcodealign.extras import require
from selfcodealign.runner import Rec
from selfcodealign.store.files import atomic_write, dumps

COLUMNS = ("id", "instruction", "response", "messages", "tests", "instruction_id", "seed_id",
           "seed", "seed_source", "concepts", "category", "difficulty", "status", "passed",
           "asserts_executed", "passing_samples", "samples", "cross_pass", "cross_tried",
           "augmented_asserts")
_SOURCE_KEYS = ("origin", "repo", "path", "license")


def row(record: Rec, seed_sources: Mapping[str, dict[str, str]]) -> dict[str, Any]:
    signals = record.get("signals") or {}
    source = seed_sources.get(str(record.get("seed_id", "")), {})
    return {
        "id": record["id"], "instruction": record["instruction"],
        "response": record["response"], "messages": record["messages"],
        "tests": record.get("tests", ""), "instruction_id": str(record.get("parent", "")),
        "seed_id": str(record.get("seed_id", "")), "seed": str(record.get("seed", "")),
        "seed_source": {k: str(source.get(k, "")) for k in _SOURCE_KEYS},
        "concepts": str(record.get("concepts", "")), "category": str(record.get("category", "")),
        "difficulty": str(record.get("difficulty", "")), "status": str(record.get("status", "")),
        "passed": bool(record.get("passed", False)),
        "asserts_executed": int(signals.get("asserts_executed", 0)),
        "passing_samples": int(signals.get("passing_samples", 0)),
        "samples": int(signals.get("samples", 0)),
        "cross_pass": int(signals.get("cross_pass", 0)),
        "cross_tried": int(signals.get("cross_tried", 0)),
        "augmented_asserts": int(record.get("augmented_asserts", 0)),
    }


def export(records: Iterable[Rec], folder: Path, *, seed_sources: Mapping[str, dict[str, str]],
           card: dict[str, Any], push_to_hub: str | None = None) -> dict[str, Any]:
    """Write data.jsonl, data.parquet, hf/ (save_to_disk) and README.md into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [row(r, seed_sources) for r in records]
    atomic_write(folder / "data.jsonl", b"".join(dumps(r) for r in rows))
    datasets = require("datasets", extra="train", feature="the dataset export")
    # the library's own progress bars would print at every select, into logs too: the stage
    # has its own progress line
    was_enabled = datasets.utils.logging.is_progress_bar_enabled()
    datasets.utils.logging.disable_progress_bar()
    try:
        return _write(datasets, rows, folder, card, push_to_hub)
    finally:
        if was_enabled:
            datasets.utils.logging.enable_progress_bar()


def _write(datasets: Any, rows: list[dict[str, Any]], folder: Path, card: dict[str, Any],
           push_to_hub: str | None) -> dict[str, Any]:
    dataset = datasets.Dataset.from_list(rows) if rows else datasets.Dataset.from_dict(
        {c: [] for c in COLUMNS})
    dataset.save_to_disk(str(folder / "hf"))
    dataset.to_parquet(str(folder / "data.parquet"))
    atomic_write(folder / "README.md", dataset_card({**card, "rows": len(rows)}).encode())
    pushed = None
    if push_to_hub:
        dataset.push_to_hub(push_to_hub, token=os.environ.get("HF_TOKEN"))
        pushed = push_to_hub
    return {"rows": len(rows), "folder": str(folder), "pushed_to": pushed}


def _table(counts: Mapping[str, Any]) -> str:
    lines = ["| | count |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in counts.items()]
    return "\n".join(lines)


def dataset_card(info: dict[str, Any]) -> str:
    """A README.md for the dataset, from the run's real counts."""
    stages = info.get("stages", {})
    funnel = {name: stats.get("kept", 0) for name, stats in stages.items()}
    parts = [
        "---", "license: other", "task_categories:", "- text-generation", "tags:",
        "- code", "- synthetic", "- selfcodealign", "---", "",
        "# SelfCodeAlign instruction data", "",
        f"{info['rows']} instruction-response pairs written and verified by the base model "
        f"`{info.get('model') or 'unknown'}` itself (SelfCodeAlign: seeds -> concepts -> "
        "instructions -> responses with tests -> sandboxed execution -> selection), made with "
        f"selfcodealign {__version__}.", "",
        "## Funnel (records kept per stage)", "", _table(funnel), "",
        "## Selection drops", "", _table(info.get("dropped", {})), "",
        "## Decontamination", "",
        "Instruction + response checked against: "
        f"{', '.join(info.get('benchmarks', [])) or 'nothing'} "
        "(normalised substrings and word n-grams).", "",
        _table(info.get("contamination", {}) or {"none found": 0}), "",
        "## Generation settings", "", "```json",
        orjson.dumps(info.get("settings", {}), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
                     ).decode(), "```", "",
        "## Columns", "", ", ".join(f"`{c}`" for c in COLUMNS), "",
    ]
    return "\n".join(parts)
