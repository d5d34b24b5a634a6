"""Collect the real completions of a run into the corpus `real_completions.jsonl`.

    python tests/data/collect_real.py RUN_DIR... > tests/data/real_completions.jsonl

Each line is one completion a real model wrote through the package (`meta.raw` of a generation
stage's output or reject), with what the stage needs to read it again (its parent record's
fields, the prompt's choices, the finish reason) and what the package makes of it (`label`):
`expect` is the drop reason or `kept`, `parsed` the kept record's fields, and for responses
`program` what the execute stage's assembly makes of the sample. The labels were read and
checked by hand when collected; `tests/test_real_corpus.py` holds the stages to them.
"""

from __future__ import annotations

import glob
import json
import sys
from pathlib import Path
from typing import Any

STAGES = ("concepts", "instructions", "responses")
PARENT_FIELDS = ("code", "seed", "seed_id", "concepts", "instruction", "category", "difficulty")
PARSED_FIELDS = {"concepts": ("concepts",), "instructions": ("instruction",),
                 "responses": ("response", "tests")}
META_FIELDS = ("shots", "shot_group", "category", "difficulty")


def _records(folder: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted(glob.glob(str(folder / "*.jsonl"))):
        with open(path, encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle if line.strip()]
    return rows


def label(entry: dict[str, Any]) -> dict[str, Any]:
    """What the stage makes of the completion now: `expect` (the drop reason or `kept`),
    `parsed` (the kept record's fields) and, for a kept response, `program` (what the execute
    stage's assembly makes of it: `program` or its reason)."""
    from selfcodealign.backends.base import Completion, SamplingParams
    from selfcodealign.execution.program import assemble
    from selfcodealign.generation.stages import Concepts, Instructions, Responses

    class Silent:
        name, model = "corpus", "corpus"

    kinds = {"concepts": Concepts, "instructions": Instructions, "responses": Responses}
    stage = kinds[entry["stage"]](Silent(), SamplingParams(), seed=0)  # type: ignore[arg-type]
    record = {"id": entry["parent"] or "parent", **entry["input"]}
    completion = Completion(entry["text"], entry["finish_reason"] or "stop")
    outcome = stage._outcome(record, dict(entry["meta"]), [completion])
    if outcome.dropped:
        return {"expect": outcome.dropped[0][1]}
    kept = outcome.kept[0]
    result: dict[str, Any] = {"expect": "kept",
                              "parsed": {k: kept.get(k) for k in PARSED_FIELDS[entry["stage"]]}}
    if entry["stage"] == "responses":
        program = assemble(kept)
        result["program"] = program if isinstance(program, str) else "program"
    return result


def collect(run: Path) -> list[dict[str, Any]]:
    upstream = {"concepts": "seeds", "instructions": "concepts", "responses": "instructions"}
    out = []
    for stage in STAGES:
        parents = {r["id"]: r for r in _records(run / upstream[stage])
                   if not r.get("reason")}
        for record in _records(run / stage):
            meta = record.get("meta") or {}
            if "raw" not in meta:
                continue
            parent = parents.get(record.get("parent", ""), {})
            entry: dict[str, Any] = {
                "stage": stage, "id": record["id"], "parent": record.get("parent"),
                "input": {k: parent[k] for k in PARENT_FIELDS if k in parent},
                "meta": {k: meta[k] for k in META_FIELDS if k in meta},
                "finish_reason": meta.get("finish_reason"), "text": meta["raw"]}
            out.append(entry | label(entry))
    return out


def main(runs: list[str]) -> None:
    for run in runs:
        for entry in collect(Path(run)):
            sys.stdout.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
