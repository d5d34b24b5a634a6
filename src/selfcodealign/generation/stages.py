"""The three Self-OSS-Instruct stages: S->C concepts, C->I instructions, I->R responses+tests."""

from __future__ import annotations

import random
from typing import Any, ClassVar

from selfcodealign.backends import LLMBackend, SamplingParams
from selfcodealign.generation.base import LLMStage, item_rng
from selfcodealign.generation.text import concepts_line, parse_concepts
from selfcodealign.prompts import (
    CATEGORIES,
    STOP,
    STOP_TESTS,
    Example,
    Library,
    build_prompt,
    instruction_prefix,
    load_library,
    properties,
    properties_prefix,
    snippet_prefix,
    split_concepts,
)
from selfcodealign.records import Concept, Instruction, Response, Seed
from selfcodealign.runner import Rec


class ShotPicker:
    """k examples per item: a fresh sample, or one of a few fixed groups (prefix caching)."""

    def __init__(self, examples: tuple[Example, ...], k: int, groups: int, seed: int,
                 stage: str) -> None:
        self.examples, self.k = examples, min(k, len(examples))
        self.groups = [random.Random(f"{seed}:{stage}:group:{g}").sample(examples, self.k)
                       for g in range(groups)]

    def pick(self, rng: random.Random) -> tuple[list[Example], int]:
        if self.groups:
            group = rng.randrange(len(self.groups))
            return self.groups[group], group
        return rng.sample(self.examples, self.k), 0


class FewshotStage(LLMStage):
    """An LLM stage prompted with shots from a few-shot library (docs/method.md, 'Prompts')."""

    mode: ClassVar[str]

    def __init__(self, backend: LLMBackend, params: SamplingParams, *, seed: int, shots: int,
                 library: Library | None = None, **kw: Any) -> None:
        super().__init__(backend, params, seed=seed, **kw)
        self.library = library or load_library()
        self.picker = ShotPicker(self.library.examples, shots, self.prefix_groups, seed,
                                 self.name)

    @classmethod
    def options(cls, section: Any) -> dict[str, Any]:
        """Constructor arguments from the stage's own config section, beyond the ones every
        few-shot stage takes (shots, batch size, prefix groups)."""
        return {}

    def prompt(self, record: Rec, rng: random.Random) -> tuple[str, dict[str, Any]]:
        shots, group = self.picker.pick(rng)
        text, meta = self.prompt_with(record, rng, shots)
        return text, {"shots": [s.id for s in shots], "shot_group": group, **meta}

    def prompt_with(self, record: Rec, rng: random.Random, shots: list[Example]
                    ) -> tuple[str, dict[str, Any]]:
        """The prompt for `record` with these shots; the RNG draws the stage's other choices
        (category, difficulty), before the shots are drawn as the reference does."""
        query, meta = self.query(record, rng)
        return build_prompt(self.library.system(self.mode), self.mode, shots, query), meta

    def render_prompt(self, record: Rec, shots: list[Example] | None = None) -> str:
        """What the stage sends for `record`: its own per-item choice of shots, or `shots`."""
        rng = item_rng(self.seed, record["id"])
        if shots is None:
            return self.prompt(record, rng)[0]
        return self.prompt_with(record, rng, shots)[0]

    def query(self, record: Rec, rng: random.Random) -> tuple[str, dict[str, Any]]:
        raise NotImplementedError


class Concepts(FewshotStage):
    name: ClassVar[str] = "concepts"
    inputs: ClassVar[type | None] = Seed
    outputs: ClassVar[type | None] = Concept

    def check_input(self, record: Rec) -> str | None:
        # a seed's code may come as `code` (a seeds record) or `seed`/`content`/`function`
        # (any JSONL a user brings)
        return None if record_code(record) else "missing_code"
    mode: ClassVar[str] = "S->C"

    def __init__(self, backend: LLMBackend, params: SamplingParams, *, seed: int, shots: int = 8,
                 **kw: Any) -> None:
        super().__init__(backend, params, seed=seed, shots=shots, **kw)

    def query(self, record: Rec, rng: random.Random) -> tuple[str, dict[str, Any]]:
        return snippet_prefix(record_code(record)), {}

    @staticmethod
    def answer_done(text: str) -> bool:
        line, complete = concepts_line(text)
        return bool(line) and complete

    def trim(self, text: str) -> str:
        # the concepts are the first line: once it is finished, the rest does not matter
        line, complete = concepts_line(text)
        return line if line and complete else text

    def parse(self, record: Rec, text: str, meta: dict[str, Any]) -> dict[str, Any] | str:
        by_id = {example.id: example for example in self.library.examples}
        shown = [by_id[i].concepts for i in meta.get("shots", []) if i in by_id]
        concepts = parse_concepts(text, shown)
        if isinstance(concepts, str):
            return concepts
        return {"seed": record_code(record), "concepts": ", ".join(concepts),
                "seed_id": record.get("seed_id", record["id"])}


class Instructions(FewshotStage):
    name: ClassVar[str] = "instructions"
    inputs: ClassVar[type | None] = Concept
    needs: ClassVar[tuple[str, ...]] = ("concepts",)
    outputs: ClassVar[type | None] = Instruction
    mode: ClassVar[str] = "C->I"

    def __init__(self, backend: LLMBackend, params: SamplingParams, *, seed: int, shots: int = 8,
                 categories: dict[str, float] | None = None,
                 difficulties: tuple[str, ...] = ("easy", "medium", "hard"),
                 language: str = "Python", **kw: Any) -> None:
        super().__init__(backend, params, seed=seed, shots=shots, **kw)
        weights = categories or {"function": 2, "class": 1, "program": 1}
        self.categories, self.weights = list(weights), list(weights.values())
        self.difficulties, self.language = list(difficulties), language

    @classmethod
    def options(cls, section: Any) -> dict[str, Any]:
        return {"categories": section.categories, "difficulties": tuple(section.difficulties),
                "language": section.language}

    def query(self, record: Rec, rng: random.Random) -> tuple[str, dict[str, Any]]:
        category = rng.choices(self.categories, self.weights)[0]
        difficulty = rng.choice(self.difficulties)
        props = properties(CATEGORIES.get(category, category), self.language, difficulty,
                           split_concepts(str(record["concepts"])))
        return properties_prefix(props), {"category": category, "difficulty": difficulty}

    def parse(self, record: Rec, text: str, meta: dict[str, Any]) -> dict[str, Any] | str:
        instruction = text.strip()
        if not instruction:
            return "empty_instruction"
        return {"instruction": instruction, "category": meta["category"],
                "difficulty": meta["difficulty"], "language": self.language,
                "concepts": record["concepts"], "seed": record.get("seed", ""),
                "seed_id": record.get("seed_id", "")}


class Responses(FewshotStage):
    name: ClassVar[str] = "responses"
    inputs: ClassVar[type | None] = Instruction
    needs: ClassVar[tuple[str, ...]] = ("instruction",)
    outputs: ClassVar[type | None] = Response
    mode: ClassVar[str] = "I->R"

    def __init__(self, backend: LLMBackend, params: SamplingParams, *, seed: int, shots: int = 1,
                 **kw: Any) -> None:
        super().__init__(backend, params, seed=seed, shots=shots, **kw)

    def query(self, record: Rec, rng: random.Random) -> tuple[str, dict[str, Any]]:
        return instruction_prefix(str(record["instruction"])), {}

    def parse(self, record: Rec, text: str, meta: dict[str, Any]) -> dict[str, Any] | str:
        response, sep, rest = text.partition("</response>")
        if not sep:
            return "no_response_end"
        _, tag, tests = rest.partition("<tests>")
        if not tag:
            return "no_tests"
        tests = tests.split(STOP_TESTS, 1)[0].strip()
        if not response.strip() or not tests:
            return "empty_response_or_tests"
        keep = {k: record.get(k) for k in ("instruction", "category", "difficulty", "concepts",
                                            "seed", "seed_id")}
        return {**keep, "response": response.strip(), "tests": tests}


def record_code(record: Rec) -> str:
    """A seed's code, from a seed record (`code`) or any record with `seed`/`content`."""
    for key in ("code", "seed", "content", "function"):
        if isinstance(record.get(key), str) and record[key].strip():
            return str(record[key])
    return ""


STOPS = {"concepts": (STOP,), "instructions": (STOP,), "responses": (STOP, STOP_TESTS)}

# The few-shot stage class of each LLM stage of the stage table, by name.
STAGE_CLASSES: dict[str, type[FewshotStage]] = {
    cls.name: cls for cls in (Concepts, Instructions, Responses)}
