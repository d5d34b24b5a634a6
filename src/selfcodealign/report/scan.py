"""Streaming passes over a run's stages for the report: counters, lengths and a capped sample.

Every pass reads one stage once and holds only counters, one 8-byte integer per record for the
length histograms, and at most `cap` samples, so a report over millions of records fits in
memory. The sample is chosen deterministically (the smallest hashes of instruction id, then
record id), so the same run always embeds the same records and the responses of one instruction
stay together. What a pass leaves out: seeds are never streamed (their stats suffice).
"""

from __future__ import annotations

import hashlib
import heapq
from array import array
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfcodealign.store import iter_records

SAMPLE_CAP = 2000
TEXT_CAP = 4000  # characters kept per embedded text field
CONCEPT_LIMIT = 200_000  # distinct concepts held before rare ones are pruned
NOT_EXECUTED = "not_executed"

Rec = dict[str, Any]


def _clip(value: Any, limit: int = TEXT_CAP) -> str:
    """A string for embedding: at most `limit` characters, valid UTF-8 (no lone surrogates)."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    if len(text) > limit:
        text = text[:limit] + f"\n… [{len(text) - limit:,} more characters cut]"
    return text.encode("utf-8", "replace").decode("utf-8")


def _label(value: Any) -> str:
    """A category/difficulty/status value as a label; missing ones become "(none)"."""
    text = str(value).strip() if value is not None else ""
    return text[:80] or "(none)"


def split_concepts(text: Any) -> list[str]:
    """Comma-separated concepts, whitespace collapsed; empty pieces dropped."""
    if not isinstance(text, str):
        return []
    return [" ".join(part.split()) for part in text.split(",") if part.strip()]


def _nice_step(raw: float) -> int:
    """The smallest 1, 2 or 5 times a power of ten that is at least `raw` (and at least 1)."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            if factor * magnitude >= raw:
                return factor * magnitude
        magnitude *= 10


@dataclass
class Lengths:
    """Lengths of one text field in `unit`, one integer per record."""

    unit: str = "words"
    values: array[int] = field(default_factory=lambda: array("q"))

    def add(self, text: Any) -> None:
        self.values.append(len(text.split()) if isinstance(text, str) else 0)

    def summary(self, bins: int = 20) -> dict[str, Any]:
        """Count, mean, quantiles and a histogram of about `bins` round-width bins from the
        shortest text to the 99th percentile (longer ones share a last, open-ended bin)."""
        if not self.values:
            return {"unit": self.unit, "n": 0}
        ordered = sorted(self.values)
        n = len(ordered)

        def quantile(q: float) -> int:
            return ordered[min(n - 1, int(q * (n - 1) + 0.5))]

        top = quantile(0.99)
        step = _nice_step(max(top - ordered[0], 1) / bins)
        low = ordered[0] // step * step
        counts = [0] * ((top - low) // step + 1)
        edges = [low + i * step for i in range(len(counts) + 1)]
        overflow = 0
        for value in ordered:
            index = (value - low) // step
            if index < len(counts):
                counts[index] += 1
            else:
                overflow += 1
        return {"unit": self.unit, "n": n, "mean": round(sum(ordered) / n, 1),
                "median": quantile(0.5), "p90": quantile(0.9), "max": ordered[-1],
                "edges": edges, "counts": counts, "overflow": overflow}


@dataclass
class ConceptCounter:
    """Concept frequencies. Beyond CONCEPT_LIMIT distinct concepts, those seen once are pruned,
    which makes the counts lower bounds (flagged as approximate)."""

    counts: Counter[str] = field(default_factory=Counter)
    shown: dict[str, str] = field(default_factory=dict)  # lower-cased key -> first spelling
    records: int = 0
    mentions: int = 0
    approximate: bool = False

    def add(self, text: Any) -> None:
        self.records += 1
        for concept in split_concepts(text):
            key = concept.lower()
            self.counts[key] += 1
            self.shown.setdefault(key, concept)
            self.mentions += 1
        if len(self.counts) > CONCEPT_LIMIT:
            for key in [k for k, c in self.counts.items() if c == 1]:
                del self.counts[key], self.shown[key]
            self.approximate = True

    def summary(self, top: int = 30) -> dict[str, Any]:
        return {"records": self.records, "mentions": self.mentions,
                "distinct": len(self.counts), "approximate": self.approximate,
                "top": [[_clip(self.shown[k], 200), c] for k, c in self.counts.most_common(top)]}


def sample_item(record: Rec, stage: str) -> dict[str, Any]:
    """What the sample browser shows of one record (texts clipped to TEXT_CAP)."""
    execution = record.get("execution") if isinstance(record.get("execution"), dict) else {}
    seed = record.get("seed") if stage != "seeds" else record.get("code")
    return {
        "id": _clip(record.get("id", ""), 64), "stage": stage,
        "status": _label(record.get("status") or NOT_EXECUTED),
        "category": _label(record.get("category")), "difficulty": _label(record.get("difficulty")),
        "selection": "", "concepts": _clip(record.get("concepts", ""), 500),
        "instruction": _clip(record.get("instruction", "")),
        "response": _clip(record.get("response", "")), "tests": _clip(record.get("tests", "")),
        "detail": _clip((execution or {}).get("detail", ""), 1000), "seed": _clip(seed),
    }


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "replace"),
                                          digest_size=8).digest(), "big")


class Sampler:
    """Keeps the `cap` records with the smallest (hash(parent), hash(id)) keys, in stream order."""

    def __init__(self, stage: str, cap: int = SAMPLE_CAP) -> None:
        self.stage, self.cap = stage, cap
        self.seen = 0
        self._heap: list[tuple[int, int, dict[str, Any]]] = []  # (-key, order, item): max-heap

    def offer(self, record: Rec) -> None:
        order = self.seen
        self.seen += 1
        if self.cap <= 0:
            return
        rid = str(record.get("id", order))
        key = (_hash64(str(record.get("parent", rid))) << 64) | _hash64(rid)
        if len(self._heap) < self.cap:
            heapq.heappush(self._heap, (-key, order, sample_item(record, self.stage)))
        elif key < -self._heap[0][0]:
            heapq.heapreplace(self._heap, (-key, order, sample_item(record, self.stage)))

    def items(self) -> list[dict[str, Any]]:
        return [item for _, _, item in sorted(self._heap, key=lambda entry: entry[1])]


@dataclass
class OutputScan:
    """One pass over the responses or execute stage."""

    sampler: Sampler
    total: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    by: dict[str, dict[str, list[int]]] = field(
        default_factory=lambda: {"category": {}, "difficulty": {}})  # key -> [total, passed]
    lengths: Lengths = field(default_factory=Lengths)


def scan_outputs(directory: Path, stage: str, cap: int) -> OutputScan:
    """Statuses, pass counts per category/difficulty, response lengths and the sample."""
    scan = OutputScan(sampler=Sampler(stage, cap))
    for record in iter_records(directory):
        scan.total += 1
        status = _label(record.get("status") or NOT_EXECUTED)
        scan.statuses[status] += 1
        for name, groups in scan.by.items():
            cell = groups.setdefault(_label(record.get(name)), [0, 0])
            cell[0] += 1
            cell[1] += status == "passed"
        scan.lengths.add(record.get("response"))
        scan.sampler.offer(record)
    return scan


@dataclass
class InstructionScan:
    total: int = 0
    groups: dict[str, Counter[str]] = field(
        default_factory=lambda: {"category": Counter(), "difficulty": Counter()})
    lengths: Lengths = field(default_factory=Lengths)
    concepts: ConceptCounter = field(default_factory=ConceptCounter)


def scan_instructions(directory: Path) -> InstructionScan:
    """Instruction counts per category/difficulty, instruction lengths, concepts they carry."""
    scan = InstructionScan()
    for record in iter_records(directory):
        scan.total += 1
        for name, counter in scan.groups.items():
            counter[_label(record.get(name))] += 1
        scan.lengths.add(record.get("instruction"))
        scan.concepts.add(record.get("concepts"))
    return scan


def scan_concepts(directory: Path) -> ConceptCounter:
    counter = ConceptCounter()
    for record in iter_records(directory):
        counter.add(record.get("concepts"))
    return counter


def sample_stage(directory: Path, stage: str, cap: int) -> tuple[int, list[dict[str, Any]]]:
    """The record count and the sample of a stage that is not scanned otherwise."""
    sampler = Sampler(stage, cap)
    for record in iter_records(directory):
        sampler.offer(record)
    return sampler.seen, sampler.items()


def count_records(directory: Path, kind: str = "shard") -> int:
    return sum(1 for _ in iter_records(directory, kind))


def selection_of(directory: Path, ids: Iterable[str]) -> dict[str, str]:
    """For the given ids: "selected", or the select stage's drop reason."""
    wanted = set(ids)
    found: dict[str, str] = {}
    for kind in ("shard", "rejects"):
        for record in iter_records(directory, kind):
            rid = str(record.get("id", ""))
            if rid in wanted:
                found[rid] = "selected" if kind == "shard" else _label(record.get("reason"))
    return found

