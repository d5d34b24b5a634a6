"""Every parser on real model text: the corpus of SmolLM2-135M completions in `data/`.

Each completion was written by the real model through the package (`configs/cpu-real.yaml` and
the real-model test), collected with `data/collect_real.py`, and its label (drop reason, or the
parsed fields, and what the execute stage's assembly makes of a kept response) checked by hand.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent / "data"))
from collect_real import label

from selfcodealign.reasons import REASONS

CORPUS = Path(__file__).parent / "data" / "real_completions.jsonl"
ENTRIES: list[dict[str, Any]] = [json.loads(line) for line in CORPUS.read_text().splitlines()]


def test_the_corpus_is_real_varied_and_small() -> None:
    assert CORPUS.stat().st_size < 400_000
    stages = Counter(entry["stage"] for entry in ENTRIES)
    assert set(stages) == {"concepts", "instructions", "responses"}
    reasons = Counter(entry["expect"] for entry in ENTRIES)
    # the cases this corpus exists for, each met in real text
    for reason in ("kept", "truncated", "repetition", "no_response_end", "no_tests",
                   "code_not_concepts", "prose_not_concepts", "names_not_concepts",
                   "copied_shot"):
        assert reasons[reason] >= 1, reason
    assert len({(e["stage"], e["text"]) for e in ENTRIES}) == len(ENTRIES)  # no duplicates


@pytest.mark.parametrize("entry", ENTRIES, ids=[f"{e['stage']}-{e['id'][:10]}" for e in ENTRIES])
def test_each_real_completion_reads_as_labelled(entry: dict[str, Any]) -> None:
    got = label(entry)
    assert got["expect"] == entry["expect"]
    assert got["expect"] == "kept" or got["expect"] in REASONS
    if entry["expect"] == "kept":
        assert got["parsed"] == entry["parsed"]
        if entry["stage"] == "responses":
            assert got["program"] == entry["program"]
            assert got["program"] == "program" or got["program"] in REASONS
