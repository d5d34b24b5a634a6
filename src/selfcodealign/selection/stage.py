"""Selection in METHOD.md's order, in two streaming passes over the executed samples.

Pass 1 reads every sample once: format problems (`no_code_block`, `no_test_block`,
`tests_without_asserts`, `incomplete_code`) and failures (`not_passed`) are dropped, passing
samples are grouped by instruction, and each instruction's pass count is noted. Then one passing
response per instruction is chosen at random, seeded per instruction (reproducible, and
independent of input order). Pass 2 streams the samples again and, for each chosen one, in
order: the stub check (`tests_pass_on_stub`: tests that also pass when every function returns
None cannot tell right from wrong), the instruction length cap (`instruction_too_long`), exact
dedup of the whitespace-free instruction and response (`duplicate_instruction`,
`duplicate_response`), optional name diversification (`repeated_names`), decontamination of
instruction + response (`benchmark_contamination`, with the task id), MinHash near-dedup of the
instruction, the response and the code's AST form (`near_duplicate_instruction`, `_response`,
`_code`), and the optional test-in-instruction augmentation. The others of an instruction are
dropped as `other_response_chosen`.

Each kept sample records its test-quality signals: asserts executed, how many of the
instruction's sampled responses passed their own tests, how many of them pass the chosen
sample's tests (`cross_pass`, when a sandbox is given), and the stub verdict.
"""

from __future__ import annotations

import random
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from selfcodealign.config.schema import SelectConfig
from selfcodealign.execution.base import Limits, Program
from selfcodealign.execution.sandbox import SandboxFront
from selfcodealign.overlap.decontam import Decontaminator
from selfcodealign.overlap.minhash import Deduper
from selfcodealign.runner import Rec
from selfcodealign.selection.checks import (
    ast_form,
    augment,
    code_of,
    defined_names,
    format_problem,
    stub_program,
)
from selfcodealign.store.jsonl import INVALID
from selfcodealign.store.stage import StageWriter

BATCH = 256
RESTORE_BATCH = 4096


def instruction_of(record: Rec) -> str:
    """The id of a sample's instruction (its parent in the run), or its text."""
    return str(record.get("parent") or record.get("instruction_id") or record.get("instruction"))


def _squash(text: str) -> str:
    return "".join(text.split())


class Selector:
    def __init__(self, cfg: SelectConfig, seed: int, *, decontaminator: Decontaminator | None,
                 sandbox: SandboxFront | None, limits: Limits, workdir: Path,
                 make_index: Callable[[float, int, int], Any] | None = None) -> None:
        """`make_index(threshold, perms, shingle)` builds each near-dedup index (a Ray-sharded
        one on Ray); by default the in-process Deduper."""
        self.cfg, self.seed = cfg, seed
        self.decontaminator, self.sandbox, self.limits = decontaminator, sandbox, limits
        self.passing: Counter[str] = Counter()
        self.samples: Counter[str] = Counter()
        self.candidates: dict[str, list[str]] = defaultdict(list)
        self.chosen: set[str] = set()
        self.seen_instructions: set[str] = set()
        self.seen_responses: set[str] = set()
        self.seen_names: set[frozenset[str]] = set()
        self.contamination: Counter[str] = Counter()
        self.hits: list[dict[str, str]] = []
        args = (cfg.minhash_threshold, cfg.minhash_perms, cfg.shingle_size)
        make = make_index or Deduper
        self.dedup = {"instruction": make(*args), "response": make(*args), "code": make(*args)}
        self.siblings = sqlite3.connect(str(workdir / "siblings.sqlite"))
        self.siblings.execute("CREATE TABLE IF NOT EXISTS code (parent TEXT, id TEXT PRIMARY "
                              "KEY, code TEXT)")

    # -- pass 1 ----------------------------------------------------------------------------

    def first_pass(self, records: Iterable[Rec], writer: StageWriter) -> None:
        rows = []
        for record in records:
            rid, parent = record["id"], instruction_of(record)
            self.samples[parent] += 1
            problem = record.get(INVALID) or format_problem(str(record.get("response", "")),
                                                            str(record.get("tests", "")))
            if problem is None and not record.get("passed"):
                problem = "not_passed"
            if problem is None:
                self.passing[parent] += 1
                self.candidates[parent].append(rid)
                rows.append((parent, rid, code_of(str(record["response"]))))
            elif not writer.is_done(rid):
                writer.write(rid, dropped=[(_lean(record, str(record.get("status", ""))),
                                            problem)])
            if len(rows) >= 5000:
                self._store_siblings(rows)
        self._store_siblings(rows)
        for parent, ids in self.candidates.items():
            self.chosen.add(random.Random(f"{self.seed}:{parent}").choice(sorted(ids)))

    def _store_siblings(self, rows: list[tuple[str, str, str]]) -> None:
        if self.sandbox is not None and rows:
            with self.siblings:
                self.siblings.executemany("INSERT OR REPLACE INTO code VALUES (?, ?, ?)", rows)
        rows.clear()

    # -- resume --------------------------------------------------------------------------------

    def restore(self, kept: Iterable[Rec]) -> None:
        """Rebuild the dedup state from samples kept by an earlier session."""
        batch: list[Rec] = []
        for record in kept:
            batch.append(record)
            if len(batch) >= RESTORE_BATCH:
                self._restore(batch)
                batch = []
        self._restore(batch)

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
        self.seen_names.add(defined_names(code_of(str(record["response"]))))
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

    def second_pass(self, records: Iterable[Rec], writer: StageWriter,
                    on_batch: Callable[[int], None] = lambda n: None) -> None:
        candidates = {rid for ids in self.candidates.values() for rid in ids}
        batch: list[Rec] = []
        for record in records:
            rid = record["id"]
            if rid not in candidates or writer.is_done(rid):
                continue
            if rid not in self.chosen:
                writer.write(rid, dropped=[(_lean(record), "other_response_chosen")])
                continue
            batch.append(record)
            if len(batch) >= BATCH:
                self._finish(batch, writer)
                on_batch(len(batch))
                batch = []
        if batch:
            self._finish(batch, writer)
            on_batch(len(batch))

    def _programs(self, batch: list[Rec]) -> tuple[list[bool | None], list[tuple[int, int]]]:
        """Per sample: do its tests pass on a stub? and how many siblings pass its tests?"""
        stubbed: list[bool | None] = [None] * len(batch)
        cross: list[tuple[int, int]] = [(0, 0)] * len(batch)
        if self.sandbox is None:
            return stubbed, cross
        jobs: list[tuple[int, str, Program]] = []
        for i, record in enumerate(batch):
            tests = code_of(str(record["tests"]))
            stub = stub_program(code_of(str(record["response"])))
            if stub is not None:
                jobs.append((i, "stub", Program(stub, tests)))
            for (code,) in self.siblings.execute(
                    "SELECT code FROM code WHERE parent = ? AND id != ?",
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

    def _finish(self, batch: list[Rec], writer: StageWriter) -> None:
        stubbed, cross = self._programs(batch)
        views = self._views(self._sketches(batch))
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
                continue
            self._remember(record, i, views)
            writer.write(record["id"], kept=[self._output(record, signals)])
        for view in views.values():
            view.commit()

    def _verdict(self, record: Rec, i: int, views: dict[str, Any], stub: bool | None
                 ) -> tuple[str | None, str]:
        instruction, response = str(record["instruction"]), str(record["response"])
        if stub:
            return "tests_pass_on_stub", ""
        if len(instruction.split()) > self.cfg.max_instruction_words:
            return "instruction_too_long", f"{len(instruction.split())} words"
        if _squash(instruction) in self.seen_instructions:
            return "duplicate_instruction", ""
        if _squash(response) in self.seen_responses:
            return "duplicate_response", ""
        names = defined_names(code_of(response))
        if self.cfg.diversify_names and names and names in self.seen_names:
            return "repeated_names", ", ".join(sorted(names))
        if self.decontaminator is not None:
            hit = self.decontaminator.check(instruction + "\n" + response)
            if hit is not None:
                self.contamination[hit.task_id.split("/")[0]] += 1
                self.hits.append({"id": record["id"], "task_id": hit.task_id, "kind": hit.kind,
                                  "match": hit.match[:200]})
                return "benchmark_contamination", hit.describe()
        for name in ("instruction", "response", "code"):
            match = views[name].match(i)
            if match is not None:
                return f"near_duplicate_{name}", f"near {match}"
        return None, ""

    def _output(self, record: Rec, signals: dict[str, Any]) -> Rec:
        rng = random.Random(f"{self.seed}:augment:{record['id']}")
        instruction, added = augment(str(record["instruction"]), str(record["tests"]), rng,
                                     self.cfg.augment_tests_p)
        out = {**record, "instruction": instruction, "signals": signals,
               "augmented_asserts": added,
               "messages": [{"role": "user", "content": instruction},
                            {"role": "assistant", "content": str(record["response"])}]}
        if added:
            out["original_instruction"] = record["instruction"]
        return out

    def close(self) -> None:
        self.siblings.close()
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
