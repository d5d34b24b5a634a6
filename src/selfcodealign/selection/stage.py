"""Selection in docs/method.md's order: one surviving response per instruction.

Pass 1 reads every sample once: format problems (`no_code_block`, `no_test_block`,
`tests_without_asserts`, `incomplete_code`) and failures (`not_passed`) are dropped, and the
passing samples of each instruction are put in a random order, seeded per instruction
(reproducible, independent of input order), and stored on disk. Pass 2 takes the instructions in
the order they first passed, a batch at a time, and tries each instruction's samples in that
order until one survives every check (the reference's sequential pass over shuffled samples
keeps an instruction the same way, with any good sample it has):

- instruction checks, which no other sample can pass either, so the instruction is dropped:
  `instruction_too_long`, `duplicate_instruction`, `near_duplicate_instruction`, and the MinHash
  near-dedup of the response and of the code's AST form (`near_duplicate_response`, `_code`:
  docs/method.md's dataset-level dedup, which the reference runs after choosing);
- sample checks, after which the instruction's next sample is tried: the stub check
  (`tests_pass_on_stub`: tests that also pass when every function returns None cannot tell right
  from wrong), exact dedup of the response (`duplicate_response`), name diversification
  (`repeated_names`, on by default as in the paper's main run) and decontamination of
  instruction + response (`benchmark_contamination`, with the task id).

The samples never tried are dropped as `other_response_chosen` (one was kept) or
`instruction_dropped` (none could be). The kept sample may get the test-in-instruction
augmentation, counted in the stage metrics with the reason it was skipped.

Each kept sample records its test-quality signals: asserts executed, how many of the
instruction's sampled responses passed their own tests, how many of them pass the chosen
sample's tests (`cross_pass`, when a sandbox is given), and the stub verdict. A resumed session
replays the same rounds, taking the outcome of every sample already written from the store, so
it makes the same choices as an uninterrupted run.

Why selection has its own loop rather than `runner.run_stage`: the runner decides each input
(or batch) on its own and then never again, but whether a sample is kept depends on every
other sample of its instruction (pass 1 must have seen them all) and on what earlier
instructions kept (dedup, names), and a sample dropped in one round may be replaced by its
sibling in the next. It still writes through the same `StageWriter` (resume, stats, rejects)
and checks its inputs against `records.Selected` the way the runner does (`NEEDS`).
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

from selfcodealign.config.schema import SelectConfig
from selfcodealign.execution.base import Limits, Program
from selfcodealign.execution.sandbox import SandboxFront
from selfcodealign.overlap.decontam import Decontaminator
from selfcodealign.overlap.minhash import Deduper
from selfcodealign.records import Selected
from selfcodealign.records import problem as fit
from selfcodealign.runner import Rec
from selfcodealign.selection.checks import (
    ast_form,
    augment,
    code_of,
    format_problem,
    name_keys,
    stub_program,
)
from selfcodealign.store.jsonl import INVALID
from selfcodealign.store.stage import StageWriter

BATCH = 256
NEEDS = ("instruction", "response", "tests")  # what an executed record must bring in
RESTORE_BATCH = 4096
# Drops after which the instruction's next sample is tried; every other reason drops the
# instruction (no other sample of it could pass).
FALLBACK = frozenset({"tests_pass_on_stub", "duplicate_response", "repeated_names",
                      "benchmark_contamination"})
RESOLVED = frozenset({"other_response_chosen", "instruction_dropped"})


def instruction_of(record: Rec) -> str:
    """The id of a sample's instruction (its parent in the run), or its text."""
    return str(record.get("parent") or record.get("instruction_id") or record.get("instruction"))


def _squash(text: str) -> str:
    return "".join(text.split())


class Selector:
    def __init__(self, cfg: SelectConfig, seed: int, *, decontaminator: Decontaminator | None,
                 sandbox: SandboxFront | None, limits: Limits, workdir: Path,
                 make_index: Callable[[float, int, int], Any | None] | None = None) -> None:
        """`make_index(threshold, perms, shingle)` builds each near-dedup index (the executor's
        `near_index`); where it gives None, or by default, the in-process Deduper."""
        self.cfg, self.seed = cfg, seed
        self.decontaminator, self.sandbox, self.limits = decontaminator, sandbox, limits
        self.passing: Counter[str] = Counter()
        self.samples: Counter[str] = Counter()
        self.candidates: dict[str, list[str]] = defaultdict(list)
        self.seen_instructions: set[str] = set()
        self.seen_responses: set[str] = set()
        self.seen_names: set[frozenset[str]] = set()
        self.contamination: Counter[str] = Counter()
        self.augmentation: Counter[str] = Counter()
        self.hits: list[dict[str, str]] = []
        self.kept_ids: set[str] = set()
        self.earlier: dict[str, str] = {}  # id -> drop reason, written by an earlier session
        args = (cfg.minhash_threshold, cfg.minhash_perms, cfg.shingle_size)

        def make() -> Any:
            return (make_index(*args) if make_index is not None else None) or Deduper(*args)

        self.dedup = {"instruction": make(), "response": make(), "code": make()}
        self.db = sqlite3.connect(str(workdir / "candidates.sqlite"))
        self.db.execute("CREATE TABLE IF NOT EXISTS sample (id TEXT PRIMARY KEY, parent TEXT, "
                        "code TEXT, record BLOB)")
        self.db.execute("CREATE INDEX IF NOT EXISTS by_parent ON sample (parent)")

    # -- pass 1 ----------------------------------------------------------------------------

    def first_pass(self, records: Iterable[Rec], writer: StageWriter) -> None:
        rows: list[tuple[str, str, str, bytes]] = []
        for record in records:
            rid, parent = record["id"], instruction_of(record)
            self.samples[parent] += 1
            problem = (record.get(INVALID) or fit(record, Selected, NEEDS)
                       or format_problem(str(record["response"]), str(record["tests"])))
            if problem is None and not record.get("passed"):
                problem = "not_passed"
            if problem is None:
                self.passing[parent] += 1
                self.candidates[parent].append(rid)
                rows.append((rid, parent, code_of(str(record["response"])),
                             orjson.dumps(record)))
            elif not writer.is_done(rid):
                writer.write(rid, dropped=[(_lean(record, str(record.get("status", ""))),
                                            problem)])
            if len(rows) >= 2000:
                self._store(rows)
        self._store(rows)
        for parent, ids in self.candidates.items():  # each instruction's order of trial
            ordered = sorted(ids)
            random.Random(f"{self.seed}:{parent}").shuffle(ordered)
            self.candidates[parent] = ordered

    def _store(self, rows: list[tuple[str, str, str, bytes]]) -> None:
        if rows:
            with self.db:
                self.db.executemany("INSERT OR REPLACE INTO sample VALUES (?, ?, ?, ?)", rows)
        rows.clear()

    def _load(self, ids: list[str]) -> dict[str, Rec]:
        found: dict[str, Rec] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for rid, blob in self.db.execute(
                    f"SELECT id, record FROM sample WHERE id IN ({marks})", chunk):
                found[rid] = orjson.loads(blob)
        return found

    # -- resume --------------------------------------------------------------------------------

    def restore(self, kept: Iterable[Rec], dropped: Iterable[Rec] = ()) -> None:
        """Rebuild the dedup state from samples kept by an earlier session, and note what it
        dropped (so its rounds are replayed, not redone)."""
        batch: list[Rec] = []
        for record in kept:
            self.kept_ids.add(str(record["id"]))
            batch.append(record)
            if len(batch) >= RESTORE_BATCH:
                self._restore(batch)
                batch = []
        self._restore(batch)
        wanted = {rid for ids in self.candidates.values() for rid in ids}
        for record in dropped:
            if record.get("reason") and record.get("id") in wanted:
                self.earlier[str(record["id"])] = str(record["reason"])

    def _restore(self, batch: list[Rec]) -> None:
        if not batch:
            return
        views = self._views(self._sketches(batch))
        for i, record in enumerate(batch):
            self._remember(record, i, views)
        for view in views.values():
            view.commit()

    def _views(self, sketches: list[dict[str, Any]]) -> dict[str, Any]:
        return {name: index.batch([s[name] for s in sketches])
                for name, index in self.dedup.items()}

    def _remember(self, record: Rec, i: int, views: dict[str, Any]) -> None:
        self.seen_instructions.add(_squash(str(record.get("original_instruction",
                                                          record["instruction"]))))
        self.seen_responses.add(_squash(str(record["response"])))
        keys = name_keys(code_of(str(record["response"])))
        if keys is not None:
            self.seen_names.update(key for key in keys if key)
        for view in views.values():
            view.register(i, record["id"])

    def _sketches(self, batch: list[Rec]) -> list[dict[str, Any]]:
        texts = {"instruction": [str(r.get("original_instruction", r["instruction"]))
                                 for r in batch],
                 "response": [str(r["response"]) for r in batch],
                 "code": [ast_form(code_of(str(r["response"]))) for r in batch]}
        per = {name: self.dedup[name].sketches(texts[name]) for name in self.dedup}
        return [{name: per[name][i] for name in self.dedup} for i in range(len(batch))]

    # -- pass 2 ----------------------------------------------------------------------------

    @property
    def instructions(self) -> int:
        return len(self.candidates)

    def second_pass(self, writer: StageWriter,
                    on_batch: Callable[[int], None] = lambda n: None) -> None:
        parents = list(self.candidates)
        for start in range(0, len(parents), BATCH):
            chunk = parents[start:start + BATCH]
            self._resolve(chunk, writer)
            on_batch(len(chunk))

    def _outcome(self, rid: str, writer: StageWriter) -> str | None:
        """What an earlier session decided for `rid`: "kept", a drop reason, or None."""
        if rid in self.kept_ids:
            return "kept"
        if writer.is_done(rid):
            return self.earlier.get(rid, "unknown")
        return None

    def _resolve(self, parents: list[str], writer: StageWriter) -> None:
        """Rounds over a batch of instructions: each round tries the next sample of every
        instruction still open, in batch order, so an interrupted batch replays the same."""
        tried = dict.fromkeys(parents, 0)
        open_now = list(parents)
        while open_now:
            todo = [(parent, self.candidates[parent][tried[parent]]) for parent in open_now]
            fresh = [rid for _, rid in todo if self._outcome(rid, writer) is None]
            loaded = self._load(fresh)
            results = self._finish([loaded[rid] for rid in fresh], writer)
            decided = dict(zip(fresh, results, strict=True))
            still = []
            for parent, rid in todo:
                outcome = decided[rid] if rid in decided else self._outcome(rid, writer)
                tried[parent] += 1
                if outcome in FALLBACK and tried[parent] < len(self.candidates[parent]):
                    still.append(parent)
                    continue
                if outcome in RESOLVED:  # an earlier session finished this instruction
                    continue
                why = "other_response_chosen" if outcome == "kept" else "instruction_dropped"
                for rest in self.candidates[parent][tried[parent]:]:
                    if not writer.is_done(rest):
                        writer.write(rest, dropped=[({"id": rest, "parent": parent}, why)])
            open_now = still

    def _programs(self, batch: list[Rec]) -> tuple[list[bool | None], list[tuple[int, int]]]:
        """Per sample: do its tests pass on a stub? and how many siblings pass its tests?"""
        stubbed: list[bool | None] = [None] * len(batch)
        cross: list[tuple[int, int]] = [(0, 0)] * len(batch)
        if self.sandbox is None or not batch:
            return stubbed, cross
        jobs: list[tuple[int, str, Program]] = []
        for i, record in enumerate(batch):
            tests = code_of(str(record["tests"]))
            stub = stub_program(code_of(str(record["response"])))
            if stub is not None:
                jobs.append((i, "stub", Program(stub, tests)))
            for (code,) in self.db.execute(
                    "SELECT code FROM sample WHERE parent = ? AND id != ? ORDER BY id",
                    (instruction_of(record), record["id"])):
                jobs.append((i, "cross", Program(code, tests)))
        results = self.sandbox.run_many([job for _, _, job in jobs], self.limits)
        for (i, kind, _), result in zip(jobs, results, strict=True):
            if kind == "stub":
                stubbed[i] = result.passed
            else:
                passed, tried = cross[i]
                cross[i] = (passed + result.passed, tried + 1)
        return stubbed, cross

    def _finish(self, batch: list[Rec], writer: StageWriter) -> list[str]:
        """Judge and write each sample of `batch`, in order: "kept" or the drop reason."""
        if not batch:
            return []
        stubbed, cross = self._programs(batch)
        views = self._views(self._sketches(batch))
        outcomes = []
        for i, record in enumerate(batch):
            signals = {
                "asserts_executed": int((record.get("execution") or {}).get("asserts", 0)),
                "passing_samples": self.passing[instruction_of(record)],
                "samples": self.samples[instruction_of(record)],
                "cross_pass": cross[i][0], "cross_tried": cross[i][1],
                "tests_pass_on_stub": stubbed[i],
            }
            reason, detail = self._verdict(record, i, views, stubbed[i])
            if reason is not None:
                writer.write(record["id"], dropped=[(_lean(record, detail), reason)])
                outcomes.append(reason)
                continue
            self._remember(record, i, views)
            writer.write(record["id"], kept=[self._output(record, signals)])
            outcomes.append("kept")
        for view in views.values():
            view.commit()
        return outcomes

    def _verdict(self, record: Rec, i: int, views: dict[str, Any], stub: bool | None
                 ) -> tuple[str | None, str]:
        instruction, response = str(record["instruction"]), str(record["response"])
        if len(instruction.split()) > self.cfg.max_instruction_words:
            return "instruction_too_long", f"{len(instruction.split())} words"
        if _squash(instruction) in self.seen_instructions:
            return "duplicate_instruction", ""
        match = views["instruction"].match(i)
        if match is not None:
            return "near_duplicate_instruction", f"near {match}"
        if stub:
            return "tests_pass_on_stub", ""
        if _squash(response) in self.seen_responses:
            return "duplicate_response", ""
        if self.cfg.diversify_names:
            keys = name_keys(code_of(response))
            if keys is None:
                return "repeated_names", "the code does not parse"
            repeated = [key for key in keys if key and key in self.seen_names]
            if repeated:
                return "repeated_names", ", ".join(sorted(n for key in repeated for n in key))
        if self.decontaminator is not None:
            hit = self.decontaminator.check(instruction + "\n" + response)
            if hit is not None:
                self.contamination[hit.task_id.split("/")[0]] += 1
                self.hits.append({"id": record["id"], "task_id": hit.task_id, "kind": hit.kind,
                                  "match": hit.match[:200]})
                return "benchmark_contamination", hit.describe()
        for name in ("response", "code"):
            match = views[name].match(i)
            if match is not None:
                return f"near_duplicate_{name}", f"near {match}"
        return None, ""

    def _output(self, record: Rec, signals: dict[str, Any]) -> Rec:
        rng = random.Random(f"{self.seed}:augment:{record['id']}")
        instruction, added, skipped = augment(
            str(record["instruction"]), str(record["tests"]), rng, self.cfg.augment_tests_p,
            code_of(str(record["response"])))
        self.augmentation[skipped or "augmented"] += 1
        out = {**record, "instruction": instruction, "signals": signals,
               "augmented_asserts": added,
               "messages": [{"role": "user", "content": instruction},
                            {"role": "assistant", "content": str(record["response"])}]}
        if added:
            out["original_instruction"] = record["instruction"]
        return out

    def close(self) -> None:
        self.db.close()
        for index in self.dedup.values():
            closer = getattr(index, "close", None)  # a Ray-sharded index holds actors
            if closer is not None:
                closer()


def _lean(record: Rec, detail: str = "") -> Rec:
    """What a rejects file keeps of a dropped sample."""
    lean: Rec = {"id": record["id"], "parent": instruction_of(record)}
    if detail:
        lean["detail"] = detail
    return lean
