"""The seeds stage: corpus files in, seed functions out, every drop with its reason.

Per batch of files: decode (file_too_large, binary_file, not_utf8), parse (unparsable_file),
extract (no_functions), the cheap filters (filters.py), benchmark decontamination
(benchmark_contamination, with the task id), exact dedup of the normalised function
(exact_duplicate), MinHash near-dedup (near_duplicate, with the kept seed's id), one batched
type check of what is left (type_error), and, when configured, the base model's docstring
verdict (docstring_judged_no). On resume the dedup state is rebuilt from the stored
seeds and type-check rejects, so a resumed run keeps exactly what an uninterrupted one would.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from selfcodealign.config.schema import SeedsConfig
from selfcodealign.overlap.decontam import Decontaminator, Hit
from selfcodealign.overlap.minhash import Deduper
from selfcodealign.records import Seed, make_id
from selfcodealign.runner import Outcome, Rec, Stage
from selfcodealign.seeds.corpus import SourceFile, decode, open_corpus
from selfcodealign.seeds.extract import Function, extract
from selfcodealign.seeds.filters import banned_word_pattern, check
from selfcodealign.seeds.judge import DocstringJudge
from selfcodealign.seeds.typecheck import SnippetChecker
from selfcodealign.store.stage import StageStats

_SPACE = re.compile(r"\s+")
POST_DEDUP_REASONS = ("type_error", "typecheck_failed", "docstring_judged_no")


def source_hash(source: str) -> str:
    return hashlib.blake2b(_SPACE.sub(" ", source).strip().encode(), digest_size=16).hexdigest()


def file_records(corpora: Iterable[str], column: str, split: str,
                 data_dir: str | None = None) -> Iterator[Rec]:
    """Corpus files as stage inputs (the bytes travel in the record, decoded later)."""
    for spec in corpora:
        for item in open_corpus(spec, column=column, split=split, data_dir=data_dir):
            yield {"id": item.id, "file": item}


@dataclass
class _Candidate:
    file: SourceFile
    fn: Function
    id: str

    def seed(self) -> Rec:
        return {
            "id": self.id, "parent": self.file.id, "name": self.fn.name,
            "qualname": self.fn.qualname, "code": self.fn.code, "function": self.fn.source,
            "docstring": self.fn.docstring, "imports": self.fn.imports, "lines": self.fn.lines,
            "is_async": self.fn.is_async, "is_method": self.fn.is_method,
            "source_hash": source_hash(self.fn.source),
            "source": {"origin": self.file.origin, "repo": self.file.repo, "path": self.file.path,
                       "license": self.file.license, "lineno": self.fn.lineno},
        }

    def drop(self, detail: str = "", *, keep_code: bool = False) -> Rec:
        record: Rec = {"id": self.id, "parent": self.file.id, "name": self.fn.qualname,
                       "path": self.file.path, "repo": self.file.repo, "lineno": self.fn.lineno}
        if detail:
            record["detail"] = detail
        if keep_code:  # needed to rebuild the dedup index on resume
            record["function"] = self.fn.source
            record["source_hash"] = source_hash(self.fn.source)
        return record


@dataclass
class Prepared:
    """What the parallel part of the stage made of a batch of files (picklable, no file
    bytes): drops by file, candidates in input order with their contamination hit and
    normalised-source digest, and, when computed there, their MinHash sketches."""

    drops: dict[str, list[tuple[Rec, str]]]
    candidates: list[_Candidate]
    hits: list[Hit | None]
    digests: list[str]
    sketches: list[tuple[Any, list[int]]] | None

    @classmethod
    def merge(cls, parts: Iterable[Prepared]) -> Prepared:
        """One Prepared from the parts of a batch's shards, in input order."""
        merged = cls({}, [], [], [], [])
        for part in parts:
            merged.drops.update(part.drops)
            merged.candidates += part.candidates
            merged.hits += part.hits
            merged.digests += part.digests
            assert part.sketches is not None and merged.sketches is not None
            merged.sketches += part.sketches
        return merged


def _extract(record: Rec, cfg: SeedsConfig, words: re.Pattern[str] | None,
             drops: list[tuple[Rec, str]]) -> list[_Candidate]:
    item: SourceFile = record["file"]
    header = {"id": item.id, "origin": item.origin, "path": item.path, "repo": item.repo}
    text, reason = decode(item.data, int(cfg.max_file_mb * 1024 * 1024))
    if text is None:
        drops.append((header, reason or "unreadable"))
        return []
    try:
        functions = extract(text, methods=cfg.include_methods)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        drops.append(({**header, "detail": str(exc)[:200]}, "unparsable_file"))
        return []
    if not functions:
        drops.append((header, "no_functions"))
    found = []
    light = replace(item, data=b"")  # candidates travel without the file's bytes
    for fn in functions:
        candidate = _Candidate(light, fn, make_id(item.id, fn.qualname, fn.lineno))
        why, detail = check(fn, max_lines=cfg.max_lines, min_args=cfg.min_args,
                            banned_words=words, banned_imports=set(cfg.banned_imports),
                            infer_imports=cfg.infer_imports)
        if why is None:
            found.append(candidate)
        else:
            drops.append((candidate.drop(detail), why))
    return found


def prepare(batch: list[Rec], cfg: SeedsConfig, decontaminator: Decontaminator | None,
            deduper: Deduper | None) -> Prepared:
    """The per-file part of the stage, independent of every other batch: decode, parse,
    extract, filter, decontaminate, hash; with `deduper`, also the MinHash sketches. Runs
    here, or over shards of the batch where the executor has a shard map (`prepare_shard`)."""
    words = banned_word_pattern(cfg.banned_words)
    drops: dict[str, list[tuple[Rec, str]]] = {}
    candidates: list[_Candidate] = []
    for record in batch:
        candidates += _extract(record, cfg, words, drops.setdefault(record["id"], []))
    hits: list[Hit | None] = (list(decontaminator.check_many([c.fn.code for c in candidates]))
                              if decontaminator else [None] * len(candidates))
    digests = [source_hash(c.fn.source) for c in candidates]
    sketches = deduper.sketches([c.fn.source for c in candidates]) \
        if deduper is not None and candidates else ([] if deduper is not None else None)
    return Prepared({k: v for k, v in drops.items() if v}, candidates, hits, digests, sketches)


def prepare_shard(batch: list[Rec], cfg: SeedsConfig, decontaminator: Decontaminator | None,
                  sketch: tuple[float, int, int]) -> Prepared:
    """`prepare` for one shard of a batch on another worker, sketches included (the executor's
    shard map runs it; it is pure, so a lost worker's shard can be computed again)."""
    return prepare(batch, cfg, decontaminator, Deduper(*sketch))


class SeedMiner(Stage):
    name: ClassVar[str] = "seeds"
    outputs: ClassVar[type | None] = Seed

    def __init__(self, cfg: SeedsConfig, *, decontaminator: Decontaminator | None,
                 typechecker: SnippetChecker | None, judge: DocstringJudge | None = None,
                 preparer: Callable[[list[Rec]], Prepared] | None = None,
                 deduper: Any = None) -> None:
        """`preparer` runs `prepare` elsewhere (the executor's shard map, results merged),
        `deduper` replaces the in-process near-dedup index (the executor's); by default both
        are local."""
        self.cfg = cfg
        self.batch_size = cfg.batch_files
        self.preparer = preparer
        self.decontaminator = decontaminator
        self.typechecker = typechecker
        self.judge = judge
        self.exact: set[str] = set()
        self.deduper = deduper if deduper is not None else \
            Deduper(cfg.dedup_threshold, cfg.minhash_perms, cfg.shingle_size)
        self._stats = StageStats()

    def begin(self, stats: StageStats) -> None:
        self._stats = stats  # contamination counts per benchmark go into its metrics

    def restore(self, kept: Iterable[Rec], rejected: Iterable[Rec]) -> int:
        """Rebuild the dedup state from a previous session's seeds and post-dedup rejects."""
        keys, texts = [], []
        for record in kept:
            keys.append(record["id"])
            texts.append(record["function"])
        for record in rejected:
            if record.get("reason") in POST_DEDUP_REASONS and "function" in record:
                keys.append(record["id"])
                texts.append(record["function"])
        for text in texts:
            self.exact.add(source_hash(text))
        self.deduper.add(keys, texts)
        return len(keys)

    def process(self, batch: list[Rec]) -> list[Outcome]:
        prepared = self.preparer(batch) if self.preparer is not None else \
            prepare(batch, self.cfg, self.decontaminator, None)
        return self.decide(batch, prepared)

    def decide(self, batch: list[Rec], prepared: Prepared) -> list[Outcome]:
        """The order-dependent part, in input order: exact and near dedup against everything
        kept so far, then the type check and the judge."""
        outcomes = {record["id"]: Outcome(record["id"]) for record in batch}
        for file_id, drops in prepared.drops.items():
            outcomes[file_id].dropped.extend(drops)
        survivors: list[_Candidate] = []
        sketches: list[tuple[Any, list[int]]] = []
        seen: set[str] = set()
        for index, (c, hit, digest) in enumerate(zip(prepared.candidates, prepared.hits,
                                                     prepared.digests, strict=True)):
            out = outcomes[c.file.id]
            if hit is not None:
                out.dropped.append((c.drop(hit.describe()), "benchmark_contamination"))
                key = f"contamination.{hit.task_id.split('/')[0]}"
                self._stats.metrics[key] = self._stats.metrics.get(key, 0) + 1
            elif digest in self.exact or digest in seen:
                out.dropped.append((c.drop(), "exact_duplicate"))
            else:
                seen.add(digest)
                survivors.append(c)
                if prepared.sketches is not None:
                    sketches.append(prepared.sketches[index])
        if prepared.sketches is None and survivors:  # computed here, for the survivors only
            sketches = self.deduper.sketches([c.fn.source for c in survivors])
        unique = []
        matches = self.deduper.check_sketches([c.id for c in survivors], sketches)
        for c, match in zip(survivors, matches, strict=True):
            if match is None:
                self.exact.add(source_hash(c.fn.source))  # the index holds unique ones only
                unique.append(c)
            else:
                outcomes[c.file.id].dropped.append((c.drop(f"near {match}"), "near_duplicate"))
        errors = (self.typechecker.check({c.id: c.fn.code for c in unique})
                  if self.typechecker and unique else {})
        typed = []
        for c in unique:
            problems = errors.get(c.id, [])
            if problems:
                reason = "typecheck_failed" if problems == ["typecheck_failed"] else "type_error"
                outcomes[c.file.id].dropped.append((c.drop(problems[0], keep_code=True), reason))
            else:
                typed.append(c)
        verdicts = self.judge.judge({c.id: c.fn.code for c in typed}) if self.judge and typed \
            else {}
        for c in typed:
            keep, answer = verdicts.get(c.id, (True, ""))
            if keep:
                outcomes[c.file.id].kept.append(c.seed())
            else:
                outcomes[c.file.id].dropped.append(
                    (c.drop(f"judge said {answer!r}", keep_code=True), "docstring_judged_no"))
        for record in batch:  # a file whose functions were all dropped still has its drops
            out = outcomes[record["id"]]
            if not out.kept and not out.dropped:
                out.dropped.append(({"id": record["id"]}, "no_functions"))
        return list(outcomes.values())

    def describe(self) -> dict[str, Any]:
        return {"dedup_bands": self.deduper.bands, "dedup_rows": self.deduper.rows,
                "typecheck_calls": self.typechecker.calls if self.typechecker else 0,
                "benchmark_tasks": self.decontaminator.tasks if self.decontaminator else 0,
                "judge": self.judge.describe() if self.judge else "off"}
