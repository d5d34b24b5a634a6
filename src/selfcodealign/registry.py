"""The stage table: every stage of the loop, written once.

Each `StageSpec` says what a stage is called, which stage's records it reads, what kind it is,
which config section holds its settings, which settings make up its resume fingerprint, the
function that runs it inside `selfcodealign run`, and which report section shows its figures.
Config validation (`run.until`, fingerprints), `run` and its dry-run plan, the single-stage
commands and the report all read this table; nothing else lists the stages.

Kinds:

- `data`: records in, records out, written to the run store; resumable item by item;
- `llm`: a data stage whose items are requests to the run's one model;
- `model`: works on a model rather than records (fine-tuning, benchmark scoring); it keeps its
  own outputs and decides itself whether it has work left.

Adding a stage is one `register(StageSpec(...))` and one module with its `run` function (see
`tests/test_registry.py`, which adds a toy stage without touching the package). The table is
light on purpose: functions are named as "module:attribute" and imported only when a stage runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from selfcodealign.backends.base import LLMBackend
    from selfcodealign.config.schema import Config
    from selfcodealign.store import RunStore

Kind = Literal["data", "llm", "model"]

# The settings every LLM stage's answers depend on (besides its own section).
LLM_FINGERPRINT = ("backend", "sampling", "run.seed", "generation.early_stop")


@dataclass
class StageRun:
    """What `run` did with one stage in this invocation (filled in by the pipeline, and by the
    stage's own function for `model` stages)."""

    name: str
    action: str = "pending"  # ran | skipped | stopped | pending
    kept: int = 0
    dropped: int = 0
    complete: bool = False
    seconds: float = 0.0  # this invocation
    total_seconds: float = 0.0  # all sessions, from the stage's stats
    note: str = ""
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageContext:
    """What a stage's `run` function gets inside `selfcodealign run`."""

    config: Config
    store: RunStore
    backend: LLMBackend  # created on the first request, shared by all LLM stages of the run
    step: StageRun  # this invocation's account of the stage (model stages fill it in)
    limit: int | None = None  # data stages: inputs to take at most (None: all)
    force: bool = False  # redo even where outputs of other settings exist
    results: dict[str, Any] = field(default_factory=dict)  # e.g. evaluation scores


@dataclass(frozen=True)
class StageSpec:
    """One row of the stage table."""

    name: str
    kind: Kind
    upstream: str | None  # the stage whose records are this stage's input (None: a corpus)
    section: str | None  # the config section of its settings (None: it has none)
    fingerprint: tuple[str, ...]  # sections or dotted fields whose output-affecting settings
    #                               make up its resume fingerprint
    run: str  # "module:function", called as function(StageContext) -> summary dict
    summary: str  # one line: what it does (help texts, the plan, docs)
    report: str | None = None  # the report section with its own figures (all stages get their
    #                            drop reasons and timing)

    def load(self) -> Callable[[StageContext], dict[str, Any]]:
        """The stage's run function, imported now."""
        module, _, attribute = self.run.partition(":")
        function: Callable[[StageContext], dict[str, Any]] = getattr(
            importlib.import_module(module), attribute)
        return function

    @property
    def makes_records(self) -> bool:
        return self.kind in ("data", "llm")


_TABLE: list[StageSpec] = [
    StageSpec("seeds", "data", None, "seeds",
              ("seeds", "run.seed", "backend.model", "backend.revision"),  # model: the judge
              "selfcodealign.steps.seeds:run_step",
              "Seeds: mine documented functions from a code corpus and filter them.",
              report="funnel"),
    StageSpec("concepts", "llm", "seeds", "concepts", ("concepts", *LLM_FINGERPRINT),
              "selfcodealign.steps.generate:run_step",
              "S->C: the base model lists the programming concepts of each seed (8-shot).",
              report="concepts"),
    StageSpec("instructions", "llm", "concepts", "instructions",
              ("instructions", *LLM_FINGERPRINT), "selfcodealign.steps.generate:run_step",
              "C->I: the base model writes one task per concept list (8-shot).",
              report="rates"),
    StageSpec("responses", "llm", "instructions", "responses", ("responses", *LLM_FINGERPRINT),
              "selfcodealign.steps.generate:run_step",
              "I->R: the base model answers each task and writes its own tests (n=10).",
              report="lengths"),
    StageSpec("execute", "data", "responses", "execute", ("execute",),
              "selfcodealign.steps.execute:run_step",
              "Execute: run each response's own tests in the sandbox.", report="execution"),
    StageSpec("select", "data", "execute", "select", ("select", "run.seed"),
              "selfcodealign.steps.select:run_step",
              "Select: one passing response per instruction; dedup, decontamination, export.",
              report="funnel"),
    StageSpec("train", "model", "select", "train",
              ("train", "backend.model", "backend.revision", "run.seed"),
              "selfcodealign.steps.train:run_step",
              "Train: supervised fine-tuning of the base model on the dataset."),
    StageSpec("evaluate", "model", "train", "evaluate", ("evaluate", "backend"),
              "selfcodealign.steps.evaluate:run_step",
              "Evaluate: HumanEval+/MBPP+ scores of the trained (or base) model.",
              report="evaluation"),
]


def stages() -> tuple[StageSpec, ...]:
    """Every stage, in the order `run` goes through them."""
    return tuple(_TABLE)


def names(kind: Kind | None = None) -> tuple[str, ...]:
    """Stage names in order, all or of one kind."""
    return tuple(s.name for s in _TABLE if kind is None or s.kind == kind)


def record_stages() -> tuple[str, ...]:
    """The stages whose outputs are records in the run store (data and LLM stages)."""
    return tuple(s.name for s in _TABLE if s.makes_records)


def get(name: str) -> StageSpec:
    """The stage called `name`; a ValueError naming the known ones otherwise."""
    for spec in _TABLE:
        if spec.name == name:
            return spec
    raise ValueError(f"unknown stage {name!r}; stages: {', '.join(names())}")


def upstream(name: str) -> str | None:
    return get(name).upstream


def register(spec: StageSpec, *, before: str | None = None) -> None:
    """Add a stage (at the end, or just before `before`); a name may be registered once."""
    if any(s.name == spec.name for s in _TABLE):
        raise ValueError(f"stage {spec.name!r} is already registered")
    if spec.upstream is not None:
        get(spec.upstream)
    index = len(_TABLE) if before is None else [s.name for s in _TABLE].index(get(before).name)
    _TABLE.insert(index, spec)


def unregister(name: str) -> None:
    """Remove a stage added with `register` (tests); the built-in ones stay."""
    spec = get(name)
    if spec in _BUILTIN:
        raise ValueError(f"stage {name!r} is built in")
    _TABLE.remove(spec)


_BUILTIN = tuple(_TABLE)

